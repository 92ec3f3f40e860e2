// A thin function layer over Intel IPsec-MB, whose API is macros over a manager's
// function pointers that Swift cannot call directly (Debian: libipsec-mb-dev).
#ifndef CIPSECMB_H
#define CIPSECMB_H

#include <stddef.h>
#include <stdint.h>

typedef struct vc_imb vc_imb;

/// A manager set up for the best code path of this CPU; NULL when unavailable.
vc_imb *vc_imb_create(void);
/// The calling thread's manager, set up on first use and freed when the thread exits
/// (managers must not be shared between threads; setting one up costs ~100 µs and 52 KB).
vc_imb *vc_imb_thread_manager(void);
void vc_imb_destroy(vc_imb *mgr);
const char *vc_imb_version(void);

size_t vc_imb_kasumi_schedule_size(vc_imb *mgr);
int vc_imb_kasumi_init_f8(vc_imb *mgr, const void *key, void *schedule);
int vc_imb_kasumi_init_f9(vc_imb *mgr, const void *key, void *schedule);
void vc_imb_kasumi_f8(vc_imb *mgr, const void *schedule, uint64_t iv, const void *src, void *dst, uint32_t length_bytes);
void vc_imb_kasumi_f9(vc_imb *mgr, const void *schedule, uint64_t iv, const void *src, uint32_t length_bits,
                      void *tag, uint32_t direction);

size_t vc_imb_snow3g_schedule_size(vc_imb *mgr);
int vc_imb_snow3g_init(vc_imb *mgr, const void *key, void *schedule);
void vc_imb_snow3g_f8(vc_imb *mgr, const void *schedule, const void *iv, const void *src, void *dst, uint32_t length_bytes);
void vc_imb_snow3g_f9(vc_imb *mgr, const void *schedule, const void *iv, const void *src, uint64_t length_bits, void *tag);

void vc_imb_zuc_eea3(vc_imb *mgr, const void *key, const void *iv, const void *src, void *dst, uint32_t length_bytes);
void vc_imb_zuc_eia3(vc_imb *mgr, const void *key, const void *iv, const void *src, uint32_t length_bits, uint32_t *tag);

/// The job API (multi-buffer), for AES-CBC. A manager used for jobs belongs to one submitter.
/// Key schedules: 16-byte aligned, 240 bytes each (15 round keys). Returns 0, or -1 for a key
/// length other than 16, 24 or 32.
int vc_imb_aes_keyexp(vc_imb *mgr, const void *key, uint32_t key_bytes, void *enc, void *dec);
/// Submits one AES-CBC job (`length` a multiple of 16; `iv`, `src` and `dst` must stay valid until
/// the job completes). Returns 1 and the tag and success of a job that completed, if one did.
int vc_imb_submit_aes_cbc(vc_imb *mgr, const void *enc_keys, const void *dec_keys, uint32_t key_bytes, int encrypt,
                          const void *iv, const void *src, void *dst, uint64_t length, uint64_t tag,
                          uint64_t *completed_tag, int *completed_ok);
/// A job that completed without more submissions (1), or none (0).
int vc_imb_completed_job(vc_imb *mgr, uint64_t *tag, int *ok);
/// Runs the lanes that are not full: returns 1 and the next job, until none is left (0).
int vc_imb_flush_job(vc_imb *mgr, uint64_t *tag, int *ok);

/// HMAC-SHA1 (`sha256` 0) or HMAC-SHA-256 (1): the hashed inner and outer pad states of `key`
/// (20 or 32 bytes each), as the job API takes them.
int vc_imb_hmac_precompute(vc_imb *mgr, int sha256, const void *key, uint64_t key_len, void *ipad_state,
                           void *opad_state);
/// Submits one HMAC job over `length` bytes of `src`; the full digest (20 or 32 bytes) goes to
/// `tag_output`. Returns like `vc_imb_submit_aes_cbc`.
int vc_imb_submit_hmac(vc_imb *mgr, int sha256, const void *ipad_state, const void *opad_state, const void *src,
                       uint64_t length, void *tag_output, uint64_t tag, uint64_t *completed_tag, int *completed_ok);

/// AES-GCM jobs: `sizeof(struct gcm_key_data)`, and its precomputation from a 16-, 24- or 32-byte
/// key (0, or -1 for another length).
size_t vc_imb_gcm_key_size(void);
int vc_imb_gcm_precompute(vc_imb *mgr, const void *key, uint32_t key_bytes, void *key_data);
/// Submits one AES-GCM encryption (`encrypt` 1) or decryption (0) of `length` bytes with a 12-byte
/// IV: the result to `dst`, the tag computed over the ciphertext (`tag_length` bytes) to `tag_output`
/// (a decryption's caller compares it with the one it was given). `iv`, `aad`, `src`, `dst` and
/// `tag_output` must stay valid until it returns. Returns like `vc_imb_submit_aes_cbc`.
int vc_imb_submit_gcm(vc_imb *mgr, int encrypt, const void *key_data, uint32_t key_bytes, const void *iv,
                      const void *aad, uint64_t aad_length, const void *src, void *dst, uint64_t length,
                      void *tag_output, uint64_t tag_length, uint64_t tag, uint64_t *completed_tag,
                      int *completed_ok);

/// AES-CBC encryption then HMAC-SHA1 (`sha256` 0) or HMAC-SHA-256 over the ciphertext, in place in
/// `buffer` (cipher and hash regions as offsets into it); the full digest goes to `tag_output`.
int vc_imb_submit_cbc_hmac(vc_imb *mgr, const void *enc_keys, const void *dec_keys, uint32_t key_bytes,
                           const void *iv, void *buffer, uint64_t cipher_offset, uint64_t cipher_length,
                           uint64_t hash_offset, uint64_t hash_length, int sha256, const void *ipad_state,
                           const void *opad_state, void *tag_output, uint64_t tag, uint64_t *completed_tag,
                           int *completed_ok);

#endif
