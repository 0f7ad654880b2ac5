/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_random.h>
#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "aop_secret_file.h"
#include "aop_token.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_token_cert.h"

#define PEM_MAX (64 * 1024)

typedef struct {
    EVP_PKEY *key;
    X509 *cert;
} pem_t;

static void pem_free(pem_t *pem)
{
    EVP_PKEY_free(pem->key);
    X509_free(pem->cert);
}

/* The key and the certificate, in either order, from one PEM text. */
static const char *pem_parse(const char *text, apr_size_t len, pem_t *pem)
{
    BIO *bio = BIO_new_mem_buf(text, (int)len);

    if (!bio) {
        return "out of memory";
    }
    pem->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if ((bio = BIO_new_mem_buf(text, (int)len)) == NULL) {
        return "out of memory";
    }
    pem->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!pem->key) {
        return "holds no (unencrypted) private key";
    }
    if (!pem->cert) {
        return "holds no certificate";
    }
    return NULL;
}

/* The certificate's SHA-1 thumbprint, base64url: what Entra finds the key by. */
static const char *thumbprint(apr_pool_t *p, X509 *cert)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (!X509_digest(cert, EVP_sha1(), md, &n)) {
        return NULL;
    }
    return aop_token_b64url(p, md, n);
}

static const char *sign(apr_pool_t *p, EVP_PKEY *key, const char *data)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t n = 0;
    const char *out = NULL;

    if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestSign(md, NULL, &n, (const unsigned char *)data, strlen(data)) == 1
        && (sig = apr_palloc(p, n)) != NULL
        && EVP_DigestSign(md, sig, &n, (const unsigned char *)data, strlen(data)) == 1) {
        out = aop_token_b64url(p, sig, n);
    }
    EVP_MD_CTX_free(md);
    return out;
}

static const char *jti(apr_pool_t *p)
{
    unsigned char rnd[16];

    if (apr_generate_random_bytes(rnd, sizeof(rnd)) != APR_SUCCESS) {
        apr_cpystrn((char *)rnd, "mod_aoproxy-jti", sizeof(rnd));
    }
    return aop_token_b64url(p, rnd, sizeof(rnd));
}

const char *aop_token_cert_assertion(apr_pool_t *p, const char *pem, const char *client_id,
                                     const char *audience, const char **why)
{
    pem_t keys = { NULL, NULL };
    const char *text, *x5t, *unsigned_part, *signature = NULL;
    apr_size_t len;

    if ((*why = aop_secret_file_read_all(p, pem, PEM_MAX, &text, &len)) != NULL) {
        return NULL;
    }
    if ((*why = pem_parse(text, len, &keys)) != NULL) {
        *why = apr_psprintf(p, "auth.client_certificate_file %s %s", pem, *why);
        pem_free(&keys);
        return NULL;
    }
    if ((x5t = thumbprint(p, keys.cert)) != NULL) {
        unsigned_part = aop_token_jwt_unsigned(p, client_id, audience, x5t, apr_time_now(),
                                               jti(p));
        signature = sign(p, keys.key, unsigned_part);
    }
    pem_free(&keys);
    /* The PEM text held the private key: wipe it before the pool is reused. */
    memset((char *)text, 0, len);
    if (!signature) {
        *why = apr_psprintf(p, "cannot sign with the key of %s (RS256 needs an RSA key)",
                            pem);
        return NULL;
    }
    return apr_pstrcat(p, unsigned_part, ".", signature, NULL);
}
