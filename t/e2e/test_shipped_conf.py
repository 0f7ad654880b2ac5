# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The shipped conf/aoproxy.conf (the Debian package's mods-available/aoproxy.conf),
as it is, in a real apache2: /v1/ open to every client, the management and statistics
paths to local clients only, the admin key from AOProxyAdminKeyFile, the recipes of
docs/security.md (a monitoring network, Basic auth, bearer keys), and the LogLevel
guard that keeps httpd's trace-level header dumps out of the error log.

Other clients than this machine are made with mod_remoteip: a request from 127.0.0.1
with `X-Forwarded-For: 192.0.2.7` is, to `Require`, a request from 192.0.2.7."""

import base64
import os
import re
import subprocess

import pytest

from conftest import KEYS, MPMS, make_server
from conftest import request as call
from harness import MODULE, SRCDIR, httpdconf

SHIPPED = os.path.join(SRCDIR, "conf", "aoproxy.conf")
ADMIN = "shipped-conf-admin-key-0123456789"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
REMOTE = {"X-Forwarded-For": "192.0.2.7"}
# The management API's namespaces with a GET each answers (or redirects) locally.
API_GETS = ["/instances", "/stats", "/stats/instances", "/config", "/admin/config/sources",
            "/metrics", "/health/instances", "/verification/instances/a"]

# Modules the recipes use; Debian enables authz_host and the auth modules by default.
MODULES = """\
<IfModule !authz_host_module>
    LoadModule authz_host_module {libexec}/mod_authz_host.so
</IfModule>
<IfModule !remoteip_module>
    LoadModule remoteip_module {libexec}/mod_remoteip.so
</IfModule>
<IfModule !authn_core_module>
    LoadModule authn_core_module {libexec}/mod_authn_core.so
</IfModule>
<IfModule !authn_file_module>
    LoadModule authn_file_module {libexec}/mod_authn_file.so
</IfModule>
<IfModule !authz_user_module>
    LoadModule authz_user_module {libexec}/mod_authz_user.so
</IfModule>
<IfModule !auth_basic_module>
    LoadModule auth_basic_module {libexec}/mod_auth_basic.so
</IfModule>
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
"""


def shipped_conf(srv, text=None):
    """conf/aoproxy.conf with its Debian paths pointed into srv's server root."""
    text = text if text is not None else open(SHIPPED).read()
    subst = [("/usr/lib/apache2/modules/mod_aoproxy.so", MODULE),
             ("AOProxyConfigDir /etc/aoproxy", "AOProxyConfigDir %s" % srv.config_dir),
             ("AOProxyAdminKeyFile /etc/aoproxy/admin.key",
              "AOProxyAdminKeyFile %s/admin.key" % srv.root)]
    for old, new in subst:
        assert old in text, "conf/aoproxy.conf no longer has %r" % old
        text = text.replace(old, new)
    # Never the machine's /var/lib/apache2: the store goes into the server root.
    return text + '\nAOProxyStateDB "%s/state/instance_state.db"\n' % srv.root


class ShippedHttpd:
    """Wraps a harness server so that its httpd.conf is the generic part of
    tools/httpdconf.py (no module lines) followed by the shipped conf."""

    def __init__(self, srv, after="", before="", conf_text=None):
        self.srv = srv
        with open(os.path.join(srv.root, "admin.key"), "w") as f:
            f.write(ADMIN + "\n")
        os.chmod(os.path.join(srv.root, "admin.key"), 0o600)
        libexec = httpdconf.apxs_query("LIBEXECDIR")
        srv.write_conf = lambda: self.write(libexec, before, after, conf_text)

    def write(self, libexec, before, after, conf_text):
        srv = self.srv
        text = httpdconf.render(srv.root, srv.port, None, srv.config_dir, mpm=srv.mpm,
                                log_level=srv.log_level, libexec=libexec)
        text += MODULES.format(libexec=libexec) + before + "\n"
        text += shipped_conf(srv, conf_text) + "\n" + after + "\n"
        with open(srv.conf_path, "w") as f:
            f.write(text)


def start(request_, fleet, mpm="event", **kw):
    log_level = kw.pop("log_level", None)
    srv = make_server(mpm, fleet.yaml())
    if log_level:
        srv.log_level = log_level
    ShippedHttpd(srv, **kw)
    srv.start()
    request_.addfinalizer(srv.stop)
    return srv


@pytest.mark.parametrize("mpm", MPMS)
def test_v1_is_open_and_management_is_local_only(request, fleet, mpm):
    srv = start(request, fleet, mpm)
    for headers in ({}, REMOTE):
        resp = call(srv, "POST", "/v1/chat/completions", CHAT, headers=headers)
        assert resp.status == 200, resp.body
        assert call(srv, "GET", "/v1/models", headers=headers).status == 200
    # A remote client is refused even with the admin key: the key alone opens nothing.
    key = {"X-Admin-API-Key": ADMIN}
    for path in API_GETS:
        local = call(srv, "GET", path, headers=key)
        assert local.status in (200, 301, 302, 308), (path, local.status)
        remote = call(srv, "GET", path, headers=dict(REMOTE, **key))
        assert remote.status == 403, (path, remote.status, remote.body[:200])
    assert call(srv, "POST", "/stats/reset", headers=dict(REMOTE, **key)).status == 403
    assert call(srv, "POST", "/stats/reset", headers=key).status == 200
    srv.expect_error(r"AH01630")    # client denied by server configuration
    assert not srv.unexpected_errors()


def request_(srv, method, path, body, headers):
    return call(srv, method, path, body, headers=headers)


def test_admin_key_comes_from_the_key_file(request, fleet):
    srv = start(request, fleet)
    wrong = call(srv, "POST", "/stats/reset", headers={"X-Admin-API-Key": ADMIN[:-1] + "x"})
    assert wrong.status == 401, wrong.body
    right = call(srv, "POST", "/stats/reset", headers={"X-Admin-API-Key": ADMIN})
    assert right.status == 200, right.body
    logs = srv.read_log() + srv.read_log(srv.access_log)
    assert ADMIN not in logs


# docs/security.md, "A monitoring network": a <Location> of one's own, after the
# module's, replaces its Require lines.
MONITORING = """\
<Location "/metrics">
    Require local
    Require ip 192.0.2.0/24
</Location>
"""


def test_monitoring_network_recipe(request, fleet):
    srv = start(request, fleet, after=MONITORING)
    assert call(srv, "GET", "/metrics", headers=REMOTE).status == 200
    assert call(srv, "GET", "/metrics").status == 200
    other = {"X-Forwarded-For": "198.51.100.9"}
    assert call(srv, "GET", "/metrics", headers=other).status == 403
    assert call(srv, "GET", "/stats", headers=REMOTE).status == 403
    assert call(srv, "GET", "/instances", headers=REMOTE).status == 403
    srv.expect_error(r"AH01630")
    assert not srv.unexpected_errors()


# docs/security.md, "Basic authentication in front of /v1/".
BASIC = """\
<Location "/v1/">
    AuthType Basic
    AuthName "OpenAI API"
    AuthUserFile "{htpasswd}"
    Require valid-user
</Location>
"""


def test_basic_auth_recipe_in_front_of_v1(request, fleet):
    srv = make_server("event", fleet.yaml())
    htpasswd = os.path.join(srv.root, "htpasswd")
    subprocess.run(["htpasswd", "-cbB", htpasswd, "team-a", "s3cret-pass"], check=True,
                   capture_output=True)
    ShippedHttpd(srv, after=BASIC.format(htpasswd=htpasswd))
    srv.start()
    request.addfinalizer(srv.stop)
    anon = call(srv, "POST", "/v1/chat/completions", CHAT)
    assert anon.status == 401
    assert "Basic" in (anon.header("WWW-Authenticate") or "")
    auth = "Basic " + base64.b64encode(b"team-a:s3cret-pass").decode()
    bad = "Basic " + base64.b64encode(b"team-a:not-the-pass-xyz").decode()
    assert call(srv, "POST", "/v1/chat/completions", CHAT,
                   headers={"Authorization": bad}).status == 401
    ok = call(srv, "POST", "/v1/chat/completions", CHAT, headers={"Authorization": auth})
    assert ok.status == 200, ok.body
    # The credentials stop at Apache: Azure gets its api-key only.
    (rec,) = fleet.east.client.requests()
    names = [k.lower() for k, _ in rec["headers"]]
    assert "authorization" not in names
    assert dict((k.lower(), v) for k, v in rec["headers"])["api-key"] == KEYS["east"]
    srv.expect_error(r"AH01617")    # the wrong password is logged (not the password)
    assert not srv.unexpected_errors()
    assert "not-the-pass-xyz" not in srv.read_log() and "s3cret-pass" not in srv.read_log()


# docs/security.md, "Authentication in front of the management API".
ADMINS = """\
<Location "/instances">
    AuthType Basic
    AuthName "mod_aoproxy management"
    AuthUserFile "{htpasswd}"
    <RequireAny>
        Require local
        Require valid-user
    </RequireAny>
</Location>
"""


def test_basic_auth_recipe_for_the_management_api(request, fleet):
    srv = make_server("event", fleet.yaml())
    htpasswd = os.path.join(srv.root, "admins.htpasswd")
    subprocess.run(["htpasswd", "-cbB", htpasswd, "ops", "ops-pass-123"], check=True,
                   capture_output=True)
    ShippedHttpd(srv, after=ADMINS.format(htpasswd=htpasswd))
    srv.start()
    request.addfinalizer(srv.stop)
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:ops-pass-123").decode()}
    assert call(srv, "GET", "/instances").status == 200                    # local
    assert call(srv, "GET", "/instances", headers=REMOTE).status == 401
    assert call(srv, "GET", "/instances", headers=dict(REMOTE, **auth)).status == 200
    # The password opens the door; a change still needs the admin key.
    change = {"enabled": False}
    resp = call(srv, "PATCH", "/instances/west", change, headers=dict(REMOTE, **auth))
    assert resp.status in (401, 403), resp.body
    resp = call(srv, "PATCH", "/instances/west", change,
                headers=dict(REMOTE, **auth, **{"X-Admin-API-Key": ADMIN}))
    assert resp.status == 200, resp.body
    # The other paths keep the shipped Require local.
    assert call(srv, "GET", "/stats", headers=dict(REMOTE, **auth)).status == 403
    srv.expect_error(r"AH01630")
    assert not srv.unexpected_errors()


# docs/security.md, "Bearer keys": what OpenAI clients send as their API key.
BEARER = """\
<Location "/v1/">
    Require expr "%{{HTTP:Authorization}} in {{ 'Bearer {k1}', 'Bearer {k2}' }}"
</Location>
"""


def test_bearer_keys_recipe_in_front_of_v1(request, fleet):
    k1, k2 = "sk-team-a-0123456789", "sk-team-b-9876543210"
    srv = start(request, fleet, after=BEARER.format(k1=k1, k2=k2))
    for key in (k1, k2):
        resp = call(srv, "POST", "/v1/chat/completions", CHAT,
                       headers={"Authorization": "Bearer " + key})
        assert resp.status == 200, resp.body
    for headers in ({}, {"Authorization": "Bearer sk-nope"}, {"api-key": k1}):
        assert call(srv, "POST", "/v1/chat/completions", CHAT, headers=headers).status == 403
    assert call(srv, "GET", "/stats").status == 200
    srv.expect_error(r"AH01630")
    assert not srv.unexpected_errors()


# --- the LogLevel guard -----------------------------------------------------------
SECRETS = {"Authorization": "Bearer sk-client-trace-secret",
           "api-key": "client-trace-api-key",
           "X-Admin-API-Key": ADMIN}
GUARD = re.compile(r"^LogLevel http:warn\n<IfModule ssl_module>\n    LogLevel ssl:warn\n"
                   r"</IfModule>\n", re.M)


def traced(request_, fleet, conf_text=None):
    """A server at LogLevel trace8 (set before the shipped conf, as apache2.conf's is)
    that served a chat completion and an admin request carrying SECRETS; its logs."""
    srv = start(request_, fleet, log_level="trace8", conf_text=conf_text)
    headers = dict(SECRETS)
    resp = call(srv, "POST", "/v1/chat/completions", CHAT, headers=headers)
    assert resp.status == 200, resp.body
    assert call(srv, "POST", "/stats/reset", headers=headers).status == 200
    srv.stop()
    return srv.read_log() + srv.read_log(srv.access_log)


def test_trace_logging_does_not_log_credentials(request, fleet):
    logs = traced(request, fleet)
    assert "[proxy_http:trace" in logs       # trace8 is on ...
    for value in list(SECRETS.values()) + [KEYS["east"]]:
        assert value.split()[-1] not in logs  # ... but no header value is in the log


def test_without_the_guard_trace_logging_would_log_credentials(request, fleet):
    """The test above can fail: without the shipped guard, httpd logs the headers, and
    the same LogLevel inside the <AOProxyAPI> section does not prevent it (the headers
    are logged before any section applies, the module's as a <Location>)."""
    text = open(SHIPPED).read()
    assert GUARD.search(text), "conf/aoproxy.conf's LogLevel guard changed"
    text = GUARD.sub("", text).replace("<AOProxyAPI>\n", "<AOProxyAPI>\n    LogLevel http:warn\n")
    assert text.count("LogLevel http:warn") == 1
    logs = traced(request, fleet, conf_text=text)
    assert "sk-client-trace-secret" in logs
    assert ADMIN in logs


def test_load_file_fits_debians_layout():
    """The shipped .load has no LoadModule (mods-enabled/*.load sort before proxy.load)
    and names the modules a2enmod must enable; the .conf loads the module."""
    load = open(os.path.join(SRCDIR, "conf", "aoproxy.load")).read()
    deps = re.search(r"^# Depends: (.*)$", load, re.M).group(1).split()
    assert {"proxy", "proxy_http", "proxy_balancer", "slotmem_shm", "authz_host"} <= set(deps)
    assert not re.search(r"^\s*LoadModule", load, re.M)
    assert re.search(r"<IfModule !aoproxy_module>\s*LoadModule aoproxy_module "
                     r"/usr/lib/apache2/modules/mod_aoproxy.so\s*</IfModule>",
                     open(SHIPPED).read())
