# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The connection pool of an instance's worker, against an https backend as Azure is:
the mock serves TLS with a certificate Apache trusts and counts the connections it
accepted (each one a TLS handshake).  By default our balancer's workers keep their
connections (sequential requests through one Apache process make one handshake);
`disable_reuse` makes a connection per request, and a PATCH switches it at once;
`pool_max` sizes mod_proxy's pool; bad values are refused with the field named."""

import http.client
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import MPMS, assert_openai_error, make_server, request
from mockclient import start_mock

KEY = "key-pool-0123456789abcdef"
ADMIN = "admin-key-pool-5e4f3a2b1c"
SEQUENTIAL = 6


@pytest.fixture(scope="module")
def cert():
    root = tempfile.mkdtemp(prefix="aop-e2e-pool-")
    crt, key = os.path.join(root, "cert.pem"), os.path.join(root, "key.pem")
    # CN and subjectAltName: mod_ssl checks the peer's name against both.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    os.chmod(root, 0o755)
    os.chmod(key, 0o644)
    yield crt, key
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_mock(cert):
    m = start_mock(name="tls", api_key=KEY, tls=cert,
                   deployments={"dep-keep": "gpt-4o-mini", "dep-fresh": "gpt-4o-mini",
                                "dep-small": "gpt-4o-mini"})
    yield m
    m.stop()


def instance(name, port, model, deployment, extra=""):
    return """\
  - name: "{name}"
    api_key: "{key}"
    api_base: "https://127.0.0.1:{port}"
    api_version: "2024-10-21"
    supported_models: ["{model}"]
    model_deployments: {{ {model}: "{dep}" }}
{extra}""".format(name=name, key=KEY, port=port, model=model, dep=deployment, extra=extra)


def pool_yaml(port):
    return "routing: { strategy: \"failover\", retries: 1, timeout: 20 }\ninstances:\n" + \
        instance("keep", port, "m-keep", "dep-keep") + \
        instance("fresh", port, "m-fresh", "dep-fresh", "    disable_reuse: true\n") + \
        instance("small", port, "m-small", "dep-small", "    pool_max: 1\n    pool_ttl: 30\n"
                 "    tcp_keepalive: true\n    connect_timeout: 3\n")


@pytest.fixture(scope="module", params=MPMS)
def pool_server(request, cert, tls_mock):
    srv = make_server(request.param, pool_yaml(tls_mock.port), env={"ADMIN_API_KEY": ADMIN},
                      extra_conf='SSLProxyCACertificateFile "%s"' % cert[0])
    srv.ssl = True
    srv.log_level = "warn aoproxy:debug proxy:debug"
    srv.start()
    yield srv
    srv.stop()
    if not request.session.testsfailed:
        shutil.rmtree(srv.root, ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_log(request):
    yield
    srv = request.node.funcargs.get("pool_server")
    if srv is not None:
        bad = srv.unexpected_errors()
        assert not bad, "\n".join(bad)


def handshakes_for(srv, mock, model, n=SEQUENTIAL):
    """The TLS connections the backend accepted while n chat requests for model went,
    one after the other, over one client connection (so through one Apache process)."""
    before = mock.client.stats()["connections"]
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    for _ in range(n):
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, data[:400]
        assert resp.getheader("Connection", "").lower() != "close"
    conn.close()
    # The control request that reads the count is a connection of its own.
    return mock.client.stats()["connections"] - before - 1


def test_default_reuses_tls_connections(pool_server, tls_mock):
    # At most one handshake: the process's pool may already hold one connection.
    assert handshakes_for(pool_server, tls_mock, "m-keep") <= 1
    assert handshakes_for(pool_server, tls_mock, "m-keep") <= 1


def test_disable_reuse_makes_a_connection_per_request(pool_server, tls_mock):
    assert handshakes_for(pool_server, tls_mock, "m-fresh") == SEQUENTIAL


def test_patch_switches_reuse_at_once(pool_server, tls_mock):
    def patch(body):
        resp = request(pool_server, "PATCH", "/instances/keep", body,
                       headers={"X-Admin-API-Key": ADMIN})
        assert resp.status == 200, resp.body[:400]
        return resp.json()
    try:
        assert patch({"disable_reuse": True})["instance"]["disable_reuse"] is True
        # A connection idle in the pool since before the change serves once more:
        # mod_proxy reads disablereuse when it gives a connection back.
        assert handshakes_for(pool_server, tls_mock, "m-keep") >= SEQUENTIAL - 1
    finally:
        patch({"disable_reuse": False})
    assert handshakes_for(pool_server, tls_mock, "m-keep") <= 1


def test_pool_max_sizes_the_pool(pool_server, tls_mock):
    """mod_proxy builds each process's pool of the worker with the instance's max
    (its debug line AH00930), the others with its default, ThreadsPerChild."""
    assert handshakes_for(pool_server, tls_mock, "m-small") <= 1
    if pool_server.mpm == "prefork":
        pytest.skip("prefork: a process has one thread, mod_proxy keeps one connection "
                    "per worker and builds no pool")
    lines = [l for l in pool_server.read_log().splitlines()
             if "AH00930" in l and ":%d)" % tls_mock.port in l]
    assert lines, "no pool initialized for the mock's workers"
    maxes = sorted({l.split(" max=")[1].split()[0] for l in lines})
    assert maxes == ["1", "16"], maxes       # 16: ThreadsPerChild of the tests' MPM
    small = [l for l in lines if " max=1 " in l]
    assert len(small) * 2 <= len(lines)     # keep and fresh have the default


def test_bad_pool_values_are_refused(pool_server, tls_mock):
    for body, param in (({"pool_max": -1}, "pool_max"), ({"pool_ttl": 86401}, "pool_ttl"),
                        ({"disable_reuse": "yes"}, "disable_reuse"),
                        ({"connect_timeout": 3601}, "connect_timeout")):
        err = assert_openai_error(request(pool_server, "PATCH", "/instances/keep", body,
                                          headers={"X-Admin-API-Key": ADMIN}), 400)
        assert err["param"] == param, err
        assert param in err["message"], err


@pytest.mark.parametrize("line, words", [
    ("    pool_max: 100001\n", "pool_max: must be between 0 and 100000, got 100001"),
    ("    pool_ttl: -5\n", "pool_ttl: must be between 0 and 86400, got -5"),
    ("    disable_reuse: maybe\n", "disable_reuse"),
])
def test_bad_pool_values_fail_configtest(tls_mock, line, words):
    srv = make_server("event", "instances:\n" + instance("bad", tls_mock.port, "m", "dep-keep",
                                                         line))
    try:
        res = srv.configtest()
        assert res.returncode != 0
        assert words in res.stderr, res.stderr
    finally:
        shutil.rmtree(srv.root, ignore_errors=True)
