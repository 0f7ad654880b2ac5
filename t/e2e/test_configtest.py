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
