# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""No configuration this project ships or generates logs a credential: conf/, debian/,
the container files, tools/ and what tools/httpdconf.py writes for the tests and the
demo.  A log format may not name a credential header (%{Authorization}i, %{api-key}i,
%{X-Admin-API-Key}i, a cookie ...), and no directive may turn on a log of every header
(mod_log_forensic, mod_dumpio, LogLevel trace4 and above for httpd's core)."""

import os
import re
import sys

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tools"))
import httpdconf  # noqa: E402

CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "api-key", "x-api-key",
                      "x-admin-api-key", "cookie", "set-cookie"}
# %{Name}i (request header), %{Name}o (response header), %{Name}^ti / ^to (trailers),
# also with a status condition (%400,501{Name}i) or the "<" / ">" modifiers.
HEADER_FORMAT = re.compile(r"%[!0-9,<>]*\{([^}]+)\}(\^t[io]|[io])")
COOKIE_FORMAT = re.compile(r"%[!0-9,<>]*\{[^}]*\}C")
ENV_FORMAT = re.compile(r"%[!0-9,<>]*\{([^}]+)\}e")
SECRET_NAME = re.compile(r"auth|key|token|secret|pass|cookie", re.I)
HEADER_DUMPERS = re.compile(r"^\s*(ForensicLog|DumpIOInput\s+on|DumpIOOutput\s+on)\b", re.I | re.M)
LOGLEVEL = re.compile(r"^\s*LogLevel\s+(.*)$", re.I | re.M)
# Levels at which httpd logs every request header (http, at trace4) or the bytes of a
# TLS connection (ssl, at trace7); a bare level applies to every module.
DUMPING = {None: 4, "http": 4, "http_module": 4, "core": 4, "ssl": 7, "ssl_module": 7}


def findings(text):
    """What in text would put a credential into a log."""
    out = []
    for name, _ in HEADER_FORMAT.findall(text):
        if name.strip().lower() in CREDENTIAL_HEADERS:
            out.append("logs the %s header" % name)
    out += ["logs a cookie (%s)" % m for m in COOKIE_FORMAT.findall(text)]
    out += ["logs the variable %s" % n for n in ENV_FORMAT.findall(text) if SECRET_NAME.search(n)]
    out += ["%s logs every header" % m.group(1) for m in HEADER_DUMPERS.finditer(text)]
    for m in LOGLEVEL.finditer(text):
        for word in m.group(1).split("#")[0].split():
            module, _, level = word.rpartition(":")
            t = re.fullmatch(r"trace([1-8])", level.lower())
            limit = DUMPING.get(module.lower() or None)
            if t and limit and int(t.group(1)) >= limit:
                out.append("LogLevel %s dumps headers" % word)
    return out


def shipped_files():
    files = []
    for top in ("conf", "debian", "docker", "tools"):
        for d, _, names in os.walk(os.path.join(TOP, top)):
            files += [os.path.join(d, n) for n in names if not n.endswith((".pyc", ".deb"))]
    files += [os.path.join(TOP, n) for n in ("Dockerfile", ".dockerignore")]
    return sorted(f for f in files if os.path.isfile(f))


@pytest.mark.parametrize("path", shipped_files(), ids=lambda p: os.path.relpath(p, TOP))
def test_shipped_file_logs_no_credential(path):
    with open(path, errors="replace") as f:
        assert findings(f.read()) == []


@pytest.mark.parametrize("options", [
    {}, {"mpm": "prefork"}, {"ssl_proxy": True}, {"v1_scope": "server"},
    {"log_level": "warn aoproxy:info"},       # tools/demo's
])
def test_generated_httpd_conf_logs_no_credential(tmp_path, options):
    text = httpdconf.render(str(tmp_path), 8080, "/x/mod_aoproxy.so", str(tmp_path / "aoproxy"),
                            libexec="/usr/lib/apache2/modules", **options)
    assert "LogFormat" in text and "CustomLog" in text
    assert findings(text) == []


@pytest.mark.parametrize("text", [
    # tools/httpdconf.py's LogFormat before it was fixed
    'LogFormat "%h \\"%r\\" %>s %b %D pid=%P auth=\\"%{Authorization}i\\" key=\\"%{api-key}i\\"" aop',
    'CustomLog logs/x "%h %{X-Admin-API-Key}i"',
    'ErrorLogFormat "[%t] %M %{cookie}i"',
    'LogFormat "%400,501{Authorization}i" x',
    'LogFormat "%{session}C" x',
    'LogFormat "%{HTTP_AUTHORIZATION}e" x',
    "ForensicLog ${APACHE_LOG_DIR}/forensic.log",
    "LogLevel trace5",
    "LogLevel warn http:trace4",
    "LogLevel info ssl:trace7",
])
def test_the_check_finds_what_would_log_a_credential(text):
    assert findings(text)


def test_the_check_lets_ordinary_logging_pass():
    debian_combined = 'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" ' \
                      '\\"%{User-Agent}i\\"" combined'
    assert findings(debian_combined) == []
    assert findings("LogLevel warn aoproxy:debug proxy:trace8 ssl:trace6 http:trace3") == []
