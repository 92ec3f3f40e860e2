// MD5, SHA-1 and SHA-2 digests and their HMACs over libcrypto's one-shot-free state
// structs. OpenSSL 3's EVP digest and MAC inits allocate on every call; these states are
// plain memory, so a keyed HMAC is two prepared states copied per request and the data
// path allocates nothing. SHA-3, SHAKE, CMAC and GMAC stay on EVP.
#ifndef VC_DIGESTS_H
#define VC_DIGESTS_H

#include <stddef.h>
#include <stdint.h>

enum vc_digest_kind {
    VC_DIGEST_MD5 = 1,
    VC_DIGEST_SHA1 = 2,
    VC_DIGEST_SHA224 = 3,
    VC_DIGEST_SHA256 = 4,
    VC_DIGEST_SHA384 = 5,
    VC_DIGEST_SHA512 = 6,
};

/// Big enough for any of the state structs above (SHA512_CTX is the largest).
typedef struct {
    int kind;
    _Alignas(16) unsigned char state[256];
} vc_digest_state;

/// Bytes of digest of `kind` (0 for an unknown kind).
size_t vc_digest_length(int kind);
/// Starts a digest; 0 for an unknown kind.
int vc_digest_init(vc_digest_state *state, int kind);
int vc_digest_update(vc_digest_state *state, const void *data, size_t length);
/// Writes the full digest (vc_digest_length bytes) to `out`.
int vc_digest_final(vc_digest_state *state, unsigned char *out);

/// HMAC with the key's inner and outer states prepared once.
typedef struct {
    vc_digest_state inner;
    vc_digest_state outer;
} vc_hmac_key;

/// Prepares `key` (any length) for HMAC over `kind`; 0 for an unknown kind.
int vc_hmac_prepare(vc_hmac_key *prepared, int kind, const void *key, size_t key_length);
/// HMAC of `first ‖ second` into `out` (the full digest length); `prepared` is not changed.
int vc_hmac_compute(const vc_hmac_key *prepared, const void *first, size_t first_length, const void *second,
                    size_t second_length, unsigned char *out);
/// Erases prepared key material.
void vc_hmac_clear(vc_hmac_key *prepared);

#endif
