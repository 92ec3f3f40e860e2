#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H
#include <stdint.h>

/* Preloaded into the daemon by virtio-crypto-bench (LD_PRELOAD=libMallocCounter.so) to show
 * that the data path allocates nothing per request. Every allocation call (malloc, calloc,
 * realloc, memalign, posix_memalign, aligned_alloc, valloc, pvalloc) increments a counter
 * that lives in the file named by VIRTIO_CRYPTO_MALLOC_COUNTER (8 bytes, little endian,
 * mapped shared), so another process can read it while this one runs. */
uint64_t malloc_counter_total(void);

#endif
