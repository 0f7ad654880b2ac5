# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""An operator's first hour: one instance's problem never takes the server down (a
graceful restart or reload leaves it out; configtest still reports it), keys kept in
files, the admin key from a file, and start-up findings that reach the ErrorLog."""

import grp
import os
import pwd
import re
import time

import pytest

from conftest import KEYS, MPMS, make_server, request
from harness import wait_port

ADMIN = "admin-key-from-file-0123456789"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def www_data_gid():
    try:
        return grp.getgrnam("www-data").gr_gid
    except KeyError:
        return pwd.getpwnam("nobody").pw_gid


def key_file(srv, name, text, mode=0o640):
    path = os.path.join(srv.config_dir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, 0, www_data_gid())
    os.chmod(path, mode)
    return path


def alive(srv):
    resp = request(srv, "POST", "/v1/chat/completions", CHAT)
    return resp.status


def extra_instance(fleet, name, key_line, line_before=""):
    """An instance on the west mock that serves only `extra-model`."""
    return fleet.yaml() + """\
  - name: "%s"
%s    %s
    api_base: "http://127.0.0.1:%d"
    api_version: "2024-10-21"
    supported_models: ["extra-model"]
    model_deployments: { extra-model: "west-mini" }
""" % (name, line_before, key_line, fleet.west.port)


def served(srv, model):
    return request(srv, "POST", "/v1/chat/completions",
                   {"model": model, "messages": [{"role": "user", "content": "x"}]})


@pytest.fixture
def fresh(request):
    made = []

    def make(mpm, yaml_text, **kw):
        srv = make_server(mpm, yaml_text, **kw)
        made.append(srv)
        return srv
    yield make
    for srv in made:
        srv.stop()


def log_lines(srv, code):
    return [l for l in srv.read_log().splitlines() if code in l]


# ------------------------------------------------------------ graceful, reload

@pytest.mark.parametrize("mpm", MPMS)
def test_graceful_restart_leaves_out_an_instance_whose_variable_is_unset(fresh, fleet, mpm):
    """The envvars case: configtest sees the variable, the running parent does not."""
    srv = fresh(mpm, fleet.yaml())
    srv.start()
    pid = srv.pid()
    yaml_text = extra_instance(fleet, "extra", 'api_key: "${E2E_KEY_ONLY_IN_ENVVARS}"')
    srv.write_yaml("base.yaml", yaml_text)
    # configtest, run with the variable (as apache2ctl reads envvars), passes; without
    # it (the running parent's view) it reports the instance, file, line and key.
    saved = dict(srv.env)
    srv.env["E2E_KEY_ONLY_IN_ENVVARS"] = KEYS["west"]
    assert srv.configtest().returncode == 0
    srv.env = saved
    res = srv.configtest()
    assert res.returncode != 0
    assert re.search(r"base\.yaml:\d+: instances\[3\]\(extra\)\.api_key: .*"
                     r"\$\{E2E_KEY_ONLY_IN_ENVVARS\} is not set", res.stderr), res.stderr
    srv.expect_error("AOP00100")
    srv.graceful()
    assert srv.pid() == pid and wait_port(srv.port, 5)
    # everything else serves, in every process; the extra model is simply unknown
    for _ in range(12):
        assert alive(srv) == 200
    assert served(srv, "extra-model").status == 404
    (line,) = log_lines(srv, "AOP00100")
    assert "instance extra is left out" in line
    assert re.search(r"base\.yaml:\d+: instances\[3\]\(extra\)\.api_key", line), line
    assert KEYS["west"] not in srv.read_log()
    assert not srv.unexpected_errors()


@pytest.mark.parametrize("mpm", MPMS)
def test_reload_leaves_out_a_bad_instance_and_says_so(fresh, fleet, mpm):
    srv = fresh(mpm, fleet.yaml(), env={"ADMIN_API_KEY": ADMIN})
    srv.start()
    srv.write_yaml("base.yaml", extra_instance(fleet, "extra", 'api_key: "${E2E_UNSET_X}"'))
    srv.expect_error("AOP00109")
    resp = request(srv, "POST", "/config/reload", headers={"X-Admin-API-Key": ADMIN})
    assert resp.status == 200, resp.body
    body = resp.json()
    assert [l["name"] for l in body["left_out"]] == ["extra"]
    assert "E2E_UNSET_X" in body["left_out"][0]["problem"]
    assert alive(srv) == 200
    assert len(log_lines(srv, "AOP00109")) == 1
    assert not srv.unexpected_errors()


@pytest.mark.parametrize("mpm", MPMS)
def test_a_first_start_serves_without_the_bad_instance(fresh, fleet, mpm):
    srv = fresh(mpm, extra_instance(fleet, "extra", "api_key: \"${E2E_UNSET_Y}\""))
    srv.expect_error("AOP00100")
    srv.start()
    assert alive(srv) == 200
    assert len(log_lines(srv, "AOP00100")) == 1
    assert not srv.unexpected_errors()


# ------------------------------------------------------------ api_key_file

@pytest.mark.parametrize("mpm", MPMS)
def test_api_key_file_is_read_at_every_restart_and_reload(fresh, fleet, mpm):
    srv = fresh(mpm, extra_instance(fleet, "extra", 'api_key_file: "extra.key"'),
                env={"ADMIN_API_KEY": ADMIN})
    key_file(srv, "extra.key", KEYS["west"] + "\n")

    def sent_key():
        pairs = fleet.west.client.requests()[-1]["headers"]
        return [v for k, v in pairs if k.lower() == "api-key"][0]
    srv.start()
    assert served(srv, "extra-model").status == 200
    assert sent_key() == KEYS["west"]
    # a graceful restart reads the file again (the parent, as root)
    key_file(srv, "extra.key", "a-rotated-key-0001\n")
    srv.graceful()
    srv.expect_error(r"AOP000(4[0-9]|3[0-9])")
    served(srv, "extra-model")
    assert sent_key() == "a-rotated-key-0001"
    # so does a reload (a child, as www-data: root:www-data 0640 is readable there)
    key_file(srv, "extra.key", KEYS["west"] + "\n")
    resp = request(srv, "POST", "/config/reload", headers={"X-Admin-API-Key": ADMIN})
    assert resp.status == 200 and resp.json()["left_out"] == [], resp.body
    assert served(srv, "extra-model").status == 200
    assert sent_key() == KEYS["west"]
    log = srv.read_log()
    assert "a-rotated-key" not in log and KEYS["west"] not in log


def test_api_key_file_readable_by_others_fails_configtest_and_is_left_out(fresh, fleet):
    srv = fresh("event", extra_instance(fleet, "extra", 'api_key_file: "extra.key"'))
    key_file(srv, "extra.key", KEYS["west"] + "\n", mode=0o644)
    res = srv.configtest()
    assert res.returncode != 0
    assert "extra.key can be read or written by others (mode 0644)" in res.stderr, res.stderr
    assert KEYS["west"] not in res.stderr
    srv.expect_error("AOP00100")
    srv.start()
    assert alive(srv) == 200
    assert served(srv, "extra-model").status == 404
    assert KEYS["west"] not in srv.read_log()


def test_api_key_file_only_root_can_read_warns_about_reloads(fresh, fleet):
    srv = fresh("event", extra_instance(fleet, "extra", 'api_key_file: "extra.key"'))
    path = key_file(srv, "extra.key", KEYS["west"] + "\n", mode=0o600)
    os.chown(path, 0, 0)
    srv.start()
    assert served(srv, "extra-model").status == 200
    (line,) = log_lines(srv, "AOP00104")
    assert "instance extra" in line and "root:root" in line


# ------------------------------------------------------------ admin key

def admin_key_conf(path):
    return "AOProxyMaxBodySize 262144\nAOProxyAdminKeyFile \"%s\"\n" % path


@pytest.mark.parametrize("mpm", MPMS)
def test_admin_key_file_takes_effect_at_graceful_restart(fresh, fleet, mpm):
    srv = fresh(mpm, fleet.yaml())
    path = os.path.join(srv.root, "admin.key")
    srv.extra_conf = admin_key_conf(path)
    key_file(srv, "admin.key", ADMIN + "\n", mode=0o600)
    os.rename(os.path.join(srv.config_dir, "admin.key"), path)
    srv.start()

    def reload_with(key):
        return request(srv, "POST", "/config/reload", headers={"X-Admin-API-Key": key}).status
    assert reload_with(ADMIN) == 200
    new = "a-new-admin-key-fedcba987654"
    with open(path, "w") as f:
        f.write(new + "\n")
    srv.graceful()
    assert reload_with(new) == 200
    assert reload_with(ADMIN) == 401
    assert ADMIN not in srv.read_log() and new not in srv.read_log()


@pytest.mark.parametrize("source", ["file", "env"])
def test_a_short_admin_key_is_refused_from_every_source(fresh, fleet, source):
    kw = {"env": {"ADMIN_API_KEY": "short12"}} if source == "env" else {}
    srv = fresh("event", fleet.yaml(), **kw)
    if source == "file":
        path = os.path.join(srv.root, "admin.key")
        with open(path, "w") as f:
            f.write("short12\n")
        os.chmod(path, 0o600)
        srv.extra_conf = admin_key_conf(path)
    res = srv.configtest()
    assert res.returncode != 0 and "AOP00105" in res.stderr, res.stderr
    assert "at least 16 characters" in res.stderr
    # the server runs, the API refuses changes, the log says why
    srv.expect_error("AOP00106")
    srv.start()
    assert alive(srv) == 200
    resp = request(srv, "POST", "/config/reload", headers={"X-Admin-API-Key": "short12"})
    assert resp.status == 403
    assert len(log_lines(srv, "AOP00106")) == 1
    assert "short12" not in srv.read_log()


def test_admin_key_file_readable_by_others_is_refused(fresh, fleet):
    srv = fresh("event", fleet.yaml())
    path = os.path.join(srv.root, "admin.key")
    with open(path, "w") as f:
        f.write(ADMIN + "\n")
    os.chmod(path, 0o644)
    srv.extra_conf = admin_key_conf(path)
    res = srv.configtest()
    assert res.returncode != 0 and "can be read or written by others" in res.stderr
    assert ADMIN not in res.stderr


# ------------------------------------------------------------ start-up findings

@pytest.mark.parametrize("mpm", MPMS)
def test_start_up_warnings_reach_the_error_log(fresh, fleet, mpm):
    """The fleet's http:// instances draw AOP00002: once, in the ErrorLog, at a
    first start (not only on apache2ctl's terminal) and at a graceful restart."""
    srv = fresh(mpm, fleet.yaml())
    srv.start()
    first = log_lines(srv, "AOP00002")
    assert len([l for l in first if "plain http://" in l]) == 3, first
    srv.graceful()
    assert len([l for l in log_lines(srv, "AOP00002") if "plain http://" in l]) == 6


def test_shipped_example_endpoint_says_what_to_edit(fresh, fleet):
    yaml_text = fleet.yaml().replace('  - name: "dead"', """\
  - name: "instance1"
    api_key: "${AZURE_API_KEY_1}"
    api_base: "https://example.openai.azure.com"
    api_version: "2024-08-01-preview"
    supported_models: ["gpt-4o"]
    model_deployments: { gpt-4o: "gpt4o" }
  - name: "dead\"""")
    srv = fresh("event", yaml_text)
    res = srv.configtest()
    assert res.returncode == 0, res.stderr
    assert re.search(r"base\.yaml:\d+: instances\[0\]\(instance1\)\.api_base: "
                     r"https://example\.openai\.azure\.com is the example endpoint", res.stderr)
    assert "YOUR-RESOURCE.openai.azure.com" in res.stderr
    srv.start()
    assert alive(srv) == 200
    names = [i["name"] for i in request(srv, "GET", "/instances").json()["instances"]]
    assert "instance1" not in names


def test_root_only_yaml_fails_configtest(fresh, fleet):
    srv = fresh("event", fleet.yaml())
    os.chmod(os.path.join(srv.config_dir, "base.yaml"), 0o600)
    res = srv.configtest()
    assert res.returncode != 0
    assert "AOP00103" in res.stderr and "base.yaml is not readable by www-data" in res.stderr, \
        res.stderr


def test_unwritable_state_directory_is_found_at_start(fresh, fleet):
    srv = fresh("event", fleet.yaml())
    state = os.path.join(srv.root, "state")
    os.makedirs(state)
    os.chmod(state, 0o755)                  # root's, as a hand-made directory would be
    srv.start()
    (line,) = log_lines(srv, "AOP00101")
    assert "is not writable by www-data (root:root, mode 0755)" in line
    assert line.count(state) == 1, line


def test_empty_yaml_with_stored_instances_says_where_they_come_from(fresh, fleet):
    srv = fresh("event", fleet.yaml(), env={"ADMIN_API_KEY": ADMIN})
    srv.start()
    resp = request(srv, "POST", "/instances/add", {
        "name": "stored", "api_key": KEYS["east"],
        "api_base": "http://127.0.0.1:%d" % fleet.east.port, "api_version": "2024-10-21",
        "supported_models": ["gpt-4o-mini"], "model_deployments": {"gpt-4o-mini": "east-mini"}},
        headers={"X-Admin-API-Key": ADMIN})
    assert resp.status in (200, 201), resp.body
    srv.stop()
    srv.write_yaml("base.yaml", "instances: []\n")
    srv.start()
    assert alive(srv) == 200
    (line,) = log_lines(srv, "AOP00102")
    assert "lists no instances: the 1 served come from the instance store" in line


def test_no_instance_at_all_is_a_warning(fresh):
    srv = fresh("event", "instances: []\n")
    srv.start()
    assert len(log_lines(srv, "AOP00108")) == 1
