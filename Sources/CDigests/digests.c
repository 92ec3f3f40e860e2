#include "vc_digests.h"

#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <string.h>

_Static_assert(sizeof(SHA512_CTX) <= 256 && sizeof(SHA256_CTX) <= 256 && sizeof(SHA_CTX) <= 256 && sizeof(MD5_CTX) <= 256,
               "vc_digest_state.state is too small");

static size_t block_size(int kind) {
    return kind == VC_DIGEST_SHA384 || kind == VC_DIGEST_SHA512 ? 128 : 64;
}

size_t vc_digest_length(int kind) {
    switch (kind) {
    case VC_DIGEST_MD5: return MD5_DIGEST_LENGTH;
    case VC_DIGEST_SHA1: return SHA_DIGEST_LENGTH;
    case VC_DIGEST_SHA224: return SHA224_DIGEST_LENGTH;
    case VC_DIGEST_SHA256: return SHA256_DIGEST_LENGTH;
    case VC_DIGEST_SHA384: return SHA384_DIGEST_LENGTH;
    case VC_DIGEST_SHA512: return SHA512_DIGEST_LENGTH;
    default: return 0;
    }
}

int vc_digest_init(vc_digest_state *state, int kind) {
    state->kind = kind;
    void *s = state->state;
    switch (kind) {
    case VC_DIGEST_MD5: return MD5_Init(s);
    case VC_DIGEST_SHA1: return SHA1_Init(s);
    case VC_DIGEST_SHA224: return SHA224_Init(s);
    case VC_DIGEST_SHA256: return SHA256_Init(s);
    case VC_DIGEST_SHA384: return SHA384_Init(s);
    case VC_DIGEST_SHA512: return SHA512_Init(s);
    default: return 0;
    }
}

int vc_digest_update(vc_digest_state *state, const void *data, size_t length) {
    if (length == 0) return 1;
    void *s = state->state;
    switch (state->kind) {
    case VC_DIGEST_MD5: return MD5_Update(s, data, length);
    case VC_DIGEST_SHA1: return SHA1_Update(s, data, length);
    case VC_DIGEST_SHA224: return SHA224_Update(s, data, length);
    case VC_DIGEST_SHA256: return SHA256_Update(s, data, length);
    case VC_DIGEST_SHA384: return SHA384_Update(s, data, length);
    case VC_DIGEST_SHA512: return SHA512_Update(s, data, length);
    default: return 0;
    }
}

int vc_digest_final(vc_digest_state *state, unsigned char *out) {
    void *s = state->state;
    switch (state->kind) {
    case VC_DIGEST_MD5: return MD5_Final(out, s);
    case VC_DIGEST_SHA1: return SHA1_Final(out, s);
    case VC_DIGEST_SHA224: return SHA224_Final(out, s);
    case VC_DIGEST_SHA256: return SHA256_Final(out, s);
    case VC_DIGEST_SHA384: return SHA384_Final(out, s);
    case VC_DIGEST_SHA512: return SHA512_Final(out, s);
    default: return 0;
    }
}

// RFC 2104: keys longer than a block are hashed first; the padded key XOR ipad / opad
// starts the inner and outer hashes.
int vc_hmac_prepare(vc_hmac_key *prepared, int kind, const void *key, size_t key_length) {
    size_t block = block_size(kind);
    unsigned char padded[128], pad[128];
    int ok = vc_digest_length(kind) != 0;
    memset(padded, 0, sizeof(padded));
    if (ok && key_length > block) {
        vc_digest_state hashed;
        ok = vc_digest_init(&hashed, kind) && vc_digest_update(&hashed, key, key_length) && vc_digest_final(&hashed, padded);
        OPENSSL_cleanse(&hashed, sizeof(hashed));
    } else if (ok && key_length > 0) {
        memcpy(padded, key, key_length);
    }
    for (size_t i = 0; ok && i < block; i++) pad[i] = padded[i] ^ 0x36;
    ok = ok && vc_digest_init(&prepared->inner, kind) && vc_digest_update(&prepared->inner, pad, block);
    for (size_t i = 0; ok && i < block; i++) pad[i] = padded[i] ^ 0x5c;
    ok = ok && vc_digest_init(&prepared->outer, kind) && vc_digest_update(&prepared->outer, pad, block);
    OPENSSL_cleanse(padded, sizeof(padded));
    OPENSSL_cleanse(pad, sizeof(pad));
    return ok;
}

int vc_hmac_compute(const vc_hmac_key *prepared, const void *first, size_t first_length, const void *second,
                    size_t second_length, unsigned char *out) {
    vc_digest_state state = prepared->inner;
    unsigned char inner[64];
    int ok = vc_digest_update(&state, first, first_length) && vc_digest_update(&state, second, second_length) &&
             vc_digest_final(&state, inner);
    state = prepared->outer;
    ok = ok && vc_digest_update(&state, inner, vc_digest_length(state.kind)) && vc_digest_final(&state, out);
    OPENSSL_cleanse(&state, sizeof(state));
    OPENSSL_cleanse(inner, sizeof(inner));
    return ok;
}

void vc_hmac_clear(vc_hmac_key *prepared) { OPENSSL_cleanse(prepared, sizeof(*prepared)); }
