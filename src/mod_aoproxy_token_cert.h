/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* A service principal's certificate credential: the client assertion (a JWT signed
 * RS256 with the certificate's private key, its SHA-1 thumbprint as x5t) that Entra's
 * token endpoint takes instead of a client secret.  OpenSSL signs; the claims are
 * aop_token_jwt_unsigned()'s.  Called by the token fetch only. */
#ifndef MOD_AOPROXY_TOKEN_CERT_H
#define MOD_AOPROXY_TOKEN_CERT_H

#include <httpd.h>

/* The assertion for client_id at audience (the token endpoint), signed with the key
 * of pem (a file holding the private key and the certificate, readable by its owner
 * and group only), or NULL and *why (never the key). */
const char *aop_token_cert_assertion(apr_pool_t *p, const char *pem, const char *client_id,
                                     const char *audience, const char **why);

#endif
