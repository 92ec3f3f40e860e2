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

/* The job API, for AES-CBC: independent jobs run in parallel lanes (multi-buffer). A manager
   used for jobs must belong to one submitter: its job queue is its state. */

int vc_imb_aes_keyexp(vc_imb *mgr, const void *key, uint32_t key_bytes, void *enc, void *dec) {
    switch (key_bytes) {
    case 16: IMB_AES_KEYEXP_128(M, key, enc, dec); return 0;
    case 24: IMB_AES_KEYEXP_192(M, key, enc, dec); return 0;
    case 32: IMB_AES_KEYEXP_256(M, key, enc, dec); return 0;
    default: return -1;
    }
}

static int vc_imb_take(IMB_JOB *job, uint64_t *tag, int *ok) {
    if (job == NULL) return 0;
    *tag = (uint64_t)(uintptr_t)job->user_data;
    *ok = job->status == IMB_STATUS_COMPLETED;
    return 1;
}

/* The cipher half of a job: `length` bytes from `src + offset` to `dst`. */
static void vc_job_cipher(IMB_JOB *job, IMB_CIPHER_MODE mode, int encrypt, const void *enc_keys, const void *dec_keys,
                          uint32_t key_bytes, const void *iv, uint64_t iv_length, const void *src, void *dst,
                          uint64_t offset, uint64_t length) {
    job->cipher_mode = mode;
    job->cipher_direction = encrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
    job->enc_keys = enc_keys;
    job->dec_keys = dec_keys;
    job->key_len_in_bytes = key_bytes;
    job->iv = iv;
    job->iv_len_in_bytes = iv_length;
    job->src = src;
    job->dst = dst;
    job->cipher_start_src_offset_in_bytes = offset;
    job->msg_len_to_cipher_in_bytes = length;
}

/* The hash half of a job: `length` bytes of `src + offset`, the tag to `tag_output`. */
static void vc_job_hash(IMB_JOB *job, IMB_HASH_ALG alg, uint64_t offset, uint64_t length, void *tag_output,
                        uint64_t tag_length) {
    job->hash_alg = alg;
    job->hash_start_src_offset_in_bytes = offset;
    job->msg_len_to_hash_in_bytes = length;
    job->auth_tag_output = tag_output;
    job->auth_tag_output_len_in_bytes = tag_length;
}

static void vc_job_hmac(IMB_JOB *job, int sha256, const void *ipad_state, const void *opad_state, uint64_t offset,
                        uint64_t length, void *tag_output) {
    vc_job_hash(job, sha256 ? IMB_AUTH_HMAC_SHA_256 : IMB_AUTH_HMAC_SHA_1, offset, length, tag_output,
                sha256 ? 32 : 20);
    job->u.HMAC._hashed_auth_key_xor_ipad = ipad_state;
    job->u.HMAC._hashed_auth_key_xor_opad = opad_state;
}

/* Submits a filled job under `tag`; returns like the submit functions. */
static int vc_job_submit(vc_imb *mgr, IMB_JOB *job, IMB_CHAIN_ORDER order, uint64_t tag, uint64_t *completed_tag,
                         int *completed_ok) {
    job->chain_order = order;
    job->user_data = (void *)(uintptr_t)tag;
    return vc_imb_take(IMB_SUBMIT_JOB(M), completed_tag, completed_ok);
}

int vc_imb_submit_aes_cbc(vc_imb *mgr, const void *enc_keys, const void *dec_keys, uint32_t key_bytes, int encrypt,
                          const void *iv, const void *src, void *dst, uint64_t length, uint64_t tag,
                          uint64_t *completed_tag, int *completed_ok) {
    IMB_JOB *job = IMB_GET_NEXT_JOB(M);
    vc_job_cipher(job, IMB_CIPHER_CBC, encrypt, enc_keys, dec_keys, key_bytes, iv, 16, src, dst, 0, length);
    vc_job_hash(job, IMB_AUTH_NULL, 0, 0, NULL, 0);
    return vc_job_submit(mgr, job, encrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER, tag, completed_tag,
                         completed_ok);
}

int vc_imb_completed_job(vc_imb *mgr, uint64_t *tag, int *ok) { return vc_imb_take(IMB_GET_COMPLETED_JOB(M), tag, ok); }

int vc_imb_flush_job(vc_imb *mgr, uint64_t *tag, int *ok) { return vc_imb_take(IMB_FLUSH_JOB(M), tag, ok); }

/* HMAC-SHA1 / HMAC-SHA-256 jobs: the inner and outer states of RFC 2104 hashed once per key. */

static const uint64_t vc_hmac_block = 64;

int vc_imb_hmac_precompute(vc_imb *mgr, int sha256, const void *key, uint64_t key_len, void *ipad_state,
                           void *opad_state) {
    uint8_t block[64], hashed[32];
    const uint8_t *bytes = key;
    if (key_len > vc_hmac_block) {
        if (sha256) IMB_SHA256(M, key, key_len, hashed);
        else IMB_SHA1(M, key, key_len, hashed);
        bytes = hashed;
        key_len = sha256 ? 32 : 20;
    }
    for (uint64_t i = 0; i < vc_hmac_block; i++) block[i] = (i < key_len ? bytes[i] : 0) ^ 0x36;
    if (sha256) IMB_SHA256_ONE_BLOCK(M, block, ipad_state);
    else IMB_SHA1_ONE_BLOCK(M, block, ipad_state);
    for (uint64_t i = 0; i < vc_hmac_block; i++) block[i] = (i < key_len ? bytes[i] : 0) ^ 0x5c;
    if (sha256) IMB_SHA256_ONE_BLOCK(M, block, opad_state);
    else IMB_SHA1_ONE_BLOCK(M, block, opad_state);
    imb_clear_mem(block, sizeof(block));
    imb_clear_mem(hashed, sizeof(hashed));
    return 0;
}

int vc_imb_submit_hmac(vc_imb *mgr, int sha256, const void *ipad_state, const void *opad_state, const void *src,
                       uint64_t length, void *tag_output, uint64_t tag, uint64_t *completed_tag, int *completed_ok) {
    IMB_JOB *job = IMB_GET_NEXT_JOB(M);
    vc_job_cipher(job, IMB_CIPHER_NULL, 1, NULL, NULL, 0, NULL, 0, src, NULL, 0, 0);
    vc_job_hmac(job, sha256, ipad_state, opad_state, 0, length, tag_output);
    return vc_job_submit(mgr, job, IMB_ORDER_HASH_CIPHER, tag, completed_tag, completed_ok);
}

/* AES-GCM jobs: the key's GHASH tables precomputed once. */

size_t vc_imb_gcm_key_size(void) { return sizeof(struct gcm_key_data); }

int vc_imb_gcm_precompute(vc_imb *mgr, const void *key, uint32_t key_bytes, void *key_data) {
    switch (key_bytes) {
    case 16: IMB_AES128_GCM_PRE(M, key, (struct gcm_key_data *)key_data); return 0;
    case 24: IMB_AES192_GCM_PRE(M, key, (struct gcm_key_data *)key_data); return 0;
    case 32: IMB_AES256_GCM_PRE(M, key, (struct gcm_key_data *)key_data); return 0;
    default: return -1;
    }
}

int vc_imb_submit_gcm(vc_imb *mgr, int encrypt, const void *key_data, uint32_t key_bytes, const void *iv,
                      const void *aad, uint64_t aad_length, const void *src, void *dst, uint64_t length,
                      void *tag_output, uint64_t tag_length, uint64_t tag, uint64_t *completed_tag,
                      int *completed_ok) {
    IMB_JOB *job = IMB_GET_NEXT_JOB(M);
    vc_job_cipher(job, IMB_CIPHER_GCM, encrypt, key_data, key_data, key_bytes, iv, 12, src, dst, 0, length);
    vc_job_hash(job, IMB_AUTH_AES_GMAC, 0, length, tag_output, tag_length);
    job->u.GCM.aad = aad;
    job->u.GCM.aad_len_in_bytes = aad_length;
    /* GMAC covers the ciphertext: after encrypting, before decrypting. */
    return vc_job_submit(mgr, job, encrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER, tag, completed_tag,
                         completed_ok);
}

/* AES-CBC encryption then HMAC-SHA1 / HMAC-SHA-256 over the ciphertext, in place in one buffer
   (encrypt-then-MAC): the cipher region and the hashed region are offsets into `buffer`. */

int vc_imb_submit_cbc_hmac(vc_imb *mgr, const void *enc_keys, const void *dec_keys, uint32_t key_bytes,
                           const void *iv, void *buffer, uint64_t cipher_offset, uint64_t cipher_length,
                           uint64_t hash_offset, uint64_t hash_length, int sha256, const void *ipad_state,
                           const void *opad_state, void *tag_output, uint64_t tag, uint64_t *completed_tag,
                           int *completed_ok) {
    IMB_JOB *job = IMB_GET_NEXT_JOB(M);
    vc_job_cipher(job, IMB_CIPHER_CBC, 1, enc_keys, dec_keys, key_bytes, iv, 16, buffer,
                  (uint8_t *)buffer + cipher_offset, cipher_offset, cipher_length);
    vc_job_hmac(job, sha256, ipad_state, opad_state, hash_offset, hash_length, tag_output);
    return vc_job_submit(mgr, job, IMB_ORDER_CIPHER_HASH, tag, completed_tag, completed_ok);
}
