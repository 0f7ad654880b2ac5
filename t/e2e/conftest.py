# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Fixtures: a fleet of mock Azure instances and apache2 under each MPM in front of it."""

import http.client
import json
import os
import shutil
import tempfile

import pytest

from harness import Httpd, closed_port
from mockclient import start_mock

KEYS = {"east": "key-east-0123456789abcdef", "west": "key-west-fedcba9876543210"}
# Every test runs under both MPMs; AOP_MPMS=event (say) narrows a run to one, for the
# sanitizer builds in CI, whose question is the code's, not the MPM's.
MPMS = [m for m in os.environ.get("AOP_MPMS", "event prefork").split() if m in ("event", "prefork")] \
    or ["event", "prefork"]

FLEET_YAML = """\
name: "e2e fleet"
version: "1.2.0"
port: 3010
routing: {{ strategy: "failover", retries: 3, timeout: 20 }}
logging: {{ level: "INFO", feishu_webhook: "${{FEISHU_WEBHOOK_URL}}" }}
monitoring: {{ stats_window_minutes: 5, additional_windows: [15, 30, 60] }}
instances:
  - name: "dead"
    api_key: "key-dead-never-answers"
    api_base: "http://127.0.0.1:{closed}"
    api_version: "2024-08-01-preview"
    priority: 0
    supported_models: ["failover-model"]
    model_deployments: {{ failover-model: "dead-fo" }}
  - name: "east"
    provider_type: "azure"
    api_key: "${{E2E_KEY_EAST}}"
    api_base: "http://127.0.0.1:{east}"
    api_version: "2024-08-01-preview"
    priority: 1
    weight: 100
    max_tpm: 240000
    supported_models: ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "gpt-35-turbo-instruct"]
    model_deployments:
      gpt-4o-mini: "east-mini"
      gpt-4o: "east-4o"
      text-embedding-3-small: "east-embed"
      gpt-35-turbo-instruct: "east-instruct"
  - name: "west"
    api_key: "${{E2E_KEY_WEST}}"
    api_base: "http://127.0.0.1:{west}/"
    api_version: "2024-10-21"
    priority: 2
    supported_models: ["gpt-4o-mini", "gpt-4o-2024-11-20", "failover-model"]
    model_deployments: {{ gpt-4o-mini: "west-mini", gpt-4o-2024-11-20: "west-nov", failover-model: "west-fo" }}
"""

# The server refuses bodies above this (AOProxyMaxBodySize in the test conf).
MAX_BODY = 256 * 1024


class Fleet:
    def __init__(self):
        self.east = start_mock(name="east", api_key=KEYS["east"], deployments={
            "east-mini": "gpt-4o-mini", "east-4o": "gpt-4o",
            "east-embed": "text-embedding-3-small", "east-instruct": "gpt-35-turbo-instruct"})
        self.west = start_mock(name="west", api_key=KEYS["west"], deployments={
            "west-mini": "gpt-4o-mini", "west-nov": "gpt-4o-2024-11-20", "west-fo": "gpt-4o"})
        self.closed = closed_port()

    def yaml(self):
        return FLEET_YAML.format(closed=self.closed, east=self.east.port, west=self.west.port)

    def reset(self):
        self.east.client.reset()
        self.west.client.reset()

    def stop(self):
        self.east.stop()
        self.west.stop()


@pytest.fixture(scope="session")
def fleet():
    f = Fleet()
    yield f
    f.stop()


def make_server(mpm, yaml_text, extra_conf="", environment=None, env=None, files=None):
    root = tempfile.mkdtemp(prefix="aop-e2e-%s-" % mpm)
    env = dict({"E2E_KEY_EAST": KEYS["east"], "E2E_KEY_WEST": KEYS["west"]}, **(env or {}))
    srv = Httpd(root, mpm=mpm, environment=environment, env=env,
                extra_conf=extra_conf or "AOProxyMaxBodySize %d" % MAX_BODY)
    srv.write_yaml("base.yaml", yaml_text)
    for name, text in (files or {}).items():
        srv.write_yaml(name, text)
    return srv


def serving(request, srv):
    """A module fixture's body: srv started for the module's tests, stopped after them;
    its files are kept for a look when a test failed."""
    srv.start()
    yield srv
    srv.stop()
    if not request.session.testsfailed:
        shutil.rmtree(srv.root, ignore_errors=True)


@pytest.fixture(scope="module", params=MPMS)
def server(request, fleet):
    yield from serving(request, make_server(request.param, fleet.yaml()))


@pytest.fixture(autouse=True)
def no_unexpected_errors(request):
    """After each test, its server's error log holds no [error] it did not expect."""
    yield
    srv = request.node.funcargs.get("server")
    if srv is not None:
        bad = srv.unexpected_errors()
        assert not bad, "unexpected lines in %s:\n%s" % (srv.error_log, "\n".join(bad))


@pytest.fixture(autouse=True)
def clean_mocks(request, fleet):
    fleet.reset()
    yield


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def request(srv, method, path, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    hdrs.update(headers or {})
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    out = Response(resp.status, resp.getheaders(), resp.read())
    conn.close()
    return out


def assert_openai_error(resp, status, code=None, param=None):
    assert resp.status == status, (resp.status, resp.body[:500])
    assert resp.header("Content-Type").startswith("application/json")
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str) and err["type"]
    if code is not None:
        assert err["code"] == code, err
    if param is not None:
        assert err["param"] == param, err
    return err
