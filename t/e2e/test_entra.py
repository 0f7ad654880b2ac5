# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Entra ID to Azure (issue 16, item 5): instances with auth.type entra (a client
secret, or a certificate),
managed_identity (IMDS and App Service's IDENTITY_ENDPOINT) and workload_identity get
their tokens from a mock token endpoint, renewed in the background by one process,
and send them as Authorization: Bearer to a mock Azure that refuses api-key."""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest

from conftest import MAX_BODY, MPMS, make_server, request, serving
import mock_entra
from mockclient import start_mock
from test_operator import key_file

TOKEN_SECRET = "mock-token-signing-secret-71c3"
GOOD = "sp-secret-GOOD-4f1a9b2c7d"
GOOD2 = "sp-secret-GOOD2-8e2d5a1f0c"
GOOD3 = "sp-secret-GOOD3-6a0c2e4b8d"
WRONG = "sp-secret-WRONG-3b6e9d0a5f"
ASSERTION = "federated-jwt-assertion-9d8c7b6a"
ID_HEADER = "identity-header-secret-5e4f3a2b"
ADMIN = "admin-entra-2f9e8d7c6b5a"
LIFETIME = 2                      # seconds: the renewal test's short-lived tokens


@pytest.fixture(scope="module")
def certificate():
    """A service principal's certificate: (the PEM of key and certificate, the PEM of
    the certificate alone)."""
    root = tempfile.mkdtemp(prefix="aop-entra-cert-")
    key, cert = os.path.join(root, "key.pem"), os.path.join(root, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=app-cert", "-days", "1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    with open(key) as k, open(cert) as c:
        both = k.read() + c.read()
    yield both, cert
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def idp(certificate):
    """The token endpoints (Entra v2, IMDS, /msi/token), 2-second tokens."""
    m = start_mock(name="idp", extra_args=[
        "--entra-certificate", "app-cert=" + certificate[1],
        "--token-secret", TOKEN_SECRET, "--token-lifetime", str(LIFETIME),
        "--entra-client", "app1=" + GOOD, "--entra-client", "app2=" + GOOD2,
        "--entra-client", "app-wl=unused-secret-000",
        "--entra-assertion", ASSERTION, "--identity-header", ID_HEADER])
    yield m
    m.stop()


@pytest.fixture(scope="module")
def idp_long():
    """A second token endpoint whose tokens live an hour: a fetch there is never a
    renewal that was due anyway."""
    m = start_mock(name="idp-long", extra_args=[
        "--token-secret", TOKEN_SECRET, "--token-lifetime", "3600",
        "--entra-client", "app-rf=" + GOOD3])
    yield m
    m.stop()


class Hanging:
    """A token endpoint that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for c in self.accepted:
            c.close()


@pytest.fixture(scope="module")
def hanging():
    h = Hanging()
    yield h
    h.close()


@pytest.fixture(scope="module")
def azure():
    """An Azure OpenAI resource with local auth disabled: Bearer tokens only."""
    m = start_mock(name="azure", deployments={
        "d-entra": "gpt-4o-mini", "d-bad": "gpt-4o-mini", "d-mi": "gpt-4o-mini",
        "d-msi": "gpt-4o-mini", "d-wl": "gpt-4o-mini", "d-cert": "gpt-4o-mini",
        "d-rfs": "gpt-4o-mini", "d-hang": "gpt-4o-mini", "d-api": "gpt-4o-mini"},
        extra_args=["--token-secret", TOKEN_SECRET])
    yield m
    m.stop()


def instance(name, azure, models, auth, priority=100):
    deps = ", ".join('%s: "%s"' % (m, d) for m, d in models)
    return """\
  - name: "{name}"
    api_base: "http://127.0.0.1:{port}"
    api_version: "2024-10-21"
    priority: {priority}
    supported_models: [{models}]
    model_deployments: {{ {deps} }}
    auth:
{auth}
""".format(name=name, port=azure.port, priority=priority, deps=deps,
           models=", ".join('"%s"' % m for m, _ in models),
           auth="".join("      %s: %s\n" % (k, json.dumps(v)) for k, v in auth.items()))


def fleet_yaml(idp, azure, idp_long, hanging):
    authority = "http://127.0.0.1:%d" % idp.port
    return "routing: { strategy: \"failover\", retries: 3, timeout: 20 }\ninstances:\n" + \
        instance("ent", azure, [("m-entra", "d-entra"), ("m-shared", "d-entra"),
                                ("m-refuse", "d-entra")],
                 {"type": "entra", "tenant_id": "tenant-sp", "client_id": "app1",
                  "client_secret_file": "sp.secret", "authority_host": authority}) + \
        instance("bad", azure, [("m-shared", "d-bad")],
                 {"type": "entra", "tenant_id": "tenant-sp", "client_id": "app2",
                  "client_secret": WRONG, "authority_host": authority}, priority=1) + \
        instance("mi", azure, [("m-mi", "d-mi")],
                 {"type": "managed_identity", "authority_host": authority}) + \
        instance("msi", azure, [("m-msi", "d-msi")], {"type": "managed_identity"}) + \
        instance("crt", azure, [("m-cert", "d-cert")],
                 {"type": "entra", "tenant_id": "tenant-cert", "client_id": "app-cert",
                  "client_certificate_file": "sp.pem", "authority_host": authority}) + \
        instance("wl", azure, [("m-wl", "d-wl")],
                 {"type": "workload_identity", "tenant_id": "tenant-wl",
                  "client_id": "app-wl", "federated_token_file": "wl.token",
                  "authority_host": authority}) + \
        instance("rfs", azure, [("m-refuse", "d-rfs")],
                 {"type": "entra", "tenant_id": "tenant-rf", "client_id": "app-rf",
                  "client_secret": GOOD3,
                  "authority_host": "http://127.0.0.1:%d" % idp_long.port}, priority=1) + \
        instance("hang", azure, [("m-hang", "d-hang")],
                 {"type": "entra", "tenant_id": "tenant-hang", "client_id": "app-hang",
                  "client_secret": "unused-secret-000",
                  "authority_host": "http://127.0.0.1:%d" % hanging.port})


@pytest.fixture(scope="module", params=MPMS)
def server(request, idp, azure, certificate, idp_long, hanging):
    # Tokens here live 2 s.  Under prefork the token task runs in one child (mod_watchdog's
    # singleton); when prefork stops an idle child that is it, another takes the task
    # over only after a second or more (10 s seen while a fetch hung), longer than such
    # a token has left.  So no child is stopped for being idle here: every test below sees the
    # renewal itself, not the takeover (real tokens live an hour, renewed minutes
    # ahead).
    srv = make_server(request.param, fleet_yaml(idp, azure, idp_long, hanging),
                      extra_conf="AOProxyMaxBodySize %d\nMaxSpareServers 16" % MAX_BODY
                      if request.param == "prefork" else "", env={
        "ADMIN_API_KEY": ADMIN,
        "IDENTITY_ENDPOINT": "http://127.0.0.1:%d/msi/token" % idp.port,
        "IDENTITY_HEADER": ID_HEADER})
    key_file(srv, "sp.secret", GOOD + "\n")
    key_file(srv, "wl.token", ASSERTION + "\n")
    key_file(srv, "sp.pem", certificate[0])
    yield from serving(request, srv)


@pytest.fixture(autouse=True)
def each_test(server, idp, azure, idp_long):
    """"bad" has a wrong secret and "hang"'s token endpoint never answers: their
    AOP00300 lines come during every test.  The mocks'
    records start empty (they serve both MPMs' servers)."""
    server.expect_error("AOP00300")
    idp.client.reset()
    idp_long.client.reset()
    azure.client.reset()


def chat(srv, model):
    return request(srv, "POST", "/v1/chat/completions",
                   {"model": model, "messages": [{"role": "user", "content": "hello"}]})


def wait_for(what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.1)
    return what()


def instances(srv):
    resp = request(srv, "GET", "/instances")
    assert resp.status == 200, resp.body
    return resp


def health(srv, name):
    resp = request(srv, "GET", "/instances/" + name)
    assert resp.status == 200, resp.body
    assert_no_secret(resp.body.decode())
    return resp.json()["health"]


def token_requests(idp, client_id):
    """The token requests of one service principal."""
    return sum(1 for r in idp.client.requests()
               if "client_id=%s&" % client_id in r["body"] + "&")


def sent_bearer(azure, deployment):
    recs = [r for r in azure.client.requests() if r.get("deployment") == deployment]
    assert recs, "no request reached deployment %s" % deployment
    headers = dict((k.lower(), v) for k, v in recs[-1]["headers"])
    return headers


def assert_no_secret(text):
    for s in (GOOD, GOOD2, WRONG, ASSERTION, ID_HEADER, TOKEN_SECRET):
        assert s not in text, "a secret appears"
    assert "mocktok." not in text, "a token appears"


# ------------------------------------------------------------ service principal

def test_entra_instance_serves_with_a_bearer_token(server, idp, azure):
    resp = wait_for(lambda: (lambda r: r if r.status == 200 else None)(chat(server, "m-entra")))
    assert resp is not None and resp.status == 200, "no answer through the entra instance"
    headers = sent_bearer(azure, "d-entra")
    assert headers["authorization"].startswith("Bearer mocktok.")
    assert "api-key" not in headers
    assert_no_secret(resp.body.decode())


def test_tokens_renewed_in_background_once_for_all_processes(server, idp, azure):
    assert wait_for(lambda: chat(server, "m-entra").status == 200)
    before = token_requests(idp, "app1")
    errors, done, stop = [], [0], threading.Event()

    def load():
        while not stop.is_set():
            r = chat(server, "m-entra")
            if r.status != 200:
                errors.append((r.status, r.body[:200]))
            done[0] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join()
    fetched = token_requests(idp, "app1") - before
    assert not errors, errors[:5]
    assert done[0] > 40
    # 2-second tokens renewed every second (aop_token_refresh_at: at least 1 s after
    # the fetch) by the one watchdog task, not by each of prefork's 4 processes
    assert 5 <= fetched <= 11, fetched
    assert not [r for r in azure.client.requests() if r["status"] == 401]


def test_hanging_token_endpoint_delays_no_other_credential(server, idp, azure, hanging):
    """"hang"'s token endpoint accepts and never answers (each fetch waits its 10 s
    timeout): "ent"'s 2-second tokens are renewed on time all the same, since the
    fetches run side by side and none holds up the task."""
    assert wait_for(lambda: chat(server, "m-entra").status == 200)
    assert wait_for(lambda: hanging.accepted), "no fetch reached the hanging endpoint"
    before, accepted = token_requests(idp, "app1"), len(hanging.accepted)
    errors, done, stop = [], [0], threading.Event()

    def load():
        while not stop.is_set():
            r = chat(server, "m-entra")
            if r.status != 200:
                errors.append((r.status, r.body[:200]))
            done[0] += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(12)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, (len(errors), [l for l in server.read_log().splitlines()
                                      if "AOP003" in l][-40:])
    assert done[0] > 40
    # a renewal every second, though a fetch to "hang" was waiting the whole time
    assert token_requests(idp, "app1") - before >= 8
    assert len(hanging.accepted) > accepted, "the hanging endpoint was not tried again"
    assert "timed out" in health(server, "hang")["reason"].lower() or \
        "timeout" in health(server, "hang")["reason"].lower(), health(server, "hang")


# ------------------------------------------------------------ a refused token

def test_refused_token_fetches_a_new_one_and_rests_briefly(server, idp_long, azure):
    """Azure answers 401 to "rfs"'s Bearer token: the request fails over to "ent", the
    log says the token was refused (not an api key), the task fetches a new token at
    once (the old one had an hour to live), and "rfs" serves again as soon as it is in
    (a refused api key would keep it out for 5 minutes)."""
    def via_rfs():
        r = chat(server, "m-refuse")
        recs = [x for x in azure.client.requests() if x.get("deployment") == "d-rfs"]
        return r.status == 200 and recs and recs[-1]["status"] == 200

    assert wait_for(via_rfs)
    fetched = len(idp_long.client.requests())
    azure.client.reset()
    log_start = len(server.read_log())
    azure.client.rules([{"deployment": "d-rfs", "status": 401, "times": 1}])
    resp = chat(server, "m-refuse")
    assert resp.status == 200, resp.body
    got = [(x.get("deployment"), x["status"]) for x in azure.client.requests()]
    assert got == [("d-rfs", 401), ("d-entra", 200)], got
    # a new token at once, fetched by the task (not on the request path)
    assert wait_for(lambda: len(idp_long.client.requests()) > fetched, timeout=3), \
        "no new token was fetched after the refusal"
    assert wait_for(via_rfs, timeout=5), "rfs does not serve again with its new token"
    lines = server.read_log()[log_start:].splitlines()
    refused = [l for l in lines if "AOP00307" in l]
    assert refused and "instance rfs" in refused[0] and "Entra ID token" in refused[0], lines
    assert not [l for l in lines if "AOP00044" in l], "logged as a refused api key"
    assert [l for l in lines if "AOP00308" in l and "instance rfs" in l], lines
    assert_no_secret("\n".join(lines))


def test_refused_again_and_again_backs_off(server, idp_long, azure):
    """Azure keeps refusing what Entra gives: every request still succeeds (failover),
    and the new tokens are fetched ever more slowly, never one per request."""
    def via_rfs():
        r = chat(server, "m-refuse")
        recs = [x for x in azure.client.requests() if x.get("deployment") == "d-rfs"]
        return r.status == 200 and recs and recs[-1]["status"] == 200

    assert wait_for(via_rfs)
    fetched = len(idp_long.client.requests())
    azure.client.rules([{"deployment": "d-rfs", "status": 401}])
    try:
        statuses = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            statuses.append(chat(server, "m-refuse").status)
            time.sleep(0.05)
        assert set(statuses) == {200}, statuses
        refused = len([x for x in azure.client.requests()
                       if x.get("deployment") == "d-rfs" and x["status"] == 401])
        more = len(idp_long.client.requests()) - fetched
        # at once, then after 1 s, 2 s (4 s would be past the 6 s): 2 to 4 fetches
        # for dozens of requests, and "rfs" tried once per new token
        assert 2 <= more <= 4, more
        assert refused <= more + 1, (refused, more)
    finally:
        azure.client.clear_rules()
    assert wait_for(via_rfs, timeout=70), "rfs does not come back"


# ------------------------------------------------------------ a wrong secret

def test_wrong_secret_marks_the_instance_unhealthy_until_fixed(server, idp, azure):
    assert wait_for(lambda: server.read_log().count("AADSTS7000215") > 0)
    log = server.read_log()
    line = [l for l in log.splitlines() if "AOP00300" in l and "instance bad" in l][0]
    assert "AADSTS7000215" in line
    # unhealthy and never picked: m-shared goes to "ent" though "bad" comes first
    h = health(server, "bad")
    assert h["status"] == "unhealthy" and "AADSTS7000215" in h["reason"], h
    resp = instances(server)
    assert_no_secret(resp.body.decode())
    resp = request(server, "GET", "/stats/health")
    assert_no_secret(resp.body.decode())
    assert "unhealthy" in resp.body.decode()
    for _ in range(3):
        assert chat(server, "m-shared").status == 200
    assert not [r for r in azure.client.requests() if r.get("deployment") == "d-bad"]
    # the fix through the API takes effect at once (a changed credential is fetched)
    resp = request(server, "PATCH", "/instances/bad",
                   {"auth.client_secret": GOOD2}, headers={"X-Admin-API-Key": ADMIN})
    assert resp.status == 200, resp.body
    assert_no_secret(resp.body.decode())
    assert wait_for(lambda: health(server, "bad")["status"] != "unhealthy", timeout=10)
    assert chat(server, "m-shared").status == 200
    assert sent_bearer(azure, "d-bad")["authorization"].startswith("Bearer mocktok.")
    assert wait_for(lambda: re.search(r"AOP00302: instance bad: Entra ID token .* obtained",
                                      server.read_log()))
    # back to the wrong one, for the other MPM's run (and the module's other tests)
    resp = request(server, "PATCH", "/instances/bad",
                   {"auth.client_secret": WRONG}, headers={"X-Admin-API-Key": ADMIN})
    assert resp.status == 200, resp.body
    assert wait_for(lambda: health(server, "bad")["status"] == "unhealthy")


def test_secret_file_read_again_at_reload(server, idp):
    """A rotated client_secret_file takes effect at POST /config/reload: a wrong one
    leaves the instance unhealthy, the right one brings it back."""
    def reload():
        resp = request(server, "POST", "/config/reload", headers={"X-Admin-API-Key": ADMIN})
        assert resp.status == 200, resp.body
        assert_no_secret(resp.body.decode())

    key_file(server, "sp.secret", WRONG + "\n")
    try:
        reload()
        assert wait_for(lambda: "AADSTS7000215" in health(server, "ent")["reason"])
        assert health(server, "ent")["status"] == "unhealthy"
        assert chat(server, "m-entra").status in (429, 502, 503)
    finally:
        key_file(server, "sp.secret", GOOD + "\n")
        reload()
    assert wait_for(lambda: health(server, "ent")["status"] == "healthy")
    assert chat(server, "m-entra").status == 200


def test_tokens_survive_a_graceful_restart(server, idp_long, azure):
    """The token table outlives a graceful restart: "rfs" (hour-long tokens) serves the
    first request after it with the token it had, and nothing is fetched again.  (Not
    "ent": its 2-second tokens may run out while the restart replaces the children
    that renew them, which real tokens, renewed minutes ahead, never do.)"""
    def via_rfs():
        r = chat(server, "m-refuse")
        recs = [x for x in azure.client.requests() if x.get("deployment") == "d-rfs"]
        return r.status == 200 and recs and recs[-1]["status"] == 200

    assert wait_for(via_rfs)
    fetched = len(idp_long.client.requests())
    server.graceful()
    azure.client.reset()
    resp = chat(server, "m-refuse")
    assert resp.status == 200, resp.body
    got = [(x.get("deployment"), x["status"]) for x in azure.client.requests()]
    assert got == [("d-rfs", 200)], got
    assert len(idp_long.client.requests()) == fetched, "a token was fetched again"


# ------------------------------------------------------------ managed and workload identity

@pytest.mark.parametrize("model,deployment,path", [
    ("m-mi", "d-mi", "/metadata/identity/oauth2/token"),
    ("m-msi", "d-msi", "/msi/token"),
    ("m-wl", "d-wl", "/tenant-wl/oauth2/v2.0/token"),
    ("m-cert", "d-cert", "/tenant-cert/oauth2/v2.0/token"),
])
def test_identities(server, idp, azure, certificate, model, deployment, path):
    resp = wait_for(lambda: (lambda r: r if r.status == 200 else None)(chat(server, model)))
    assert resp is not None and resp.status == 200, model
    assert sent_bearer(azure, deployment)["authorization"].startswith("Bearer mocktok.")
    # (renewed every second: the records, emptied before the test, soon have one)
    reqs = wait_for(lambda: [r for r in idp.client.requests()
                             if r["path"] == path and r["status"] == 200])
    assert reqs, "no successful token request at %s" % path
    if path == "/msi/token":
        headers = dict((k.lower(), v) for k, v in reqs[-1]["headers"])
        assert headers["x-identity-header"] == ID_HEADER
    if path.startswith("/tenant-cert"):
        # a client assertion signed with the certificate's key (the mock checked it)
        form = dict(urllib.parse.parse_qsl(reqs[-1]["body"]))
        assert "client_secret" not in form
        assertion = form["client_assertion"]
        assert mock_entra.check_certificate_assertion(certificate[1], "app-cert", assertion,
                                                      path) is None
        # the mock does check the signature: one byte changed is refused
        head, claims, sig = assertion.split(".")
        forged = ".".join([head, claims, ("A" if sig[0] != "A" else "B") + sig[1:]])
        assert mock_entra.check_certificate_assertion(certificate[1], "app-cert", forged,
                                                      path) is not None
    if path.startswith("/metadata"):
        headers = dict((k.lower(), v) for k, v in reqs[-1]["headers"])
        assert headers["metadata"] == "true"


# ------------------------------------------------------------ the API's nested auth

def test_api_accepts_a_nested_auth_object(server, idp, azure):
    """POST /instances/add and PATCH take "auth": {...} as the YAML writes it, with the
    flat keys' rules; GET shows the flat keys, the secret masked."""
    admin = {"X-Admin-API-Key": ADMIN}
    authority = "http://127.0.0.1:%d" % idp.port
    body = {"name": "nested", "api_base": "http://127.0.0.1:%d" % azure.port,
            "api_version": "2024-10-21", "supported_models": ["m-nested"],
            "model_deployments": {"m-nested": "d-api"},
            "auth": {"type": "entra", "tenant_id": "tenant-n", "client_id": "app2",
                     "client_secret": WRONG, "authority_host": authority}}
    # the same rules as the flat keys: a missing client_id, an unknown key, a bad
    # type, both shapes at once
    for auth, param in ((dict(body["auth"], client_id=None), "auth.client_id"),
                        (dict(body["auth"], secret="x"), "auth.secret"),
                        (dict(body["auth"], type="kerberos"), "auth.type"),
                        ("entra", "auth")):
        resp = request(server, "POST", "/instances/add", dict(body, auth=auth), headers=admin)
        assert resp.status == 400, resp.body
        assert resp.json()["error"]["param"] == param, resp.body
        assert_no_secret(resp.body.decode())
    resp = request(server, "POST", "/instances/add", dict(body, **{"auth.type": "entra"}),
                   headers=admin)
    assert resp.status == 400 and resp.json()["error"]["param"] == "auth", resp.body
    try:
        resp = request(server, "POST", "/instances/add", body, headers=admin)
        assert resp.status == 201, resp.body
        assert_no_secret(resp.body.decode())
        got = request(server, "GET", "/instances/nested").json()["config"]
        assert got["auth.type"] == "entra" and got["auth.tenant_id"] == "tenant-n"
        assert got["auth.client_secret"] == "***" and "auth" not in got, got
        # the wrong secret: unhealthy; the right one through a nested PATCH (the mask
        # and the keys not named are kept)
        assert wait_for(lambda: "AADSTS7000215" in health(server, "nested")["reason"])
        resp = request(server, "PATCH", "/instances/nested",
                       {"auth": {"client_secret": GOOD2}}, headers=admin)
        assert resp.status == 200, resp.body
        assert_no_secret(resp.body.decode())
        got = request(server, "GET", "/instances/nested").json()["config"]
        assert got["auth.client_id"] == "app2" and got["auth.client_secret"] == "***", got
        resp = wait_for(lambda: (lambda r: r if r.status == 200 else None)(
            chat(server, "m-nested")))
        assert resp is not None, "the nested instance does not serve"
        assert sent_bearer(azure, "d-api")["authorization"].startswith("Bearer mocktok.")
        resp = request(server, "PATCH", "/instances/nested",
                       {"auth": {"client_secret": "***", "client_id": "app1"}},
                       headers=admin)
        assert resp.status == 200, resp.body
        got = request(server, "GET", "/instances/nested").json()["config"]
        assert got["auth.client_id"] == "app1" and got["auth.client_secret"] == "***", got
        # the versions name the flat fields the nested PATCH set
        hist = request(server, "GET", "/admin/instances/nested/versions", headers=admin)
        assert hist.status == 200, hist.body
        assert "auth.client_id" in hist.json()["versions"][0]["fields"], hist.body
        assert_no_secret(hist.body.decode())
    finally:
        request(server, "DELETE", "/instances/nested", headers=admin)


# ------------------------------------------------------------ verify

def test_verify_reports_the_token_step(server):
    def verify(name):
        resp = request(server, "POST", "/instances/verify/" + name,
                       headers={"X-Admin-API-Key": ADMIN})
        assert resp.status == 200, resp.body
        assert_no_secret(resp.body.decode())
        checks = resp.json()["checks"]
        return resp.json(), [c for c in checks if c["check"] == "token"]

    body, token = verify("ent")
    assert token and token[0]["ok"], body
    assert body["ok"], body
    body, token = verify("bad")
    assert token and not token[0]["ok"]
    assert token[0]["aad_code"] == "AADSTS7000215"
    assert not body["ok"]
    server.expect_error("AOP00071")


# ------------------------------------------------------------ nothing leaks

def test_no_secret_or_token_in_logs_or_answers(server):
    for path in ("/instances", "/stats", "/config", "/admin/config/effective"):
        resp = request(server, "GET", path, headers={"X-Admin-API-Key": ADMIN})
        assert_no_secret(resp.body.decode())
    assert_no_secret(server.read_log())
    access = os.path.join(server.root, "access.log")
    if os.path.exists(access):
        with open(access) as f:
            assert_no_secret(f.read())
