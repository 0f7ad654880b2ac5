# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""Configuration errors stop `apache2 -t` (configtest) with file, line and key;
the environment overlay and ${VAR} references work in a real httpd."""

import pytest

from conftest import make_server, request

GOOD = """\
routing: { strategy: "failover" }
instances:
  - name: "one"
    api_key: "${ONE_KEY}"
    api_base: "http://127.0.0.1:9"
    api_version: "2024-08-01-preview"
    supported_models: ["gpt-4o-mini"]
    model_deployments: { gpt-4o-mini: "one-mini" }
"""


def configtest(yaml_text, **kw):
    srv = make_server("event", yaml_text, **kw)
    return srv, srv.configtest()


def test_good_config_passes():
    srv, res = configtest(GOOD, env={"ONE_KEY": "k1"})
    assert res.returncode == 0, res.stderr
    assert "Syntax OK" in res.stderr


@pytest.mark.parametrize("text,line,key", [
    # YAML syntax error
    ("routing:\n  strategy: [failover\n", 3, None),
    # wrong type
    (GOOD.replace('routing: { strategy: "failover" }',
                  "routing:\n  retries: many"), 2, "routing.retries"),
    # unknown strategy
    (GOOD.replace('"failover"', '"fastest"'), 1, "routing.strategy"),
    # missing required field (api_version)
    (GOOD.replace('    api_version: "2024-08-01-preview"\n', ""), 3, "api_version"),
    # a model without its deployment
    (GOOD.replace('supported_models: ["gpt-4o-mini"]',
                  'supported_models: ["gpt-4o-mini", "gpt-4o"]'), None, "gpt-4o"),
    # unknown key (a typo)
    (GOOD.replace("routing:", "routng:"), 1, "routng"),
])
def test_bad_config_fails_configtest_with_file_line_and_key(text, line, key):
    srv, res = configtest(text, env={"ONE_KEY": "k1"})
    assert res.returncode != 0, res.stderr
    msg = res.stderr
    assert "AOP00001" in msg, msg
    assert "base.yaml:" in msg, msg
    if line is not None:
        assert "base.yaml:%d:" % line in msg, msg
    if key is not None:
        assert key in msg, msg


def test_missing_key_variable_is_named_not_expanded():
    srv, res = configtest(GOOD, env={})
    assert res.returncode != 0
    assert "ONE_KEY" in res.stderr


def test_missing_config_dir_file():
    srv = make_server("event", GOOD)
    import os
    os.unlink(os.path.join(srv.config_dir, "base.yaml"))
    res = srv.configtest()
    assert res.returncode != 0
    assert "base.yaml" in res.stderr


def test_environment_overlay_in_real_httpd(fleet):
    overlay = """\
instances:
  - name: "east"
    api_version: "2025-01-01-preview"
    model_deployments: { gpt-4o-mini: "east-mini" }
"""
    srv = make_server("event", fleet.yaml(), environment="staging",
                      files={"staging.yaml": overlay})
    srv.start()
    try:
        resp = request(srv, "POST", "/v1/chat/completions",
                       {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
        assert resp.status == 200, resp.body
        (rec,) = fleet.east.client.requests()
        assert rec["params"] == {"api-version": "2025-01-01-preview"}
        assert not srv.unexpected_errors()
    finally:
        srv.stop()


def test_environment_from_the_environment_variable(fleet):
    overlay = 'routing: { strategy: "round_robin" }\n'
    srv = make_server("event", fleet.yaml(), env={"ENVIRONMENT": "qa"},
                      files={"qa.yaml": overlay})
    srv.start()
    try:
        assert request(srv, "GET", "/config").json()["routing"]["strategy"] == "round_robin"
    finally:
        srv.stop()


@pytest.mark.parametrize("directive,message", [
    ("AOProxyConnectTimeout 0", "AOProxyConnectTimeout must be a number of seconds"),
    ("AOProxyRetryInterval soon", "AOProxyRetryInterval must be a number of seconds"),
    ("AOProxyMaxBodySize -5", "AOProxyMaxBodySize must be a positive number of bytes"),
    ("<Location /x>\nAOProxyConfigDir /tmp\n</Location>", "AOProxyConfigDir"),
    # The harness's own <AOProxyAPI> is the server's one: a second one is refused.
    ("<AOProxyAPI /other>\n</AOProxyAPI>", "<AOProxyAPI> appears twice in one server"),
    ("<VirtualHost 127.0.0.2:80>\n<AOProxyAPI a b>\n</AOProxyAPI>\n</VirtualHost>",
     "<AOProxyAPI> takes one argument at most"),
    ("<VirtualHost 127.0.0.2:80>\n<AOProxyAPI gateway>\n</AOProxyAPI>\n</VirtualHost>",
     "<AOProxyAPI gateway>: the prefix must be a path that starts with '/'"),
    ("<Location /x>\n<AOProxyAPI>\n</AOProxyAPI>\n</Location>",
     "<AOProxyAPI not allowed in <Location> context"),
    ("<VirtualHost 127.0.0.2:80>\n<AOProxyAPI>\n    Require nonsense-provider\n"
     "</AOProxyAPI>\n</VirtualHost>", "nonsense-provider"),
])
def test_bad_directive_values_fail_configtest(directive, message):
    srv = make_server("event", GOOD, extra_conf=directive, env={"ONE_KEY": "k1"})
    res = srv.configtest()
    assert res.returncode != 0
    assert message in res.stderr, res.stderr


def test_aoproxy_on_without_config_dir_fails():
    srv = make_server("event", GOOD, env={"ONE_KEY": "k1"},
                      extra_conf='<VirtualHost 127.0.0.2:80>\nAOProxy On\n</VirtualHost>')
    srv.write_conf()
    with open(srv.conf_path) as f:
        text = f.read().replace('AOProxyConfigDir "%s"' % srv.config_dir, "")
    with open(srv.conf_path, "w") as f:
        f.write(text)
    res = srv.run("-t")
    assert res.returncode != 0
    assert "AOP00003" in res.stderr, res.stderr


@pytest.mark.parametrize("retry,expected_attempts", [("0", 3), (None, 1)])
def test_retry_interval_decides_when_a_refusing_instance_is_tried_again(fleet, retry,
                                                                         expected_attempts):
    # "dead" refuses connections; with AOProxyRetryInterval 0 every request tries it
    # first again, with the default (60 s) only the first one does.
    extra = "AOProxyRetryInterval %s" % retry if retry is not None else ""
    srv = make_server("prefork", fleet.yaml(), extra_conf=extra)
    srv.start()
    try:
        for _ in range(3):
            resp = request(srv, "POST", "/v1/chat/completions",
                           {"model": "failover-model",
                            "messages": [{"role": "user", "content": "x"}]})
            assert resp.status == 200, resp.body
        import time
        time.sleep(0.3)
        assert srv.read_log().count("AOP00040") == expected_attempts
    finally:
        srv.stop()


def test_v1_is_not_looked_up_on_disk(fleet):
    # /v1/ under AOProxy On is the module's namespace, as a ProxyPass path is
    # mod_proxy's: <Directory> rules for the document root do not apply to it.
    srv = make_server("event", fleet.yaml())
    srv.extra_conf = '<Directory "%s">\n    Require all denied\n</Directory>' % srv.root
    srv.start()
    try:
        resp = request(srv, "POST", "/v1/chat/completions",
                       {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
        assert resp.status == 200, resp.body
        assert request(srv, "GET", "/v1/models").status == 200
        assert request(srv, "GET", "/v1/chat/completions").status == 405
        # Elsewhere the rule holds.
        assert request(srv, "GET", "/index.html").status == 403
    finally:
        srv.stop()


def test_aoproxy_on_in_the_server_itself(fleet):
    # `AOProxy On` outside any <Location> serves the server's /v1/ calls (the
    # benchmark's form: no section to merge per request); other paths stay Apache's.
    srv = make_server("event", fleet.yaml())
    srv.v1_scope = "server"
    srv.start()
    try:
        with open(srv.conf_path) as f:
            assert '<Location "/v1/">' not in f.read()
        resp = request(srv, "POST", "/v1/chat/completions",
                       {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
        assert resp.status == 200, resp.body
        assert resp.json()["usage"]["total_tokens"] > 0
        assert request(srv, "GET", "/v1/models").status == 200
        assert request(srv, "GET", "/v1/nope").json()["error"]["code"] == "unknown_url"
        # Not ours: the core answers from the document root.
        resp = request(srv, "GET", "/x/v1/chat/completions")
        assert resp.status == 404 and b"invalid_request_error" not in resp.body
    finally:
        srv.stop()


def test_thousands_of_findings_are_counted_not_listed():
    """A fleet of many http:// instances: the first 20 findings one by one, the rest
    counted in one line that quotes the last (AOP00112), not a line each."""
    one = """\
  - name: "i{i:03d}"
    api_key: "k"
    api_base: "http://127.0.0.1:9"
    api_version: "2024-08-01-preview"
    supported_models: ["gpt-4o-mini"]
    model_deployments: {{ gpt-4o-mini: "d" }}
"""
    text = 'routing: { strategy: "failover" }\ninstances:\n' + "".join(
        one.format(i=i) for i in range(125))
    srv, res = configtest(text)
    assert res.returncode == 0, res.stderr
    each = [l for l in res.stderr.splitlines() if "AOP00002" in l and "plain http://" in l]
    assert len(each) == 20, res.stderr
    rest = [l for l in res.stderr.splitlines() if "AOP00112" in l]
    assert len(rest) == 1 and "105 more warnings" in rest[0] and "i124" in rest[0], rest
