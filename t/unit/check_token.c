/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Unit tests for Entra ID tokens' httpd-free part (aop_token.c): the request each
 * credential makes, the answers of Entra, IMDS and App Service, renewal and
 * back-off times, fingerprints. */
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>

#include "aop_token.h"
#include "aop_url.h"
#include "check_suites.h"

#define SEC(n) apr_time_from_sec(n)
#define T0 SEC(1700000000)

static apr_pool_t *pool;
static const aop_token_env_t no_env;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static aop_instance_t *entra(void)
{
    aop_instance_t *inst = aop_instance_new(pool, "t", 1);

    inst->name = "e";
    inst->auth_type = "entra";
    inst->tenant_id = "contoso.onmicrosoft.com";
    inst->client_id = "app 1";
    inst->client_secret = "s&cret=+/";
    return inst;
}

static int has_part(const char *form, const char *part)
{
    const char *at = strstr(form, part);
    apr_size_t n = strlen(part);

    return at && (at == form || at[-1] == '&') && (at[n] == '&' || at[n] == '\0');
}

START_TEST(auth_types)
{
    aop_auth_e t;
    aop_instance_t *inst = entra();

    ck_assert(aop_auth_parse("workload_identity", &t) && t == AOP_AUTH_WORKLOAD_IDENTITY);
    ck_assert(!aop_auth_parse("Entra", &t));
    ck_assert(!aop_auth_parse(NULL, &t));
    ck_assert_int_eq(aop_auth_of(inst), AOP_AUTH_ENTRA);
    inst->auth_type = NULL;
    ck_assert_int_eq(aop_auth_of(inst), AOP_AUTH_API_KEY);
}
END_TEST

START_TEST(entra_needs_tenant_client_secret)
{
    aop_instance_t *inst = entra();

    ck_assert_ptr_null(aop_auth_missing(inst));
    inst->client_secret = "";
    ck_assert_str_eq(aop_auth_missing(inst), "auth.client_secret");
    inst->client_id = NULL;
    ck_assert_str_eq(aop_auth_missing(inst), "auth.client_id");
    inst->tenant_id = NULL;
    ck_assert_str_eq(aop_auth_missing(inst), "auth.tenant_id");
    inst->auth_type = "managed_identity";
    ck_assert_ptr_null(aop_auth_missing(inst));
}
END_TEST

START_TEST(authority_hosts)
{
    ck_assert_ptr_null(aop_token_authority_problem("https://login.microsoftonline.com"));
    ck_assert_ptr_null(aop_token_authority_problem("http://127.0.0.1:8080/"));
    ck_assert_ptr_nonnull(aop_token_authority_problem("ftp://x"));
    ck_assert_ptr_nonnull(aop_token_authority_problem("https://"));
    ck_assert_ptr_nonnull(aop_token_authority_problem("https://u:p@host"));
    ck_assert_ptr_nonnull(aop_token_authority_problem("https://host/?x=1"));
}
END_TEST

START_TEST(client_secret_request)
{
    aop_token_req_t req;
    aop_instance_t *inst = entra();

    ck_assert_ptr_null(aop_token_request(pool, inst, &no_env, NULL, &req));
    ck_assert_str_eq(req.method, "POST");
    ck_assert_str_eq(req.url, "https://login.microsoftonline.com/contoso.onmicrosoft.com"
                              "/oauth2/v2.0/token");
    ck_assert(has_part(req.form, "grant_type=client_credentials"));
    ck_assert(has_part(req.form, "client_id=app%201"));
    ck_assert(has_part(req.form, "client_secret=s%26cret%3D%2B%2F"));
    ck_assert(has_part(req.form, "scope=https%3A%2F%2Fcognitiveservices.azure.com"
                                 "%2F.default"));
    ck_assert_ptr_null(req.header);
    ck_assert_ptr_null(strstr(req.endpoint, "cret"));

    inst->authority_host = "http://127.0.0.1:9/";
    ck_assert_ptr_null(aop_token_request(pool, inst, &no_env, NULL, &req));
    ck_assert_str_eq(req.url, "http://127.0.0.1:9/contoso.onmicrosoft.com/oauth2/v2.0/token");

    inst->tenant_id = "../x";
    ck_assert_ptr_nonnull(aop_token_request(pool, inst, &no_env, NULL, &req));
}
END_TEST

START_TEST(workload_identity_request)
{
    aop_token_env_t env = no_env;
    aop_token_req_t req;
    aop_instance_t *inst = entra();

    inst->auth_type = "workload_identity";
    inst->client_secret = NULL;
    inst->tenant_id = NULL;
    inst->client_id = NULL;
    ck_assert_ptr_null(aop_token_assertion_file(inst, &env));
    env.federated_token_file = "/var/run/secrets/azure/tokens/azure-identity-token";
    env.tenant_id = "t1";
    env.client_id = "c1";
    ck_assert_str_eq(aop_token_assertion_file(inst, &env), env.federated_token_file);
    inst->federated_token_file = "/tok";
    ck_assert_str_eq(aop_token_assertion_file(inst, &env), "/tok");
    ck_assert_ptr_nonnull(aop_token_request(pool, inst, &env, NULL, &req));
    ck_assert_ptr_null(aop_token_request(pool, inst, &env, "eyJ.a.b", &req));
    ck_assert_str_eq(req.url, "https://login.microsoftonline.com/t1/oauth2/v2.0/token");
    ck_assert(has_part(req.form, "client_id=c1"));
    ck_assert(has_part(req.form, "client_assertion=eyJ.a.b"));
    ck_assert(has_part(req.form, "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A"
                                 "client-assertion-type%3Ajwt-bearer"));
    ck_assert_ptr_null(strstr(req.form, "client_secret"));
}
END_TEST

START_TEST(managed_identity_requests)
{
    aop_token_env_t env = no_env;
    aop_token_req_t req;
    aop_instance_t *inst = entra();

    inst->auth_type = "managed_identity";
    inst->client_id = NULL;
    ck_assert_ptr_null(aop_token_request(pool, inst, &env, NULL, &req));
    ck_assert_str_eq(req.method, "GET");
    ck_assert_str_eq(req.url, "http://169.254.169.254/metadata/identity/oauth2/token"
                              "?api-version=2018-02-01&resource=https%3A%2F%2F"
                              "cognitiveservices.azure.com");
    ck_assert_str_eq(req.header, "Metadata: true");
    ck_assert_ptr_null(req.form);

    env.identity_endpoint = "http://localhost:42356/msi/token";
    env.identity_header = "hdr-secret";
    inst->client_id = "uami";
    ck_assert_ptr_null(aop_token_request(pool, inst, &env, NULL, &req));
    ck_assert_str_eq(req.url, "http://localhost:42356/msi/token?api-version=2019-08-01&"
                              "resource=https%3A%2F%2Fcognitiveservices.azure.com"
                              "&client_id=uami");
    ck_assert_str_eq(req.header, "X-IDENTITY-HEADER: hdr-secret");
    ck_assert_str_eq(req.endpoint, "http://localhost:42356/msi/token");

    /* an authority_host of the instance's own is its IMDS */
    inst->authority_host = "http://127.0.0.1:7";
    ck_assert_ptr_null(aop_token_request(pool, inst, &env, NULL, &req));
    ck_assert_str_eq(req.endpoint, "http://127.0.0.1:7/metadata/identity/oauth2/token");
}
END_TEST

static apr_status_t parse(int status, const char *body, aop_token_answer_t *a)
{
    return aop_token_parse(pool, status, body, body ? strlen(body) : 0, "refused", T0, a);
}

START_TEST(answers)
{
    aop_token_answer_t a;

    ck_assert_int_eq(parse(200, "{\"token_type\":\"Bearer\",\"expires_in\":3599,"
                                "\"access_token\":\"eyJ0.x.y\"}", &a), APR_SUCCESS);
    ck_assert_str_eq(a.access_token, "eyJ0.x.y");
    ck_assert(a.expires_at == T0 + SEC(3599));
    /* IMDS: numbers as strings, expires_on */
    ck_assert_int_eq(parse(200, "{\"access_token\":\"t\",\"expires_on\":\"1700000100\"}", &a),
                     APR_SUCCESS);
    ck_assert(a.expires_at == T0 + SEC(100));
    ck_assert_int_eq(parse(200, "{\"access_token\":\"t\",\"expires_in\":\"60\"}", &a),
                     APR_SUCCESS);
    ck_assert(a.expires_at == T0 + SEC(60));
    /* an absurd life is cut */
    ck_assert_int_eq(parse(200, "{\"access_token\":\"t\",\"expires_in\":99999999999}", &a),
                     APR_SUCCESS);
    ck_assert(a.expires_at == T0 + AOP_TOKEN_MAX_LIFE);
}
END_TEST

START_TEST(bad_answers)
{
    aop_token_answer_t a;

    ck_assert_int_eq(parse(200, "{\"expires_in\":60}", &a), APR_EGENERAL);
    ck_assert_ptr_nonnull(strstr(a.error, "access_token"));
    ck_assert_int_eq(parse(200, "{\"access_token\":\"t\"}", &a), APR_EGENERAL);
    ck_assert_int_eq(parse(200, "{\"access_token\":\"t\",\"expires_in\":-5}", &a),
                     APR_EGENERAL);
    ck_assert_int_eq(parse(200, "{\"access_token\":\"t\",\"expires_on\":\"1600000000\"}", &a),
                     APR_EGENERAL);
    ck_assert_int_eq(parse(200, "{\"access_token\":\"a b\",\"expires_in\":60}", &a),
                     APR_EGENERAL);
    ck_assert_int_eq(parse(200, "<html>", &a), APR_EGENERAL);
    ck_assert_int_eq(parse(200, "[1]", &a), APR_EGENERAL);
    ck_assert_int_eq(parse(0, NULL, &a), APR_EGENERAL);
    ck_assert_str_eq(a.error, "no answer: refused");
    ck_assert_int_eq(parse(502, NULL, &a), APR_EGENERAL);
    ck_assert_str_eq(a.error, "HTTP 502: not a JSON answer");
}
END_TEST

START_TEST(aad_errors)
{
    aop_token_answer_t a;

    ck_assert_int_eq(parse(401, "{\"error\":\"invalid_client\",\"error_description\":"
                                "\"AADSTS7000215: Invalid client secret provided.\\r\\n"
                                "Trace ID: abc\",\"error_codes\":[7000215]}", &a),
                     APR_EGENERAL);
    ck_assert_int_eq(a.aad_code, 7000215);
    ck_assert_str_eq(a.error, "HTTP 401: invalid_client: AADSTS7000215: Invalid client "
                              "secret provided.");
    /* the code from the text when error_codes is missing */
    ck_assert_int_eq(parse(400, "{\"error\":\"invalid_resource\",\"error_description\":"
                                "\"AADSTS500011: The resource principal\"}", &a),
                     APR_EGENERAL);
    ck_assert_int_eq(a.aad_code, 500011);
    /* App Service's shape */
    ck_assert_int_eq(parse(401, "{\"statusCode\":401,\"message\":\"Unauthorized\"}", &a),
                     APR_EGENERAL);
    ck_assert_int_eq(a.aad_code, 0);
    ck_assert_str_eq(a.error, "HTTP 401: Unauthorized");
    /* control characters never reach a log line */
    ck_assert_int_eq(parse(400, "{\"error\":\"x\\u001b[31m\"}", &a), APR_EGENERAL);
    ck_assert_ptr_null(strchr(a.error, 0x1b));
}
END_TEST

START_TEST(renewal)
{
    /* an hour: at 2/3 (40 min) */
    ck_assert(aop_token_refresh_at(T0, T0 + SEC(3600)) == T0 + SEC(2400));
    /* ten minutes: 5 minutes before the end is earlier than 2/3 */
    ck_assert(aop_token_refresh_at(T0, T0 + SEC(600)) == T0 + SEC(300));
    /* short lives: at least a second after the fetch */
    ck_assert(aop_token_refresh_at(T0, T0 + SEC(2)) == T0 + SEC(1));
    ck_assert(aop_token_refresh_at(T0, T0) == T0 + SEC(1));
}
END_TEST

START_TEST(backoff)
{
    ck_assert(aop_token_backoff(1) == SEC(1));
    ck_assert(aop_token_backoff(2) == SEC(2));
    ck_assert(aop_token_backoff(3) == SEC(4));
    ck_assert(aop_token_backoff(7) == SEC(60));
    ck_assert(aop_token_backoff(4000000000u) == SEC(60));
}
END_TEST

/* A token Azure refused: replaced at once the first time, or when it had served a
 * while; one fetched for a refusal and refused again soon waits 1 s, 2 s ... 60 s. */
START_TEST(refused_tokens)
{
    apr_time_t t = SEC(1000000);

    ck_assert(aop_token_refused_renew_at(t, 0, 0) == 0);
    ck_assert(aop_token_refused_renew_at(t, t, 0) == 0);          /* not after */
    ck_assert(aop_token_refused_renew_at(t, t - 1, 3) == 0);      /* an older token's */
    ck_assert(aop_token_refused_renew_at(t, t + SEC(5), 0) == t + SEC(5));
    ck_assert(aop_token_refused_renew_at(t, t + 1, 1) == t + SEC(1));
    ck_assert(aop_token_refused_renew_at(t, t + 1, 2) == t + SEC(2));
    ck_assert(aop_token_refused_renew_at(t, t + 1, 40) == t + SEC(60));
    /* refused long after its fetch: a new streak, at once */
    ck_assert(aop_token_refused_renew_at(t, t + SEC(61), 9) == t + SEC(61));
    ck_assert_uint_eq(aop_token_refused_streak(t, t + SEC(61), 9), 0);
    ck_assert_uint_eq(aop_token_refused_streak(t, t + SEC(2), 9), 9);
}
END_TEST

START_TEST(fingerprints)
{
    aop_instance_t *a = entra(), *b = entra();
    apr_uint64_t fa = aop_token_fingerprint(a, &no_env);

    ck_assert(fa != 0 && fa != ~APR_UINT64_C(0));
    b->name = "another-instance";
    ck_assert(aop_token_fingerprint(b, &no_env) == fa);
    b->client_secret = "other";
    ck_assert(aop_token_fingerprint(b, &no_env) != fa);
    b = entra();
    b->authority_host = "http://127.0.0.1:1";
    ck_assert(aop_token_fingerprint(b, &no_env) != fa);
    b = entra();
    b->auth_type = "managed_identity";
    ck_assert(aop_token_fingerprint(b, &no_env) != fa);
}
END_TEST

START_TEST(form_escape)
{
    int c;

    ck_assert_str_eq(aop_url_escape(pool, "a-Z_0.9~ +&=%\xc3\xa9"),
                     "a-Z_0.9~%20%2B%26%3D%25%C3%A9");
    /* Every byte value: RFC 3986's unreserved set, and nothing else. */
    for (c = -1; c < 257; c++) {
        int want = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                   || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';

        ck_assert_msg(aop_url_unreserved(c) == want, "byte %d", c);
    }
}
END_TEST

START_TEST(certificate_assertion_parts)
{
    aop_token_req_t req;
    aop_instance_t *inst = entra();
    const char *jwt, *dot;
    const char *why = NULL;

    ck_assert_str_eq(aop_token_b64url(pool, (const unsigned char *)"", 0), "");
    ck_assert_str_eq(aop_token_b64url(pool, (const unsigned char *)"f", 1), "Zg");
    ck_assert_str_eq(aop_token_b64url(pool, (const unsigned char *)"fo", 2), "Zm8");
    ck_assert_str_eq(aop_token_b64url(pool, (const unsigned char *)"foo", 3), "Zm9v");
    ck_assert_str_eq(aop_token_b64url(pool, (const unsigned char *)"\xfb\xff", 2), "-_8");

    /* a certificate instead of a secret */
    inst->client_secret = NULL;
    ck_assert_str_eq(aop_auth_missing(inst), "auth.client_secret");
    inst->client_certificate_file = "/etc/aoproxy/sp.pem";
    ck_assert_ptr_null(aop_auth_missing(inst));
    ck_assert_str_eq(aop_token_certificate_file(inst), "/etc/aoproxy/sp.pem");
    ck_assert_str_eq(aop_token_entra_endpoint(pool, inst, &no_env, &why),
                     "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    ck_assert_ptr_nonnull(aop_token_request(pool, inst, &no_env, NULL, &req));
    ck_assert_ptr_null(aop_token_request(pool, inst, &no_env, "h.c.s", &req));
    ck_assert(has_part(req.form, "client_assertion=h.c.s"));

    /* {"alg":"RS256","typ":"JWT","x5t":"abc"} . claims */
    jwt = aop_token_jwt_unsigned(pool, "app1", "https://x/t/oauth2/v2.0/token", "abc",
                                 T0, "id1");
    dot = strchr(jwt, '.');
    ck_assert_ptr_nonnull(dot);
    ck_assert_str_eq(apr_pstrmemdup(pool, jwt, dot - jwt),
                     aop_token_b64url(pool, (const unsigned char *)
                                      "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"abc\"}", 39));
    ck_assert_str_eq(dot + 1, aop_token_b64url(pool, (const unsigned char *)
        "{\"aud\":\"https://x/t/oauth2/v2.0/token\",\"iss\":\"app1\",\"sub\":\"app1\","
        "\"jti\":\"id1\",\"nbf\":1700000000,\"iat\":1700000000,\"exp\":1700000600}", 128));
}
END_TEST

Suite *aop_token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, auth_types);
    tcase_add_test(tc, entra_needs_tenant_client_secret);
    tcase_add_test(tc, authority_hosts);
    tcase_add_test(tc, client_secret_request);
    tcase_add_test(tc, workload_identity_request);
    tcase_add_test(tc, managed_identity_requests);
    tcase_add_test(tc, answers);
    tcase_add_test(tc, bad_answers);
    tcase_add_test(tc, aad_errors);
    tcase_add_test(tc, renewal);
    tcase_add_test(tc, backoff);
    tcase_add_test(tc, refused_tokens);
    tcase_add_test(tc, fingerprints);
    tcase_add_test(tc, form_escape);
    tcase_add_test(tc, certificate_assertion_parts);
    suite_add_tcase(s, tc);
    return s;
}
