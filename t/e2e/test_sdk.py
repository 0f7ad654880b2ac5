# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The official OpenAI Node SDK (npm `openai`) against the proxy, and its
AzureOpenAI client as the reference for what Azure expects on the wire."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import MPMS, make_server
from harness import SRCDIR
from mockclient import start_mock

NODE_DIR = os.path.join(SRCDIR, "t", "node")
SDK_KEY = "key-sdk-5b1d0c4e9f"
SDK_VERSION = "2024-10-21"

SDK_YAML = """\
routing: {{ strategy: "failover", retries: 1, timeout: 30 }}
instances:
  - name: "sdk"
    api_key: "{key}"
    api_base: "http://127.0.0.1:{port}"
    api_version: "{version}"
    supported_models: ["gpt-4o-mini", "gpt-35-turbo-instruct", "text-embedding-3-small"]
    model_deployments:
      gpt-4o-mini: "sdk-chat"
      gpt-35-turbo-instruct: "sdk-chat"
      text-embedding-3-small: "sdk-embed"
"""


@pytest.fixture(scope="module")
def sdk_mock():
    mock = start_mock(name="sdk", api_key=SDK_KEY,
                      deployments={"sdk-chat": "gpt-4o-mini", "sdk-embed": "text-embedding-3-small"})
    yield mock
    mock.stop()


@pytest.mark.parametrize("mpm", MPMS)
def test_openai_sdk_through_the_proxy(mpm, sdk_mock):
    assert shutil.which("node"), "node is required (the README's test command installs it)"
    assert os.path.isdir(os.path.join(NODE_DIR, "node_modules", "openai")), \
        "run `npm ci --prefix t/node` first (the README's test command does)"
    srv = make_server(mpm, SDK_YAML.format(key=SDK_KEY, port=sdk_mock.port, version=SDK_VERSION))
    srv.start()
    try:
        env = dict(os.environ, AOPROXY_URL=srv.url + "/v1", MOCK_URL=sdk_mock.url,
                   MOCK_API_KEY=SDK_KEY, MOCK_API_VERSION=SDK_VERSION, MODEL="gpt-4o-mini",
                   DEPLOYMENT="sdk-chat", EMBED_MODEL="text-embedding-3-small",
                   EMBED_DEPLOYMENT="sdk-embed")
        res = subprocess.run(["node", "--test", os.path.join(NODE_DIR, "sdk.test.mjs")],
                             env=env, capture_output=True, text=True, timeout=300)
        out = res.stdout + res.stderr
        assert res.returncode == 0, out
        # Every test ran and passed: none was skipped for want of a URL.
        counts = dict(re.findall(r"^# (tests|pass|fail|skipped) (\d+)$", out, re.M))
        assert counts.get("skipped") == "0" and counts.get("fail") == "0", out
        assert int(counts["tests"]) >= 18 and counts["pass"] == counts["tests"], out
        bad = srv.unexpected_errors()
        assert not bad, "\n".join(bad)
    finally:
        srv.stop()
