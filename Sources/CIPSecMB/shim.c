#include <pthread.h>
#include "cipsecmb.h"

#include <intel-ipsec-mb.h>

vc_imb *vc_imb_create(void) {
    IMB_MGR *mgr = alloc_mb_mgr(0);
    if (mgr == NULL) return NULL;
    init_mb_mgr_auto(mgr, NULL);
    if (imb_get_errno(mgr) != 0) {
        free_mb_mgr(mgr);
        return NULL;
    }
    return (vc_imb *)mgr;
}

void vc_imb_destroy(vc_imb *mgr) { free_mb_mgr((IMB_MGR *)mgr); }

static pthread_key_t thread_manager_key;
static pthread_once_t thread_manager_once = PTHREAD_ONCE_INIT;

static void free_thread_manager(void *mgr) { free_mb_mgr((IMB_MGR *)mgr); }
static void make_thread_manager_key(void) { pthread_key_create(&thread_manager_key, free_thread_manager); }

vc_imb *vc_imb_thread_manager(void) {
    pthread_once(&thread_manager_once, make_thread_manager_key);
    vc_imb *mgr = pthread_getspecific(thread_manager_key);
    if (mgr == NULL) {
        mgr = vc_imb_create();
        if (mgr != NULL && pthread_setspecific(thread_manager_key, mgr) != 0) {
            vc_imb_destroy(mgr);
            mgr = NULL;
        }
    }
    return mgr;
}

const char *vc_imb_version(void) { return imb_get_version_str(); }

#define M ((IMB_MGR *)mgr)

size_t vc_imb_kasumi_schedule_size(vc_imb *mgr) { return IMB_KASUMI_KEY_SCHED_SIZE(M); }

int vc_imb_kasumi_init_f8(vc_imb *mgr, const void *key, void *schedule) {
    return IMB_KASUMI_INIT_F8_KEY_SCHED(M, key, (kasumi_key_sched_t *)schedule);
}

int vc_imb_kasumi_init_f9(vc_imb *mgr, const void *key, void *schedule) {
    return IMB_KASUMI_INIT_F9_KEY_SCHED(M, key, (kasumi_key_sched_t *)schedule);
}

void vc_imb_kasumi_f8(vc_imb *mgr, const void *schedule, uint64_t iv, const void *src, void *dst, uint32_t length_bytes) {
    IMB_KASUMI_F8_1_BUFFER(M, (const kasumi_key_sched_t *)schedule, iv, src, dst, length_bytes);
}

void vc_imb_kasumi_f9(vc_imb *mgr, const void *schedule, uint64_t iv, const void *src, uint32_t length_bits,
                      void *tag, uint32_t direction) {
    IMB_KASUMI_F9_1_BUFFER_USER(M, (const kasumi_key_sched_t *)schedule, iv, src, length_bits, tag, direction);
}

size_t vc_imb_snow3g_schedule_size(vc_imb *mgr) { return IMB_SNOW3G_KEY_SCHED_SIZE(M); }

int vc_imb_snow3g_init(vc_imb *mgr, const void *key, void *schedule) {
    return IMB_SNOW3G_INIT_KEY_SCHED(M, key, (snow3g_key_schedule_t *)schedule);
}

void vc_imb_snow3g_f8(vc_imb *mgr, const void *schedule, const void *iv, const void *src, void *dst, uint32_t length_bytes) {
    IMB_SNOW3G_F8_1_BUFFER(M, (const snow3g_key_schedule_t *)schedule, iv, src, dst, length_bytes);
}

void vc_imb_snow3g_f9(vc_imb *mgr, const void *schedule, const void *iv, const void *src, uint64_t length_bits, void *tag) {
    IMB_SNOW3G_F9_1_BUFFER(M, (const snow3g_key_schedule_t *)schedule, iv, src, length_bits, tag);
}

void vc_imb_zuc_eea3(vc_imb *mgr, const void *key, const void *iv, const void *src, void *dst, uint32_t length_bytes) {
    IMB_ZUC_EEA3_1_BUFFER(M, key, iv, src, dst, length_bytes);
}

void vc_imb_zuc_eia3(vc_imb *mgr, const void *key, const void *iv, const void *src, uint32_t length_bits, uint32_t *tag) {
    IMB_ZUC_EIA3_1_BUFFER(M, key, iv, src, length_bits, tag);
}
