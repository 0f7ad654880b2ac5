# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""mock_entra.py - the token side of the mock: Entra ID (Azure AD) and managed identity.

A mock Azure instance started with ``--token-secret S`` accepts, instead of (or
beside) ``api-key``, ``Authorization: Bearer T`` where T is a token this module
issued with the same secret and not yet expired.  Tokens are self-contained
(``mocktok.<expiry>.<audience>.<hmac>``), so one mock can serve as the token
endpoint and others as the Azure resources without shared state: start them all
with the same ``--token-secret``.

Token endpoints (any mock with ``--token-secret``):

* ``POST /{tenant}/oauth2/v2.0/token`` (the authority host is configurable in
  the gateway), form-encoded: ``grant_type=client_credentials``, ``client_id``,
  ``scope`` (must be ``https://cognitiveservices.azure.com/.default``) and
  ``client_secret``, or ``client_assertion`` with
  ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``
  (workload identity's federated token, or a certificate's signed assertion).
  Known clients come from ``--entra-client ID=SECRET`` (repeatable); an
  assertion is accepted when it equals ``--entra-assertion``, or, for a client
  given with ``--entra-certificate ID=PEM``, when it is a JWT signed RS256 by
  that certificate's key (x5t its SHA-1 thumbprint; aud the token URL, iss and
  sub the client, not expired), as Entra checks a certificate credential.  Errors are AAD's
  shape: ``{"error","error_description":"AADSTSnnnn: ...","error_codes":[n],...}``.
* ``GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=R``
  with ``Metadata: true`` (Azure IMDS), and
  ``GET /msi/token?api-version=2019-08-01&resource=R`` with
  ``X-IDENTITY-HEADER`` equal to ``--identity-header`` (App Service /
  Container Apps ``IDENTITY_ENDPOINT``).

Lifetime: ``--token-lifetime`` seconds (default 3600).  ``/_mock/stats`` counts
``token_requests`` (issued or refused).  A rule with ``path_suffix`` matching
the token path can make the endpoint fail like any other path.
"""

import base64
import hashlib
import hmac
import json
import math
import time
from urllib.parse import parse_qsl

SCOPE = "https://cognitiveservices.azure.com/.default"
RESOURCE = "https://cognitiveservices.azure.com"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _sign(secret, payload):
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]


def issue(secret, lifetime, audience=RESOURCE):
    """A token valid for at least `lifetime` seconds from now (the expiry is whole
    seconds: rounded up, so a token never dies before the expires_in it was sent with)."""
    exp = int(math.ceil(time.time())) + int(lifetime)
    payload = "mocktok.%d.%s" % (exp, audience.replace(".", "_"))
    return payload + "." + _sign(secret, payload), exp


def check(secret, token):
    """None when the token is good, else why not ("invalid" / "expired")."""
    payload, _, mac = (token or "").rpartition(".")
    if not payload.startswith("mocktok.") or not hmac.compare_digest(mac, _sign(secret, payload)):
        return "invalid"
    try:
        exp = int(payload.split(".")[1])
    except (IndexError, ValueError):
        return "invalid"
    return "expired" if exp <= time.time() else None


def is_token_path(path):
    return path.endswith("/oauth2/v2.0/token") or path in ("/metadata/identity/oauth2/token",
                                                          "/msi/token")


def aad_error(code, number, description):
    return {"error": code, "error_description": "AADSTS%d: %s" % (number, description),
            "error_codes": [number], "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": "00000000-0000-0000-0000-000000000000",
            "correlation_id": "00000000-0000-0000-0000-000000000000"}


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_certificate_assertion(pem_path, client, assertion, path):
    """None when the assertion is a JWT the certificate in pem_path signed for
    client and this token path, else why not."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    try:
        head, claims, sig = assertion.split(".")
        header = json.loads(_b64url_decode(head))
        body = json.loads(_b64url_decode(claims))
        with open(pem_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        cert.public_key().verify(_b64url_decode(sig), (head + "." + claims).encode(),
                                 padding.PKCS1v15(), hashes.SHA256())
    except Exception as e:                          # noqa: BLE001 - any flaw refuses it
        return "bad signature or format (%s)" % type(e).__name__
    x5t = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).decode().rstrip("=")
    now = time.time()
    if header.get("alg") != "RS256" or header.get("x5t") != x5t:
        return "wrong alg or x5t"
    if not str(body.get("aud", "")).endswith(path) or body.get("iss") != client \
            or body.get("sub") != client:
        return "wrong aud, iss or sub"
    if not (body.get("nbf", 0) <= now + 60 < body.get("exp", 0) + 60):
        return "expired or not yet valid"
    return None


def _client_credentials(cfg, form, path="/oauth2/v2.0/token"):
    """(status, body) for the Entra v2 token endpoint."""
    if form.get("grant_type") != "client_credentials":
        return 400, aad_error("unsupported_grant_type", 70003,
                              "The app requested an unsupported grant type.")
    if form.get("scope") != SCOPE:
        return 400, aad_error("invalid_scope", 70011,
                              "The provided value for the input parameter 'scope' is not valid.")
    client = form.get("client_id", "")
    if "client_assertion" in form and client in cfg.entra_certificates:
        why = None if form.get("client_assertion_type") == ASSERTION_TYPE else "wrong type"
        why = why or check_certificate_assertion(cfg.entra_certificates[client], client,
                                                 form["client_assertion"], path)
        if why:
            return 401, aad_error("invalid_client", 700027,
                                  "Client assertion failed signature validation: " + why)
    elif "client_assertion" in form:
        if form.get("client_assertion_type") != ASSERTION_TYPE or not cfg.entra_assertion \
                or not hmac.compare_digest(form["client_assertion"], cfg.entra_assertion):
            return 401, aad_error("invalid_client", 700024,
                                  "Client assertion is not within its valid time range.")
    elif client not in cfg.entra_clients:
        return 400, aad_error("unauthorized_client", 700016,
                              "Application with identifier '%s' was not found in the directory."
                              % client)
    elif not hmac.compare_digest(form.get("client_secret", ""), cfg.entra_clients[client]):
        return 401, aad_error("invalid_client", 7000215, "Invalid client secret provided.")
    token, exp = issue(cfg.token_secret, cfg.token_lifetime)
    return 200, {"token_type": "Bearer", "expires_in": cfg.token_lifetime,
                 "ext_expires_in": cfg.token_lifetime, "access_token": token}


def _managed_identity(cfg, path, params, headers):
    if path == "/msi/token":
        if not cfg.identity_header or headers.get("X-IDENTITY-HEADER") != cfg.identity_header:
            return 401, {"statusCode": 401, "message": "Unauthorized: missing X-IDENTITY-HEADER"}
    elif headers.get("Metadata") != "true":
        return 400, {"error": "invalid_request",
                     "error_description": "Required metadata header not specified"}
    resource = params.get("resource", "").rstrip("/")
    if resource != RESOURCE:
        return 400, {"error": "invalid_resource",
                     "error_description": "AADSTS500011: The resource principal named %s was "
                                          "not found in the tenant." % resource}
    token, exp = issue(cfg.token_secret, cfg.token_lifetime)
    return 200, {"access_token": token, "expires_in": str(cfg.token_lifetime),
                 "expires_on": str(exp), "resource": RESOURCE + "/", "token_type": "Bearer"}


def answer(cfg, method, path, query, headers, raw):
    """(status, JSON body) for a token request; the caller records and sends it."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if path.endswith("/oauth2/v2.0/token"):
        if method != "POST":
            return 405, aad_error("invalid_request", 900561,
                                  "The endpoint only accepts POST requests.")
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return _client_credentials(cfg, form, path)
    if method != "GET":
        return 405, {"error": "invalid_request", "error_description": "GET only"}
    return _managed_identity(cfg, path, params, headers)


def bearer_refusal(cfg, headers):
    """None when the request may pass on its Bearer token, else an Azure 401 body.
    Only asked when the mock has a token secret and the request has no api-key."""
    auth = headers.get("Authorization") or ""
    if not auth.startswith("Bearer "):
        return None if cfg.api_key is None else {"error": {"code": "401", "message": (
            "Access denied due to invalid subscription key or wrong API endpoint.")}}
    why = check(cfg.token_secret, auth[len("Bearer "):].strip())
    if why is None:
        return None
    if why == "expired":
        return {"error": {"code": "401", "message": "Unauthorized. Access token has expired."}}
    return {"error": {"code": "401", "message": "Unauthorized. Access token is missing, invalid, "
                                                "audience is incorrect (https://cognitiveservices."
                                                "azure.com), or have expired."}}


def add_arguments(ap):
    ap.add_argument("--token-secret", default=None,
                    help="accept Bearer tokens signed with this secret and serve the token "
                         "endpoints (Entra client credentials, IMDS, App Service)")
    ap.add_argument("--token-lifetime", type=int, default=3600, help="seconds a token lives")
    ap.add_argument("--entra-client", action="append", default=[], metavar="ID=SECRET",
                    help="a service principal the token endpoint knows (repeatable)")
    ap.add_argument("--entra-certificate", action="append", default=[], metavar="ID=PEM",
                    help="a service principal authenticating with the certificate in PEM "
                         "(repeatable)")
    ap.add_argument("--entra-assertion", default=None,
                    help="the client_assertion (federated token) the endpoint accepts")
    ap.add_argument("--identity-header", default=None,
                    help="the X-IDENTITY-HEADER value /msi/token requires")


def finish_arguments(ap, a):
    clients = {}
    for c in a.entra_client:
        cid, sep, secret = c.partition("=")
        if not cid or not sep:
            ap.error("bad --entra-client %r" % c)
        clients[cid] = secret
    a.entra_clients = clients
    certs = {}
    for c in a.entra_certificate:
        cid, sep, pem = c.partition("=")
        if not cid or not sep or not pem:
            ap.error("bad --entra-certificate %r" % c)
        certs[cid] = pem
    a.entra_certificates = certs
    if a.token_lifetime < 1:
        ap.error("--token-lifetime must be at least 1")
