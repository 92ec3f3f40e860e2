#include "malloc_counter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* glibc's own entry points: calling them avoids the dlsym/calloc bootstrap problem. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

/* Until the shared file is mapped, counts go here (and are added to it once mapped). */
static _Atomic uint64_t early_count;
static _Atomic uint64_t *shared_count = &early_count;

__attribute__((constructor)) static void malloc_counter_map(void) {
    const char *path = getenv("VIRTIO_CRYPTO_MALLOC_COUNTER");
    if (path == NULL) return;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    void *mapped = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (mapped == MAP_FAILED) return;
    _Atomic uint64_t *counter = mapped;
    atomic_fetch_add_explicit(counter, atomic_load_explicit(&early_count, memory_order_relaxed), memory_order_relaxed);
    shared_count = counter;
}

static inline void counted(void) { atomic_fetch_add_explicit(shared_count, 1, memory_order_relaxed); }

uint64_t malloc_counter_total(void) { return atomic_load_explicit(shared_count, memory_order_relaxed); }

void *malloc(size_t size) { counted(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { counted(); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { counted(); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { counted(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { counted(); return __libc_memalign(alignment, size); }
void *valloc(size_t size) { counted(); return __libc_valloc(size); }
void *pvalloc(size_t size) { counted(); return __libc_pvalloc(size); }

int posix_memalign(void **result, size_t alignment, size_t size) {
    counted();
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}
