// Memory-ordering primitives for rings shared with another agent (the driver or the
// device on another CPU). Swift has no atomic access to arbitrary shared memory.
#ifndef VQ_ATOMICS_H
#define VQ_ATOMICS_H
#include <stdint.h>

static inline uint16_t vq_load_acquire_u16(const void *p) {
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}
static inline void vq_store_release_u16(void *p, uint16_t v) {
    __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
}
static inline uint16_t vq_load_relaxed_u16(const void *p) {
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}
static inline void vq_store_relaxed_u16(void *p, uint16_t v) {
    __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}
static inline uint64_t vq_load_relaxed_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}
// Single-writer counter: a relaxed load and store, no locked instruction.
static inline void vq_increment_relaxed_u64(void *p) {
    __atomic_store_n((uint64_t *)p, __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}
// Single-writer counter: adds `v` with a relaxed load and store.
static inline void vq_add_relaxed_u64(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}
// A spin-wait hint (x86 PAUSE): a polling thread yields execution resources to its
// hyper-thread sibling, which may be the device worker it waits for.
static inline void vq_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
static inline void vq_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
#endif
