# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""<AOProxyAPI [prefix]>: the management API without a <Location> section, its
directives (Require) applied to the API's paths alone, below a prefix when one is
given, in each virtual host that has one or else the main server's; and the
<Location>s with `SetHandler aoproxy-api` of configurations written before it, which
still serve.  (The shipped conf's section, with its Require local and the recipes of
docs/security.md on top of it: test_shipped_conf.py.)"""

import http.client
import json

import pytest

from conftest import MPMS, make_server
from conftest import request as call
from harness import free_port, httpdconf

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
# A GET on each of the API's roots (or below it) that answers locally (or redirects).
API_GETS = ["/instances", "/stats", "/stats/instances", "/config", "/admin/config/sources",
            "/metrics", "/health/instances", "/verification/instances/a"]
ADMIN = {"X-Admin-API-Key": "api-section-admin-key-0123456789"}


def started(request_, srv):
    srv.start()
    request_.addfinalizer(srv.stop)
    return srv


# Require ip (Debian enables mod_authz_host by default).
AUTHZ_HOST = ("<IfModule !authz_host_module>\n    LoadModule authz_host_module "
              "{libexec}/mod_authz_host.so\n</IfModule>\n")


def server(fleet, mpm="event", api_scope="none", extra=""):
    srv = make_server(mpm, fleet.yaml(), extra_conf=(
        AUTHZ_HOST.format(libexec=httpdconf.apxs_query("LIBEXECDIR"))
        + 'AOProxyAdminKey "%s"\n' % ADMIN["X-Admin-API-Key"] + extra))
    srv.api_scope = api_scope
    return srv


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=ADMIN)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def is_api_answer(status, body):
    """An answer of the module's API (JSON, or its redirect), not httpd's own page."""
    if status in (301, 308):
        return b"moved_permanently" in body
    return status == 200 and body[:1] in (b"{", b"#")


@pytest.mark.parametrize("mpm", MPMS)
def test_the_sections_require_applies_to_the_api_paths_alone(request, fleet, mpm):
    srv = started(request, server(fleet, mpm, extra="<AOProxyAPI>\n"
                                  "    Require ip 192.0.2.1\n</AOProxyAPI>\n"))
    for path in API_GETS:
        assert get(srv.port, path)[0] == 403, path
    assert call(srv, "POST", "/stats/reset", headers=ADMIN).status == 403
    # Not the API's: the section's Require does not reach them.
    assert call(srv, "POST", "/v1/chat/completions", CHAT).status == 200
    assert call(srv, "GET", "/v1/models").status == 200
    for path in ("/statsx", "/stat", "/x/stats", "/"):
        status, _ = get(srv.port, path)
        assert status in (200, 404), (path, status)       # httpd's own, not refused
    srv.expect_error(r"AH01630")    # client denied by server configuration
    assert not srv.unexpected_errors()


@pytest.mark.parametrize("mpm", MPMS)
def test_an_empty_section_serves_every_root(request, fleet, mpm):
    srv = started(request, server(fleet, mpm, api_scope="section"))
    for path in API_GETS:
        status, body = get(srv.port, path)
        assert is_api_answer(status, body), (path, status, body[:200])
    assert call(srv, "POST", "/stats/reset", headers=ADMIN).status == 200
    names = {i["name"] for i in call(srv, "GET", "/instances").json()["instances"]}
    assert {"east", "west"} <= names
    # Methods the API has not: its own 405, as through a <Location>.
    assert call(srv, "DELETE", "/stats").status == 405
    assert not srv.unexpected_errors()


def test_a_prefix_moves_the_api_below_it(request, fleet):
    srv = started(request, server(fleet, extra='<AOProxyAPI "/gateway/">\n</AOProxyAPI>\n'))
    for path in API_GETS:
        status, body = get(srv.port, "/gateway" + path)
        assert is_api_answer(status, body), (path, status, body[:200])
        # The root's paths are not the API's then: httpd's own 404 page.
        status, body = get(srv.port, path)
        assert status == 404 and not is_api_answer(status, body), (path, status)
    for path in ("/gatewayx/stats", "/gateway/statsx", "/gateway"):
        status, body = get(srv.port, path)
        assert status == 404 and b'"error"' not in body, (path, status)
    # A redirect of an old path stays below the prefix.
    status, _ = get(srv.port, "/gateway/health/instances")
    assert status in (301, 308)
    assert not srv.unexpected_errors()


def test_virtual_hosts_take_their_own_section_or_the_main_servers(request, fleet):
    own, inherits = free_port(), free_port()
    extra = ("Listen 127.0.0.1:{own}\nListen 127.0.0.1:{inherits}\n"
             "<VirtualHost 127.0.0.1:{own}>\n"
             "    <AOProxyAPI>\n        Require ip 192.0.2.1\n    </AOProxyAPI>\n"
             "</VirtualHost>\n"
             "<VirtualHost 127.0.0.1:{inherits}>\n</VirtualHost>\n"
             "<AOProxyAPI>\n</AOProxyAPI>\n").format(own=own, inherits=inherits)
    srv = started(request, server(fleet, extra=extra))
    assert is_api_answer(*get(srv.port, "/stats"))
    assert is_api_answer(*get(inherits, "/stats"))
    assert get(own, "/stats")[0] == 403
    srv.expect_error(r"AH01630")
    assert not srv.unexpected_errors()


@pytest.mark.parametrize("mpm", MPMS)
def test_locations_with_set_handler_still_serve(request, fleet, mpm):
    """Configurations written before <AOProxyAPI>: a <Location> with `SetHandler
    aoproxy-api` for each path (tools/httpdconf.py, api_scope "location")."""
    srv = started(request, server(fleet, mpm, api_scope="location"))
    for path in API_GETS:
        status, body = get(srv.port, path)
        assert is_api_answer(status, body), (path, status, body[:200])
    assert call(srv, "POST", "/stats/reset", headers=ADMIN).status == 200
    assert call(srv, "POST", "/v1/chat/completions", CHAT).status == 200
    assert json.loads(call(srv, "GET", "/stats").body)["total"]["requests"] == 1
    assert not srv.unexpected_errors()
