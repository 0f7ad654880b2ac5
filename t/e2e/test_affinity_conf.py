# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""AOProxyResponseAffinity: the response-affinity table's shared memory at start-up
and across graceful restarts (docs/directives.md, docs/balancing.md "Response
affinity").  Remembering and finding ids is the request path's (its own tests)."""

import re
import shutil

import pytest

from conftest import MPMS, make_server, request


def stats_affinity(srv):
    resp = request(srv, "GET", "/stats")
    assert resp.status == 200, resp.body
    return resp.json()["affinity"]


def log_codes(srv):
    return re.findall(r"AOP003(2\d)", "\n".join(srv.new_log_lines()))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


@pytest.fixture
def started(request):
    servers = []

    def start(*args, **kw):
        srv = make_server(*args, **kw)
        srv.start()
        servers.append(srv)
        return srv
    yield start
    for srv in servers:
        srv.stop()
        if not request.session.testsfailed:
            shutil.rmtree(srv.root, ignore_errors=True)


@pytest.mark.parametrize("mpm", MPMS)
def test_a_graceful_restart_keeps_the_table_unless_its_size_changed(mpm, fleet, started):
    # 16 M entries: 512 MiB of address space, none of it resident before use.
    srv = started(mpm, fleet.yaml(), extra_conf="AOProxyResponseAffinity 16777216")
    assert stats_affinity(srv) == {"capacity": 16777216, "used": 0}
    assert log_codes(srv) == ["22"]
    assert rss_kib(srv.pid()) < 128 * 1024, "the table's pages must not be touched"
    srv.graceful()
    assert stats_affinity(srv)["capacity"] == 16777216
    assert log_codes(srv) == ["24"], "the same size: the same table, kept"
    srv.extra_conf = "AOProxyResponseAffinity 4096"
    srv.graceful()
    assert stats_affinity(srv) == {"capacity": 4096, "used": 0}
    assert log_codes(srv) == ["21", "22"], "another size: a new table, and said so"
    srv.extra_conf = "AOProxyResponseAffinity 0"
    srv.graceful()
    assert stats_affinity(srv) is None
    assert log_codes(srv) == ["23"]
    assert not srv.unexpected_errors()


def test_the_default_is_a_million_entries(fleet, started):
    srv = started("event", fleet.yaml())
    assert stats_affinity(srv) == {"capacity": 1048576, "used": 0}


@pytest.mark.parametrize("value", ["1023", "67108865", "-1", "many", "1e6", ""])
def test_a_bad_size_fails_configtest(fleet, value):
    srv = make_server("event", fleet.yaml(), extra_conf="AOProxyResponseAffinity %s" % value)
    res = srv.configtest()
    assert res.returncode != 0
    if value:
        assert ("AOProxyResponseAffinity must be 0 (off) or a number of entries from 1024 "
                "to 67108864, not '%s'" % value) in res.stderr, res.stderr
    else:
        assert "AOProxyResponseAffinity takes one argument" in res.stderr, res.stderr
    shutil.rmtree(srv.root, ignore_errors=True)


def test_the_size_is_the_main_servers_alone(fleet):
    """One table serves every virtual host: a <VirtualHost> cannot size its own."""
    srv = make_server("event", fleet.yaml(), extra_conf=(
        "AOProxyResponseAffinity 0\n<VirtualHost 127.0.0.2:80>\n"
        "AOProxyResponseAffinity 2048\n</VirtualHost>"))
    res = srv.configtest()
    assert res.returncode != 0
    assert "AOProxyResponseAffinity cannot occur within <VirtualHost> section" in res.stderr, \
        res.stderr
    srv.extra_conf = "AOProxyResponseAffinity 2048"
    assert srv.configtest().returncode == 0, srv.configtest().stderr
    shutil.rmtree(srv.root, ignore_errors=True)
