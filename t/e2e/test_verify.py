# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""POST /instances/verify/{name}: every check of one instance, without a token spent."""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import MPMS, assert_openai_error, make_server, request, serving
from harness import closed_port
from mockclient import start_mock

KEY = "key-verify-3c9e1f7a5b2d"
WRONG = "key-verify-wrong-8e4d6a0c"
ADMIN = "admin-verify-91b27f4e0d"
TIMEOUT = 2                       # AOProxyConnectTimeout of the test server, seconds

DEPLOYMENTS = {"dep-chat": "gpt-4o", "dep-embed": "text-embedding-3-small",
               "dep-slow": "gpt-4o"}


def inst(name, base, models, key=KEY, enabled=True):
    deps = ", ".join('%s: "%s"' % (m, d) for m, d in models)
    return """\
  - name: "{name}"
    api_key: "{key}"
    api_base: "{base}"
    api_version: "2024-10-21"
    enabled: {enabled}
    supported_models: [{models}]
    model_deployments: {{ {deps} }}
""".format(name=name, key=key, base=base, enabled="true" if enabled else "false",
           models=", ".join('"%s"' % m for m, _ in models), deps=deps)


CHAT_EMBED = [("gpt-4o", "dep-chat"), ("text-embedding-3-small", "dep-embed")]


class TlsListener:
    """Accepts TLS with a self-signed certificate that nobody trusts."""

    def __init__(self, root):
        cert, key = os.path.join(root, "cert.pem"), os.path.join(root, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-subj", "/CN=127.0.0.1", "-days", "1", "-keyout", key,
                        "-out", cert], check=True, capture_output=True)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(5)
                with self.ctx.wrap_socket(conn, server_side=True):
                    self.handshakes += 1
            except (OSError, ssl.SSLError):
                self.handshakes += 1
                conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def vmock():
    m = start_mock(name="verify", api_key=KEY, deployments=DEPLOYMENTS)
    yield m
    m.stop()


@pytest.fixture(scope="module")
def tls():
    root = tempfile.mkdtemp(prefix="aop-e2e-tls-")
    t = TlsListener(root)
    yield t
    t.close()
    shutil.rmtree(root, ignore_errors=True)


def fleet(mock, tls_port):
    base = "http://127.0.0.1:%d" % mock.port
    return 'routing: { strategy: "failover", retries: 3, timeout: 20 }\ninstances:\n' + "".join([
        inst("good", base, CHAT_EMBED),
        inst("badkey", base, CHAT_EMBED, key=WRONG),
        inst("partial", base + "/", [("gpt-4o", "dep-chat"), ("gpt-4", "dep-missing"),
                                     ("text-embedding-3-small", "dep-embed")]),
        inst("off", base, CHAT_EMBED, enabled=False),
        inst("slow", base, [("gpt-4o", "dep-slow"), ("text-embedding-3-small", "dep-embed")]),
        inst("deadport", "http://127.0.0.1:%d" % closed_port(), CHAT_EMBED),
        inst("nodns", "http://nonexistent.invalid:8080", CHAT_EMBED),
        inst("selfsigned", "https://127.0.0.1:%d" % tls_port, CHAT_EMBED),
    ])


@pytest.fixture(scope="module", params=MPMS)
def verify_server(request, vmock, tls):
    yield from serving(request, make_server(request.param, fleet(vmock, tls.port),
                                            env={"ADMIN_API_KEY": ADMIN},
                                            extra_conf="AOProxyConnectTimeout %d" % TIMEOUT))


@pytest.fixture(autouse=True)
def checked(request, vmock):
    """A clean mock before each test; after it, no unexpected [error] and no key in the
    server's logs."""
    vmock.client.reset()
    yield
    srv = request.node.funcargs.get("verify_server")
    if srv is not None:
        bad = srv.unexpected_errors()
        assert not bad, "\n".join(bad)
        logs = srv.read_log() + srv.read_log(srv.access_log)
        assert KEY not in logs and WRONG not in logs


def verify(srv, name, admin=ADMIN):
    headers = {"X-Admin-API-Key": admin} if admin is not None else {}
    return request(srv, "POST", "/instances/verify/" + name, headers=headers)


def report(srv, name):
    resp = verify(srv, name)
    assert resp.status == 200, resp.body
    assert resp.header("Content-Type").startswith("application/json")
    text = resp.body.decode()
    assert KEY not in text and WRONG not in text
    body = resp.json()
    assert body["instance"] == name
    assert body["tokens_spent"] == 0
    assert body["ok"] == all(c["ok"] for c in body["checks"])
    for c in body["checks"]:
        assert isinstance(c["ok"], bool) and isinstance(c["ms"], (int, float)), c
        assert isinstance(c.get("detail"), str) and c["detail"], c
    return body


def checks(body, name):
    return [c for c in body["checks"] if c["check"] == name]


def one(body, name):
    found = checks(body, name)
    assert len(found) == 1, body
    return found[0]


def names(body):
    return [c["check"] for c in body["checks"]]


def azure_probes(mock):
    return [r for r in mock.client.requests() if r["path"].startswith("/openai/")]


def test_a_sound_instance_passes_every_check(verify_server, vmock):
    body = report(verify_server, "good")
    assert body["ok"] is True
    assert names(body) == ["config", "dns", "connect", "auth", "deployment", "deployment"]
    assert one(body, "config")["enabled"] is True
    assert "127.0.0.1" in one(body, "dns")["addresses"]
    assert one(body, "connect")["tls"] is False
    auth = one(body, "auth")
    assert auth["ok"] is True and auth["status"] == 400 and auth["deployment"] == "dep-chat"
    deps = checks(body, "deployment")
    assert [(d["model"], d["deployment"], d["operation"], d["status"], d["ok"]) for d in deps] \
        == [("gpt-4o", "dep-chat", "chat/completions", 400, True),
            ("text-embedding-3-small", "dep-embed", "embeddings", 400, True)]


def test_probes_spend_no_token_and_carry_only_the_api_key(verify_server, vmock):
    report(verify_server, "good")
    probes = azure_probes(vmock)
    assert [(p["method"], p["path"]) for p in probes] == [
        ("POST", "/openai/deployments/dep-chat/chat/completions"),
        ("POST", "/openai/deployments/dep-embed/embeddings")]
    for p in probes:
        assert p["body"] == "{}" and p["json"] == {}
        assert p["params"] == {"api-version": "2024-10-21"}
        headers = {k.lower(): v for k, v in p["headers"]}
        assert headers["api-key"] == KEY
        assert "authorization" not in headers
        assert headers["content-type"] == "application/json"
        assert p["status"] == 400
    assert vmock.client.stats()["tokens_served"] == 0


def test_a_wrong_key_fails_auth_and_skips_the_deployments(verify_server, vmock):
    body = report(verify_server, "badkey")
    assert body["ok"] is False
    assert [c["ok"] for c in body["checks"][:3]] == [True, True, True]
    auth = one(body, "auth")
    assert auth["ok"] is False and auth["status"] == 401
    assert "refused the api_key" in auth["detail"]
    first, second = checks(body, "deployment")
    assert first["ok"] is False and first["status"] == 401 and "skipped" not in first
    assert second["ok"] is False and second["skipped"] is True and second["status"] is None
    # One probe was enough to learn that.
    assert len(azure_probes(vmock)) == 1


def test_a_missing_deployment_fails_alone(verify_server, vmock):
    body = report(verify_server, "partial")
    assert body["ok"] is False
    assert one(body, "auth")["ok"] is True
    deps = {d["model"]: d for d in checks(body, "deployment")}
    assert [d["model"] for d in checks(body, "deployment")] == \
        ["gpt-4o", "gpt-4", "text-embedding-3-small"]
    assert deps["gpt-4o"]["ok"] is True
    assert deps["text-embedding-3-small"]["ok"] is True
    assert deps["gpt-4"]["ok"] is False and deps["gpt-4"]["status"] == 404
    assert "DeploymentNotFound" in deps["gpt-4"]["detail"]
    assert "skipped" not in deps["gpt-4"]
    log = verify_server.read_log()
    assert "AOP00071" in log and "deployment gpt-4 (404 DeploymentNotFound" in log


def test_a_disabled_instance_is_verified_all_the_same(verify_server, vmock):
    body = report(verify_server, "off")
    assert body["ok"] is True
    config = one(body, "config")
    assert config["ok"] is True and config["enabled"] is False
    assert "disabled" in config["detail"]
    assert len(azure_probes(vmock)) == 2


def test_a_dead_port_fails_connect(verify_server, vmock):
    body = report(verify_server, "deadport")
    assert body["ok"] is False
    assert one(body, "dns")["ok"] is True
    connect = one(body, "connect")
    assert connect["ok"] is False and "skipped" not in connect
    assert "refused" in connect["detail"].lower()
    assert one(body, "auth")["skipped"] is True
    assert all(d["skipped"] for d in checks(body, "deployment"))
    assert len(checks(body, "deployment")) == 2


def test_an_unresolvable_host_fails_dns(verify_server, vmock):
    body = report(verify_server, "nodns")
    assert body["ok"] is False
    dns = one(body, "dns")
    assert dns["ok"] is False and dns["addresses"] == [] and dns["host"] == "nonexistent.invalid"
    for c in body["checks"][2:]:
        assert c["ok"] is False and c["skipped"] is True, c
    assert names(body) == ["config", "dns", "connect", "auth", "deployment", "deployment"]


def test_an_untrusted_certificate_fails_connect(verify_server, vmock):
    body = report(verify_server, "selfsigned")
    connect = one(body, "connect")
    assert connect["tls"] is True and connect["ok"] is False
    assert "TCP connection to 127.0.0.1" in connect["detail"]
    assert "certificate" in connect["detail"].lower()
    assert one(body, "auth")["skipped"] is True


def test_rate_limited_means_it_exists_and_5xx_fails(verify_server, vmock):
    vmock.client.rules([{"deployment": "dep-chat", "status": 429, "times": 1},
                        {"deployment": "dep-embed", "status": 500, "times": 1}])
    body = report(verify_server, "good")
    chat, embed = checks(body, "deployment")
    assert chat["ok"] is True and chat["status"] == 429 and chat["detail"] == "rate limited: exists"
    assert embed["ok"] is False and embed["status"] == 500
    assert one(body, "auth")["ok"] is True
    assert body["ok"] is False


def test_an_undecided_first_probe_does_not_decide_auth(verify_server, vmock):
    vmock.client.rules([{"deployment": "dep-chat", "status": 503, "times": 1}])
    body = report(verify_server, "good")
    auth = one(body, "auth")
    assert auth["ok"] is True and auth["deployment"] == "dep-embed"
    assert [d["ok"] for d in checks(body, "deployment")] == [False, True]


def test_a_hanging_deployment_times_out_within_bounds(verify_server, vmock):
    vmock.client.rules([{"deployment": "dep-slow", "action": "hang", "hang_ms": 10000}])
    start = time.monotonic()
    body = report(verify_server, "slow")
    elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT * 4, elapsed          # timeout * (2 + models)
    slow, embed = checks(body, "deployment")
    assert slow["ok"] is False and slow["status"] is None
    assert "timeout" in slow["detail"]
    assert TIMEOUT * 1000 * 0.9 <= slow["ms"] < TIMEOUT * 1000 * 1.5
    assert embed["ok"] is True
    assert one(body, "auth")["ok"] is True


def test_the_admin_key_is_needed(verify_server, vmock):
    assert_openai_error(verify(verify_server, "good", admin=None), 401,
                        code="invalid_admin_key")
    assert_openai_error(verify(verify_server, "good", admin=ADMIN + "x"), 401,
                        code="invalid_admin_key")
    assert_openai_error(verify(verify_server, "nosuch", admin=None), 401,
                        code="invalid_admin_key")
    assert azure_probes(vmock) == []


def test_an_unknown_instance_is_404(verify_server, vmock):
    assert_openai_error(verify(verify_server, "nosuch"), 404, code="instance_not_found",
                        param="name")
    assert_openai_error(request(verify_server, "GET", "/instances/verify/good"), 405)


def test_the_old_path_leads_here(verify_server, vmock):
    resp = request(verify_server, "POST", "/verification/instances/good",
                   headers={"X-Admin-API-Key": ADMIN})
    assert resp.status == 301
    resp = request(verify_server, "POST", resp.header("Location"),
                   headers={"X-Admin-API-Key": ADMIN})
    assert resp.status == 200 and resp.json()["ok"] is True


def test_verify_is_refused_without_a_configured_admin_key(vmock, tls):
    srv = make_server("event", fleet(vmock, tls.port))
    srv.env.pop("ADMIN_API_KEY", None)
    srv.start()
    try:
        assert_openai_error(verify(srv, "good", admin="anything"), 403,
                            code="admin_key_not_configured")
        assert azure_probes(vmock) == []
    finally:
        srv.stop()
    shutil.rmtree(srv.root, ignore_errors=True)


def test_verify_works_after_a_graceful_restart(verify_server, vmock):
    """libcurl is set up again with the new configuration cycle."""
    verify_server.graceful()
    assert report(verify_server, "good")["ok"] is True
    assert len(azure_probes(vmock)) == 2
