# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The mock's Responses API against the real Node clients (t/node/mock-clients.test.mjs)."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mockclient import start_mock  # noqa: E402

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node")


def test_official_and_vercel_sdks_accept_the_mock():
    assert shutil.which("node"), "node is required (the README's test command installs it)"
    for pkg in ("openai", "ai", "@ai-sdk/openai"):
        assert os.path.isdir(os.path.join(NODE_DIR, "node_modules", pkg)), \
            "run `npm ci --prefix t/node` first (the README's test command does)"
    m = start_mock(name="n1", deployments={"gpt-4o-mini": "gpt-4o-mini"})
    try:
        env = dict(os.environ, MOCK_V1_URL=m.url + "/openai/v1", MODEL="gpt-4o-mini",
                   MOCK_NAME="n1")
        res = subprocess.run(["node", "--test", os.path.join(NODE_DIR, "mock-clients.test.mjs")],
                             env=env, capture_output=True, text=True, timeout=120)
        out = res.stdout + res.stderr
        counts = dict(re.findall(r"^# (tests|pass|fail|skipped) (\d+)$", out, re.M))
        assert res.returncode == 0 and counts.get("pass") == "2" and counts.get("fail") == "0", out
    finally:
        m.stop()
