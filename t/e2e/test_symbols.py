# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The module exports one symbol, the module structure httpd looks up: it is built with
-fvisibility=hidden, so that its calls across its own files are direct rather than
through the PLT and GOT (docs/performance.md, the table of choices)."""

import subprocess

from harness import MODULE


def test_only_the_module_structure_is_exported():
    out = subprocess.run(["nm", "-D", "--defined-only", MODULE], capture_output=True,
                         text=True, check=True).stdout
    names = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
    # An ASan build adds an indicator for each exported global (its ODR check).
    names = [n for n in names if not n.startswith("__odr_asan.")]
    assert names == ["aoproxy_module"], names
