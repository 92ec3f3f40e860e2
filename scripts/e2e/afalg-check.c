// Guest-side check of the virtio-crypto device through the Linux crypto API (AF_ALG),
// bound to the driver name "virtio_crypto_aes_cbc" so the request really reaches the
// device. Known answers from NIST SP 800-38A F.2, random round trips compared with the
// kernel's generic AES, and concurrent requests from several threads.
// Prints "AFALG <name>: PASS|FAIL ..." lines and a final "AFALG SUMMARY passed=N failed=M".
#include <errno.h>
#include <linux/if_alg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

static int passed, failed;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void report(int ok, const char *name, const char *detail) {
    pthread_mutex_lock(&count_lock);
    if (ok) passed++; else failed++;
    pthread_mutex_unlock(&count_lock);
    printf("AFALG %s: %s %s\n", name, ok ? "PASS" : "FAIL", detail ? detail : "");
    fflush(stdout);
}

static void unhex(const char *hex, uint8_t *out) {
    for (size_t i = 0; hex[2 * i]; i++) sscanf(hex + 2 * i, "%2hhx", &out[i]);
}

// Runs one CBC operation through the algorithm `driver` ("virtio_crypto_aes_cbc" or a
// reference); returns 0 on success.
static int cbc(const char *driver, const uint8_t *key, int keylen, const uint8_t *iv, const uint8_t *in, uint8_t *out,
               size_t len, int encrypt) {
    struct sockaddr_alg sa = {.salg_family = AF_ALG, .salg_type = "skcipher"};
    strncpy((char *)sa.salg_name, driver, sizeof(sa.salg_name) - 1);
    int tfm = socket(AF_ALG, SOCK_SEQPACKET, 0);
    if (tfm < 0) return -1;
    if (bind(tfm, (struct sockaddr *)&sa, sizeof(sa)) != 0 || setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, keylen) != 0) {
        close(tfm);
        return -2;
    }
    int op = accept(tfm, NULL, 0);
    if (op < 0) { close(tfm); return -3; }
    char control[CMSG_SPACE(4) + CMSG_SPACE(sizeof(struct af_alg_iv) + 16)];
    memset(control, 0, sizeof(control));
    struct iovec iov = {.iov_base = (void *)in, .iov_len = len};
    struct msghdr msg = {.msg_control = control, .msg_controllen = sizeof(control), .msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_ALG; c->cmsg_type = ALG_SET_OP; c->cmsg_len = CMSG_LEN(4);
    *(uint32_t *)CMSG_DATA(c) = encrypt ? ALG_OP_ENCRYPT : ALG_OP_DECRYPT;
    c = CMSG_NXTHDR(&msg, c);
    c->cmsg_level = SOL_ALG; c->cmsg_type = ALG_SET_IV; c->cmsg_len = CMSG_LEN(sizeof(struct af_alg_iv) + 16);
    struct af_alg_iv *aiv = (struct af_alg_iv *)CMSG_DATA(c);
    aiv->ivlen = 16;
    memcpy(aiv->iv, iv, 16);
    int rc = 0;
    if (sendmsg(op, &msg, 0) != (ssize_t)len) rc = -4;
    size_t got = 0;
    while (rc == 0 && got < len) {
        ssize_t r = read(op, out + got, len - got);
        if (r <= 0) { rc = -5; break; }
        got += (size_t)r;
    }
    close(op);
    close(tfm);
    return rc;
}

static const char *device = "virtio_crypto_aes_cbc";
static const char *reference = "cbc(aes-generic)";

static void known_answers(void) {
    // NIST SP 800-38A F.2.1 / F.2.3 / F.2.5 (CBC-AES128/192/256.Encrypt), all four blocks.
    const char *keys[] = {"2b7e151628aed2a6abf7158809cf4f3c", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
                          "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"};
    const char *expected[] = {
        "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
        "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd",
        "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"};
    const char *plain = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
    uint8_t iv[16], pt[64], ct[64], out[64], key[32];
    unhex("000102030405060708090a0b0c0d0e0f", iv);
    unhex(plain, pt);
    for (int i = 0; i < 3; i++) {
        unhex(keys[i], key);
        unhex(expected[i], ct);
        int keylen = (int)strlen(keys[i]) / 2;
        char name[64];
        snprintf(name, sizeof(name), "kat-sp800-38a-cbc-aes%d", keylen * 8);
        int ok = cbc(device, key, keylen, iv, pt, out, 64, 1) == 0 && memcmp(out, ct, 64) == 0;
        ok = ok && cbc(device, key, keylen, iv, ct, out, 64, 0) == 0 && memcmp(out, pt, 64) == 0;
        report(ok, name, NULL);
    }
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t next_random(uint64_t *state) {
    *state ^= *state << 13; *state ^= *state >> 7; *state ^= *state << 17;
    return *state;
}

// Random keys (128/192/256), IVs and data of sizes 16 B .. 64 KiB: device vs generic AES.
static int round_trips(uint64_t seed, int rounds, int quiet) {
    static const size_t sizes[] = {16, 32, 64, 496, 1024, 4096, 16384, 65536};
    uint64_t state = seed;
    int bad = 0;
    uint8_t *in = malloc(65536), *dev = malloc(65536), *ref = malloc(65536), *back = malloc(65536);
    for (int r = 0; r < rounds; r++) {
        size_t len = sizes[r % 8];
        int keylen = 16 + 8 * (int)(next_random(&state) % 3);
        uint8_t key[32], iv[16];
        for (int i = 0; i < 32; i++) key[i] = (uint8_t)next_random(&state);
        for (int i = 0; i < 16; i++) iv[i] = (uint8_t)next_random(&state);
        for (size_t i = 0; i < len; i++) in[i] = (uint8_t)next_random(&state);
        int ok = cbc(device, key, keylen, iv, in, dev, len, 1) == 0 && cbc(reference, key, keylen, iv, in, ref, len, 1) == 0
            && memcmp(dev, ref, len) == 0 && cbc(device, key, keylen, iv, dev, back, len, 0) == 0 && memcmp(back, in, len) == 0;
        if (!ok) {
            bad++;
            if (!quiet) printf("AFALG round trip %zu bytes key %d: mismatch\n", len, keylen * 8);
        }
    }
    free(in); free(dev); free(ref); free(back);
    return bad;
}

static void *thread_main(void *arg) {
    uintptr_t bad = (uintptr_t)round_trips(0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1), 24, 1);
    return (void *)bad;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    known_answers();
    char detail[64];
    int bad = round_trips(rng_state, 48, 0);
    snprintf(detail, sizeof(detail), "48 rounds, 16 B-64 KiB, 128/192/256-bit keys, %d mismatches", bad);
    report(bad == 0, "random-round-trips-vs-generic-aes", detail);
    pthread_t ids[16];
    if (threads > 16) threads = 16;
    for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, thread_main, (void *)(uintptr_t)i);
    uintptr_t total = 0;
    for (int i = 0; i < threads; i++) {
        void *result;
        pthread_join(ids[i], &result);
        total += (uintptr_t)result;
    }
    snprintf(detail, sizeof(detail), "%d threads x 24 round trips, %lu mismatches", threads, (unsigned long)total);
    report(total == 0, "concurrent-requests", detail);
    printf("AFALG SUMMARY passed=%d failed=%d\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
