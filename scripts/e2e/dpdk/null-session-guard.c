/*
 * LD_PRELOAD guard for DPDK 22.11's dpdk-test in scripts/e2e-dpdk.sh.
 *
 * The "Negative HMAC SHA1" suite of cryptodev_virtio_autotest goes on after the virtio
 * crypto PMD refused its session (auth-only sessions are not supported) and enqueues an
 * operation whose session is NULL; the PMD's enqueue dereferences it and the process dies,
 * taking every later suite with it. This guard wraps the PMD's enqueue function (installed
 * in rte_crypto_fp_ops by rte_cryptodev_start) and refuses, like an enqueue on a full ring,
 * any session operation without a session, printing one line per refusal. dpdk-test then
 * reports the case as failed and carries on. Operations with a session pass untouched.
 *
 * Built by scripts/e2e-dpdk.sh against the guest root's DPDK headers.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <rte_cryptodev.h>

/* Devices guarded: the guest has one virtio-crypto device, dpdk-test uses device 0. */
#define GUARDED_DEVICES 4

static enqueue_pkt_burst_t original[GUARDED_DEVICES];

static uint16_t guarded(int dev, void *qp, struct rte_crypto_op **ops, uint16_t nb_ops)
{
    uint16_t n;
    for (n = 0; n < nb_ops; n++) {
        if (ops[n]->sess_type == RTE_CRYPTO_OP_WITH_SESSION && ops[n]->sym->session == NULL) {
            fprintf(stderr, "E2E-GUARD: device %d: refused to enqueue an operation without a session\n", dev);
            break;
        }
    }
    return n == 0 ? 0 : original[dev](qp, ops, n);
}

#define GUARD(dev) \
    static uint16_t guarded_##dev(void *qp, struct rte_crypto_op **ops, uint16_t nb_ops) \
    { return guarded(dev, qp, ops, nb_ops); }
GUARD(0) GUARD(1) GUARD(2) GUARD(3)
static const enqueue_pkt_burst_t guards[GUARDED_DEVICES] = { guarded_0, guarded_1, guarded_2, guarded_3 };

/* Both looked up at run time, so that the guard also loads into processes without DPDK
 * (LD_PRELOAD reaches the wrappers that start dpdk-test). */
int rte_cryptodev_start(uint8_t dev_id)
{
    static int (*start)(uint8_t);
    static struct rte_crypto_fp_ops *fp_ops;
    if (start == NULL) {
        start = (int (*)(uint8_t))dlsym(RTLD_NEXT, "rte_cryptodev_start");
        fp_ops = (struct rte_crypto_fp_ops *)dlsym(RTLD_DEFAULT, "rte_crypto_fp_ops");
    }
    int status = start(dev_id);
    if (status == 0 && fp_ops != NULL && dev_id < GUARDED_DEVICES && fp_ops[dev_id].enqueue_burst != guards[dev_id]) {
        original[dev_id] = fp_ops[dev_id].enqueue_burst;
        fp_ops[dev_id].enqueue_burst = guards[dev_id];
    }
    return status;
}
