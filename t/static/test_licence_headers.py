# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Every source file of the project says its licence (LICENSE: Apache-2.0) in its
first lines, as httpd's and its modules' files do."""

import os
import subprocess

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SKIP = ("debian/", "docs/", "conf/", "t/unit/data/", "t/fuzz/corpus/", "t/fuzz/regressions/",
        "t/node/node_modules/")
SOURCE_EXT = (".c", ".h", ".py", ".sh", ".mjs")


def sources():
    files = subprocess.run(["git", "ls-files"], cwd=TOP, capture_output=True, text=True,
                           check=True).stdout.split()
    for f in files:
        path = os.path.join(TOP, f)
        if f.startswith(SKIP) or not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            head = fh.read(512)
        if f.endswith(SOURCE_EXT) or head.startswith(b"#!"):
            yield f, head


def test_every_source_file_names_its_licence():
    missing = [f for f, head in sources() if b"SPDX-License-Identifier: Apache-2.0" not in head]
    assert not missing, "no SPDX-License-Identifier line in: " + ", ".join(missing)


def test_the_licence_is_there():
    with open(os.path.join(TOP, "LICENSE")) as f:
        assert "Apache License" in f.read(200)
