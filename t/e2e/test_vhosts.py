# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The module in the layouts an operator has on stock Debian: the default site's
<VirtualHost *:80> enabled beside it, AOProxy On at server level, in a <Location>,
in one or several <VirtualHost>s, an SSL one among them.

A <VirtualHost> without mod_proxy directives of its own shares the main server's
mod_proxy configuration (httpd merges a module's server record only where the
module is configured); before the fix it saw the main server's balancer and start-up
failed with AOP00022."""

import http.client
import json
import os
import ssl
import subprocess

import pytest

from conftest import MPMS, make_server
from conftest import request as request_
from harness import free_port

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ADMIN = "admin-key-5e4f3a2b9a8b7c6d"

# Debian's sites-available/000-default.conf, less its log paths.
DEFAULT_SITE = """\
<VirtualHost *:{port}>
    ServerAdmin webmaster@localhost
    DocumentRoot "{root}"
</VirtualHost>
"""


def chat(port, host="127.0.0.1", https=False):
    if https:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=30, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(CHAT),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def started(srv, request_):
    srv.start()
    request_.addfinalizer(srv.stop)
    return srv


def layout(mpm, fleet, scope, extra):
    srv = make_server(mpm, fleet.yaml())
    srv.v1_scope = scope
    srv.extra_conf = extra.format(port=srv.port, root=srv.root)
    return srv


@pytest.mark.parametrize("mpm", MPMS)
@pytest.mark.parametrize("scope", ["location", "server"])
def test_default_site_enabled_beside_the_module(request, fleet, mpm, scope):
    """a2enconf aoproxy with 000-default enabled: the module's <Location "/v1/"> (or
    AOProxy On at server level) serves through the default site's vhost."""
    srv = started(layout(mpm, fleet, scope, DEFAULT_SITE), request)
    status, body = chat(srv.port)
    assert status == 200, body
    assert len(fleet.east.client.requests()) == 1
    assert not srv.unexpected_errors()


@pytest.mark.parametrize("mpm", MPMS)
def test_aoproxy_in_one_virtual_host_only(request, fleet, mpm):
    other = free_port()
    extra = DEFAULT_SITE + """\
Listen 127.0.0.1:%d
<VirtualHost *:%d>
    <Location "/v1/">
        AOProxy On
    </Location>
</VirtualHost>
""" % (other, other)
    srv = started(layout(mpm, fleet, "none", extra), request)
    status, body = chat(other)
    assert status == 200, body
    # The default site does not proxy: /v1/ there is the file system's (nothing).
    status, _ = chat(srv.port)
    assert status == 404
    assert len(fleet.east.client.requests()) == 1


@pytest.mark.parametrize("mpm", MPMS)
def test_aoproxy_in_several_virtual_hosts_one_with_its_own_proxy_settings(request, fleet,
                                                                          mpm):
    a, b = free_port(), free_port()
    extra = DEFAULT_SITE + """\
Listen 127.0.0.1:{a}
Listen 127.0.0.1:{b}
<VirtualHost *:{a}>
    AOProxy On
</VirtualHost>
<VirtualHost *:{b}>
    ProxyTimeout 30
    <Location "/v1/">
        AOProxy On
    </Location>
</VirtualHost>
""".replace("{a}", str(a)).replace("{b}", str(b))
    srv = started(layout(mpm, fleet, "none", extra), request)
    for port in (a, b, a, b):
        status, body = chat(port)
        assert status == 200, body
    assert len(fleet.east.client.requests()) == 4


def self_signed(root):
    key, crt = os.path.join(root, "vhost.key"), os.path.join(root, "vhost.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    return key, crt


@pytest.mark.parametrize("mpm", MPMS)
def test_ssl_virtual_host(request, fleet, mpm):
    port = free_port()
    srv = make_server(mpm, fleet.yaml())
    srv.v1_scope = "none"
    srv.ssl = True
    key, crt = self_signed(srv.root)
    srv.extra_conf = DEFAULT_SITE.format(port=srv.port, root=srv.root) + """\
Listen 127.0.0.1:%d https
<VirtualHost *:%d>
    SSLEngine on
    SSLCertificateFile "%s"
    SSLCertificateKeyFile "%s"
    <Location "/v1/">
        AOProxy On
    </Location>
</VirtualHost>
""" % (port, port, crt, key)
    started(srv, request)
    status, body = chat(port, https=True)
    assert status == 200, body
    assert len(fleet.east.client.requests()) == 1


@pytest.mark.parametrize("mpm", MPMS)
def test_two_configurations_meeting_in_one_proxy_record(request, fleet, mpm):
    """The main server and a vhost without mod_proxy directives share mod_proxy's
    record but not their AOProxyConfigDir: each gets its own balancer in it."""
    other = free_port()
    srv = make_server(mpm, fleet.yaml())
    second = os.path.join(srv.root, "second")
    os.makedirs(second)
    with open(os.path.join(second, "base.yaml"), "w") as f:
        f.write(fleet.yaml().replace('"east"', '"east2"').replace(
            "priority: 1\n", "priority: 9\n"))
    srv.v1_scope = "server"
    srv.extra_conf = """\
Listen 127.0.0.1:%d
<VirtualHost *:%d>
    AOProxyConfigDir "%s"
    AOProxyStateDB "%s/state2.db"
</VirtualHost>
""" % (other, other, second, srv.root)
    started(srv, request)
    assert chat(srv.port)[0] == 200
    assert chat(other)[0] == 200
    # The second configuration prefers west (east2 has the lower priority).
    assert len(fleet.east.client.requests()) == 1
    assert len(fleet.west.client.requests()) == 1


@pytest.mark.parametrize("mpm", ["event"])
def test_a_proxy_section_of_our_balancer_name_is_refused_with_its_remedy(fleet, mpm):
    srv = layout(mpm, fleet, "location", DEFAULT_SITE + """\
<Proxy "balancer://aoproxy">
    BalancerMember "http://127.0.0.1:9"
</Proxy>
""")
    srv.write_conf()
    res = srv.run("-k", "start")
    try:
        log = srv.read_log() + res.stderr
        assert "AOP00022" in log, log
        assert "<Proxy balancer://aoproxy>" in log, log
    finally:
        srv.stop()



@pytest.mark.parametrize("mpm", MPMS)
def test_a_server_serving_the_api_alone_starts(request, fleet, mpm):
    """AOProxyConfigDir and the management API with no AOProxy On anywhere: no
    balancer is defined, so start-up publishes the instances without workers (it
    used to crash in post_config, the daemon gone before it served anything), and a
    change through the API still goes live."""
    srv = make_server(mpm, fleet.yaml(), env={"ADMIN_API_KEY": ADMIN})
    srv.v1_scope = "none"
    started(srv, request)
    listed = request_(srv, "GET", "/instances")
    assert listed.status == 200, listed.body
    assert {"east", "west"} <= {i["name"] for i in listed.json()["instances"]}
    assert request_(srv, "GET", "/stats").status == 200
    added = request_(srv, "POST", "/instances/add", headers={"X-Admin-API-Key": ADMIN}, body={
        "name": "north", "api_key": "key-north-0123456789", "api_version": "2024-10-21",
        "api_base": "http://127.0.0.1:%d" % fleet.east.port, "supported_models": ["gpt-4o"],
        "model_deployments": {"gpt-4o": "east-4o"}})
    assert added.status == 201, added.body
    assert "north" in {i["name"] for i in request_(srv, "GET", "/instances").json()["instances"]}
    assert not srv.unexpected_errors()
