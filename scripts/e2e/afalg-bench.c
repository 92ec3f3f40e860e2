// Guest-side throughput of AES-128-CBC through the Linux crypto API (AF_ALG), bound to
// the driver "virtio_crypto_aes_cbc" so every request goes to the virtio-crypto device,
// whatever backend serves it. For each size and thread count, every thread encrypts
// back-to-back for the given seconds on its own AF_ALG socket (one request in flight per
// thread, like a synchronous user).
// Usage: afalg-bench SECONDS SIZE,SIZE,... THREADS,THREADS,...
// Prints "AFBENCH size=N threads=T ops=K seconds=S ops_per_s=R mb_per_s=M errors=E" lines.
#include <linux/if_alg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

struct job {
    size_t size;
    double seconds;
    pthread_barrier_t *start;
    unsigned long operations;
    int errors;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

// One AF_ALG operation socket keyed for AES-128-CBC on the virtio driver; -1 on failure.
static int open_cipher(void) {
    struct sockaddr_alg address = {.salg_family = AF_ALG, .salg_type = "skcipher", .salg_name = "virtio_crypto_aes_cbc"};
    static const uint8_t key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
    int transform = socket(AF_ALG, SOCK_SEQPACKET, 0);
    if (transform < 0) return -1;
    if (bind(transform, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        setsockopt(transform, SOL_ALG, ALG_SET_KEY, key, sizeof(key)) != 0) {
        close(transform);
        return -1;
    }
    int operation = accept(transform, NULL, 0);
    close(transform);
    return operation;
}

// Encrypts `size` bytes once: the operation and IV go with the data in one sendmsg.
static int encrypt_once(int operation, const uint8_t *input, uint8_t *output, size_t size) {
    char control[CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(struct af_alg_iv) + 16)];
    memset(control, 0, sizeof(control));
    struct iovec vector = {.iov_base = (void *)input, .iov_len = size};
    struct msghdr message = {.msg_control = control, .msg_controllen = sizeof(control), .msg_iov = &vector, .msg_iovlen = 1};
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_ALG;
    header->cmsg_type = ALG_SET_OP;
    header->cmsg_len = CMSG_LEN(sizeof(uint32_t));
    *(uint32_t *)CMSG_DATA(header) = ALG_OP_ENCRYPT;
    header = CMSG_NXTHDR(&message, header);
    header->cmsg_level = SOL_ALG;
    header->cmsg_type = ALG_SET_IV;
    header->cmsg_len = CMSG_LEN(sizeof(struct af_alg_iv) + 16);
    struct af_alg_iv *iv = (struct af_alg_iv *)CMSG_DATA(header);
    iv->ivlen = 16;
    memset(iv->iv, 0x42, 16);
    if (sendmsg(operation, &message, 0) != (ssize_t)size) return -1;
    size_t received = 0;
    while (received < size) {
        ssize_t n = read(operation, output + received, size - received);
        if (n <= 0) return -1;
        received += (size_t)n;
    }
    return 0;
}

static void *worker(void *argument) {
    struct job *job = argument;
    uint8_t *input = malloc(job->size), *output = malloc(job->size);
    int operation = open_cipher();
    if (!input || !output || operation < 0) job->errors++;
    if (input) memset(input, 0x5a, job->size);
    pthread_barrier_wait(job->start);
    double deadline = now() + job->seconds;
    while (operation >= 0 && job->errors == 0 && now() < deadline) {
        if (encrypt_once(operation, input, output, job->size) != 0) { job->errors++; break; }
        job->operations++;
    }
    if (operation >= 0) close(operation);
    free(input);
    free(output);
    return NULL;
}

static int parse_list(const char *text, long *values, int capacity) {
    int count = 0;
    char *copy = strdup(text), *state = NULL;
    for (char *item = strtok_r(copy, ",", &state); item && count < capacity; item = strtok_r(NULL, ",", &state)) values[count++] = atol(item);
    free(copy);
    return count;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SECONDS SIZE,... THREADS,...\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[1]);
    long sizes[16], thread_counts[8];
    int size_count = parse_list(argv[2], sizes, 16), thread_count_count = parse_list(argv[3], thread_counts, 8);
    int failures = 0;
    for (int t = 0; t < thread_count_count; t++) {
        for (int s = 0; s < size_count; s++) {
            int threads = (int)thread_counts[t];
            if (threads < 1 || threads > 64 || sizes[s] < 16 || sizes[s] % 16 != 0) continue;
            pthread_t ids[64];
            struct job jobs[64];
            pthread_barrier_t start;
            pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
            for (int i = 0; i < threads; i++) {
                jobs[i] = (struct job){.size = (size_t)sizes[s], .seconds = seconds, .start = &start};
                pthread_create(&ids[i], NULL, worker, &jobs[i]);
            }
            pthread_barrier_wait(&start);
            double began = now();
            unsigned long operations = 0;
            int errors = 0;
            for (int i = 0; i < threads; i++) {
                pthread_join(ids[i], NULL);
                operations += jobs[i].operations;
                errors += jobs[i].errors;
            }
            double elapsed = now() - began;
            pthread_barrier_destroy(&start);
            failures += errors > 0 || operations == 0;
            printf("AFBENCH size=%ld threads=%d ops=%lu seconds=%.3f ops_per_s=%.0f mb_per_s=%.3f errors=%d\n", sizes[s], threads, operations,
                   elapsed, operations / elapsed, operations * (double)sizes[s] / elapsed / 1e6, errors);
            fflush(stdout);
        }
    }
    printf("AFBENCH DONE failures=%d\n", failures);
    return failures != 0;
}
