# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The Responses API (issue 16) with the real clients: the official Node SDK's
responses.*, its AzureOpenAI class and an OpenAI client at /openai/v1, and the Vercel
AI SDK's default provider, through the gateway under each MPM (t/node/responses.test.mjs).

Two mock instances serve the model, a dated one and a v1 one, and the gateway
alternates between them; each mock holds only the responses it made, so the node
tests see in the mocks' records any call routed to the wrong one."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import MPMS, make_server, serving
from harness import SRCDIR
from mockclient import start_mock

NODE_DIR = os.path.join(SRCDIR, "t", "node")
KEY = "key-resp-sdk-3e8a1f0b6c"

YAML = """\
routing: {{ strategy: "failover", retries: 2, timeout: 30 }}
instances:
  - name: "a"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{a}"
    api_version: "2024-10-21"
    supported_models: ["gpt-4o-mini", "text-embedding-3-small"]
    model_deployments: {{ gpt-4o-mini: "dep-a", text-embedding-3-small: "a-embed" }}
  - name: "b"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{b}"
    api_version: "v1"
    supported_models: ["gpt-4o-mini"]
    model_deployments: {{ gpt-4o-mini: "dep-b" }}
"""

# Every request's x-aop-turn header and the pid of the process that served it: the
# chain test's proof that its turns crossed processes.
TURN_LOG_CONF = 'LogFormat "%{{x-aop-turn}}i %P" turn\nCustomLog "{path}" turn\n'


@pytest.fixture(scope="module")
def mocks():
    a = start_mock(name="a", api_key=KEY, deployments={"dep-a": "gpt-4o-mini",
                                                       "a-embed": "text-embedding-3-small"})
    b = start_mock(name="b", api_key=KEY, deployments={"dep-b": "gpt-4o-mini"})
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture(scope="module", params=MPMS)
def server(request, mocks):
    a, b = mocks
    srv = make_server(request.param, YAML.format(key=KEY, a=a.port, b=b.port))
    srv.extra_conf = "AOProxyMaxBodySize 262144\n" + TURN_LOG_CONF.format(
        path=os.path.join(srv.root, "turns.log"))
    yield from serving(request, srv)


def test_node_clients_through_the_gateway(server, mocks):
    assert shutil.which("node"), "node is required"
    assert os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@ai-sdk", "openai")), \
        "run `npm ci --prefix t/node` first (tools/setup does)"
    a, b = mocks
    # retrieving the response just deleted: no instance has it (a deleted id is
    # forgotten, so each is asked), logged as a failed request
    server.expect_error(r"AOP00041: request for model .* failed with 404 after 2 attempt\(s\): "
                        r"tried [ab] \(not here\), [ab] \(not here\)")
    env = dict(os.environ, AOPROXY=server.url, MOCK_A=a.url, MOCK_B=b.url,
               TEXT_A="mock:a:dep-a", A_API_VERSION="2024-10-21", TEXT_B="mock:b:dep-b", MODEL="gpt-4o-mini",
               EMBED_MODEL="text-embedding-3-small", EMBED_DEPLOYMENT="a-embed",
               TURN_LOG=os.path.join(server.root, "turns.log"), MPM=server.mpm)
    res = subprocess.run(["node", "--test", "--test-reporter=tap",
                          os.path.join(NODE_DIR, "responses.test.mjs")],
                         env=env, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    counts = dict(re.findall(r"^# (tests|pass|fail|skipped) (\d+)$", out, re.M))
    assert counts.get("skipped") == "0" and counts.get("fail") == "0", out
    assert int(counts["tests"]) >= 10 and counts["pass"] == counts["tests"], out
