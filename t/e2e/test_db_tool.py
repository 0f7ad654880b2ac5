# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""aoproxy-db, the maintenance tool of the instance store: backup (integrity check,
online copy, VACUUM, rotation), health, restore (with and without a pre-restore
backup, under an open connection), migrate from the Python service's state file,
versions and the change log, usage errors.  Databases are made by the tool's own
migrate and inspected with Python's sqlite3.  No output may ever hold an api_key.

Finding the store: the real apache2 with the module from the build tree imports a
state file into the store its configuration names (AOP00087 says which file), and the
tool must find that same file from the configuration (--config, $APACHE_CONFDIR as
apache2ctl uses it, Includes, <IfModule>, ${VAR}s from envvars, <VirtualHost>s).
Progress: a store of 5000 instances and 50000 change-log rows copied with --progress,
through a pty without it, and quiet in a pipe."""

import glob
import json
import os
import re
import shlex
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import threading
import time

import pytest

import httpdconf
from conftest import MPMS
from harness import BUILDDIR, MODULE, Httpd, free_port, wait_port

TOOL = os.path.join(BUILDDIR, "aoproxy-db")
SECRETS = ("sk-dbtool-east-0123456789abcdef", "sk-dbtool-west-fedcba9876543210")
TABLES = ("instances", "instance_versions", "change_log", "schema_version")
BACKUP_NAME = re.compile(r"^instance_state_\d{8}_\d{6}(_\d+)?\.db$")

INSTANCES = [
    # as the Python service's InstanceManager._save_state_to_file() wrote them
    {"name": "east", "provider_type": "azure", "api_key": SECRETS[0],
     "api_base": "https://east.openai.azure.com", "api_version": "2024-02-01",
     "proxy_url": None, "priority": 100, "weight": 100, "max_tpm": 240000,
     "max_input_tokens": 0, "supported_models": ["gpt-4o", "gpt-4o-mini"],
     "model_deployments": {"gpt-4o": "east-4o", "gpt-4o-mini": "east-mini"},
     "stats": {"error_count": 0, "current_tpm": 0}, "status": "healthy"},
    {"name": "west", "api_key": SECRETS[1], "api_base": "https://west.openai.azure.com",
     "api_version": "2024-10-21", "priority": 200, "supported_models": ["gpt-4o-mini"],
     "model_deployments": {"gpt-4o-mini": "west-mini"}},
]


@pytest.fixture(autouse=True)
def clean_mocks():
    """Overrides conftest's: these tests run the tool only, no mock Azure."""
    yield


def run(*args, env=None, code=None):
    """Runs the tool; every output is checked for keys, whatever the test."""
    full_env = {k: v for k, v in os.environ.items() if k != "INSTANCE_MANAGER_DB_PATH"}
    full_env.update(env or {})
    res = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True,
                         env=full_env, timeout=120)
    # decoded without text mode, which would turn the progress line's \r into \n
    res.stdout, res.stderr = res.stdout.decode(), res.stderr.decode()
    for secret in SECRETS:
        assert secret not in res.stdout and secret not in res.stderr, "a key was printed"
    if code is not None:
        assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    return res


def write_state(path, instances=None, shape="list"):
    entries = INSTANCES if instances is None else instances
    if shape == "object":
        entries = {e["name"]: e for e in entries}
    with open(path, "w") as f:
        json.dump({"timestamp": 1715000000.5, "worker_id": "w1", "instances": entries}, f)
    return path


def rows(db):
    con = sqlite3.connect(db)
    try:
        return {t: sorted(con.execute("SELECT * FROM %s" % t).fetchall(), key=repr)
                for t in TABLES}
    finally:
        con.close()


def pragma(db, name):
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA %s" % name).fetchone()[0]
    finally:
        con.close()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def backup_paths(res):
    """The backups a run wrote, from its 'backed up X to Y: ...' lines."""
    return re.findall(r"^backed up \S+ to (\S+): ", res.stdout, re.M)


@pytest.fixture
def store(tmp_path):
    """A database made by the tool's migrate from a two-instance state file."""
    os.makedirs(tmp_path / "state")
    db = str(tmp_path / "state" / "instance_state.db")
    run("migrate", "--state-file", write_state(tmp_path / "state.json"), "--db-path", db,
        code=0)
    return db


# --------------------------------------------------------------------------
# migrate

@pytest.mark.parametrize("shape", ["list", "object"])
def test_migrate_creates_the_database_and_verifies(tmp_path, shape):
    db = str(tmp_path / "new.db")
    res = run("migrate", "--state-file", write_state(tmp_path / "s.json", shape=shape),
              "--db-path", db, code=0)
    assert "migrated 2 instances" in res.stdout and "east, west" in res.stdout
    assert mode(db) == 0o600
    r = rows(db)
    assert [row[0] for row in r["instances"]] == ["east", "west"]
    assert [row[3] for row in r["change_log"]] == ["import", "import"]
    east = json.loads(r["instances"][0][1])
    # the store holds the key itself (owner-only file); the Python runtime fields go
    assert east["api_key"] == SECRETS[0]
    assert "stats" not in east and "status" not in east
    assert east["model_deployments"] == {"gpt-4o": "east-4o", "gpt-4o-mini": "east-mini"}


def test_migrate_twice_is_refused(tmp_path, store):
    before = rows(store)
    res = run("migrate", "--state-file", write_state(tmp_path / "again.json"),
              "--db-path", store, code=1)
    assert "refusing to migrate" in res.stderr and store in res.stderr
    assert "holds 2 instances" in res.stderr
    assert rows(store) == before


def test_migrate_missing_or_bad_state_file(tmp_path):
    db = str(tmp_path / "x.db")
    res = run("migrate", "--state-file", tmp_path / "nope.json", "--db-path", db, code=1)
    assert "nope.json does not exist" in res.stderr
    bad = [dict(INSTANCES[0]), dict(INSTANCES[1], weight="heavy")]
    res = run("migrate", "--state-file", write_state(tmp_path / "bad.json", bad),
              "--db-path", db, code=1)
    assert "bad.json" in res.stderr and "weight" in res.stderr and "west" in res.stderr
    assert not os.path.exists(db), "a failed migration leaves no database behind"
    res = run("migrate", "--state-file", write_state(tmp_path / "s.json"),
              "--db-path", tmp_path / "no-such-dir" / "x.db", code=1)
    assert "no-such-dir does not exist" in res.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_migrate_as_root_gives_the_new_database_to_the_directory_owner(tmp_path):
    d = tmp_path / "apache"
    os.makedirs(d)
    os.chown(d, 65534, 65534)
    db = str(d / "instance_state.db")
    run("migrate", "--state-file", write_state(tmp_path / "s.json"), "--db-path", db, code=0)
    st = os.stat(db)
    assert (st.st_uid, st.st_gid, mode(db)) == (65534, 65534, 0o600)


# --------------------------------------------------------------------------
# backup

def test_backup_copies_every_row_into_a_private_timestamped_file(store):
    res = run("backup", "--db-path", store, code=0)
    [path] = backup_paths(res)
    assert os.path.dirname(path) == os.path.join(os.path.dirname(store), "backups")
    assert BACKUP_NAME.match(os.path.basename(path)), path
    assert mode(path) == 0o600 and mode(os.path.dirname(path)) == 0o700
    assert rows(path) == rows(store)
    assert pragma(path, "integrity_check") == "ok"
    # one self-contained file, no -wal beside it
    assert pragma(path, "journal_mode") == "delete"
    assert not glob.glob(path + "-*") and not glob.glob(path + ".partial*")


def test_backup_rotation_keeps_the_newest(store, tmp_path):
    d = tmp_path / "bk"
    made = []
    for _ in range(3):
        made += backup_paths(run("backup", "--db-path", store, "--backup-dir", d,
                                 "--max-backups", 2, code=0))
    other = [d / "notes.txt", d / "pre_restore_instance_state_20200101_000000.db"]
    for f in other:
        f.write_text("not a rotated backup")
    res = run("backup", "--db-path", store, "--backup-dir", d, "--max-backups", 2, code=0)
    made += backup_paths(res)
    assert len(set(made)) == 4, "each backup gets a name of its own"
    kept = sorted(p for p in os.listdir(d) if BACKUP_NAME.match(p))
    assert [os.path.join(d, p) for p in kept] == sorted(made[-2:])
    assert "removed old backup %s" % made[-3] in res.stdout
    assert all(os.path.exists(f) for f in other)


def test_backup_rotation_after_three_backups_leaves_two(store, tmp_path):
    d = tmp_path / "bk"
    for _ in range(3):
        run("backup", "--db-path", store, "--backup-dir", d, "--max-backups", 2, code=0)
    assert len([p for p in os.listdir(d) if BACKUP_NAME.match(p)]) == 2


def corrupt_pages(path):
    """Overwrites the middle of the second table's root page."""
    with open(path, "r+b") as f:
        f.seek(2 * 4096 + 10)
        f.write(b"\xff" * 300)


@pytest.mark.parametrize("damage", ["junk", "pages"])
def test_backup_of_a_corrupt_database_is_refused(store, tmp_path, damage):
    if damage == "junk":
        with open(store, "wb") as f:
            f.write(os.urandom(8192))
    else:
        corrupt_pages(store)
    d = tmp_path / "bk"
    res = run("backup", "--db-path", store, "--backup-dir", d, code=1)
    assert "refusing to back up a damaged database" in res.stderr and store in res.stderr
    assert not os.path.exists(d) or not os.listdir(d)


def test_backup_of_a_missing_database(tmp_path):
    res = run("backup", "--db-path", tmp_path / "none.db", code=1)
    assert "none.db: does not exist" in res.stderr
    assert not os.path.exists(tmp_path / "none.db")


def test_vacuum_and_no_vacuum_give_the_same_rows(store, tmp_path):
    con = sqlite3.connect(store)    # free pages for VACUUM to drop
    con.execute("CREATE TABLE scratch(x)")
    con.executemany("INSERT INTO scratch VALUES (?)", [(b"x" * 2000,)] * 200)
    con.commit()
    con.execute("DROP TABLE scratch")
    con.commit()
    con.close()
    [vacuumed] = backup_paths(run("backup", "--db-path", store, "--backup-dir",
                                  tmp_path / "a", code=0))
    [plain] = backup_paths(run("backup", "--db-path", store, "--backup-dir", tmp_path / "b",
                               "--no-vacuum", code=0))
    assert rows(vacuumed) == rows(plain) == rows(store)
    for path in (vacuumed, plain):
        assert pragma(path, "integrity_check") == "ok"
    assert pragma(vacuumed, "freelist_count") == 0 < pragma(plain, "freelist_count")
    assert os.path.getsize(vacuumed) < os.path.getsize(plain)


def test_backup_sees_what_is_only_in_the_wal(store, tmp_path):
    con = sqlite3.connect(store, isolation_level=None)
    try:
        con.execute("PRAGMA wal_autocheckpoint=0")
        con.execute("UPDATE instances SET updated_by = 'in-wal' WHERE name = 'east'")
        assert os.path.getsize(store + "-wal") > 0
        [path] = backup_paths(run("backup", "--db-path", store, "--backup-dir", tmp_path,
                                  code=0))
    finally:
        con.close()
    assert ("east", "in-wal") in [(r[0], r[5]) for r in rows(path)["instances"]]


# --------------------------------------------------------------------------
# health

def test_health_reports_integrity_counts_and_history(store, tmp_path):
    res = run("health", "--db-path", store, code=0)
    h = json.loads(res.stdout)
    assert h["status"] == "ok" and h["ok"] is True and "error" not in h
    assert h["db_path"] == store and h["integrity"] == "ok" and h["schema_version"] == 1
    assert h["file_size"] == os.path.getsize(store) and h["wal_size"] >= 0
    assert h["page_size"] * h["page_count"] >= h["file_size"] > 0
    assert h["journal_mode"] == "wal"
    for table, n in {t: len(r) for t, r in rows(store).items()}.items():
        assert h["tables"][table] == n, table
    assert h["instances"] == {"live": 2, "deleted": 0}
    assert h["versions"]["total"] == 2 and h["versions"]["instances"] == 2
    assert h["versions"]["max_per_instance"] == 1
    times = [r[1] for r in rows(store)["change_log"]]
    assert h["change_log"] == {"entries": 2, "oldest": min(times), "newest": max(times)}
    assert h["versions"]["oldest"] <= h["versions"]["newest"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", h["checked_at"])


def test_health_output_file(store, tmp_path):
    out = tmp_path / "report.json"
    res = run("health", "--db-path", store, "--output", out, code=0)
    assert res.stdout == ""
    assert json.loads(out.read_text())["ok"] is True
    assert mode(out) == 0o644
    assert "api_key" not in out.read_text()


def test_health_of_missing_and_corrupt_databases(store, tmp_path):
    missing = str(tmp_path / "none.db")
    res = run("health", "--db-path", missing, code=1)
    h = json.loads(res.stdout)
    assert h["status"] == "missing" and h["ok"] is False and h["file_size"] is None
    assert "does not exist" in h["error"] and "none.db" in res.stderr
    assert not os.path.exists(missing), "health never creates the database"
    corrupt_pages(store)
    out = tmp_path / "report.json"
    res = run("health", "--db-path", store, "--output", out, code=1)
    h = json.loads(out.read_text())
    assert h["status"] == "corrupt" and h["ok"] is False and h["integrity"] != "ok"
    assert store in res.stderr


def test_default_db_path_comes_from_the_environment(store):
    h = json.loads(run("health", env={"INSTANCE_MANAGER_DB_PATH": store}, code=0).stdout)
    assert h["db_path"] == store


def test_default_db_path_without_the_environment_or_an_apache_configuration(tmp_path):
    res = run("health", env={"APACHE_CONFDIR": str(tmp_path)}, code=1)
    h = json.loads(res.stdout)
    assert h["db_path"] == "/var/lib/apache2/aoproxy/instance_state.db"
    # the report and the failure say where the tool looked, and why it took the default
    why = "the module's default, as there is no Apache configuration at %s/%s" \
        % (tmp_path, CONF_NAME)
    assert h["db_source"].startswith(why), h["db_source"]
    assert "from " + why in res.stderr


# --------------------------------------------------------------------------
# restore

def change_something(db):
    con = sqlite3.connect(db)
    con.execute("UPDATE instances SET updated_by = 'someone' WHERE name = 'east'")
    con.execute("INSERT INTO change_log(at, who, action, name, detail) "
                "VALUES('2030-01-01T00:00:00.000Z', 'someone', 'update', 'east', '{}')")
    con.commit()
    con.close()


def test_restore_saves_the_current_database_first(store, tmp_path):
    [backup] = backup_paths(run("backup", "--db-path", store, "--backup-dir", tmp_path / "b",
                                code=0))
    change_something(store)
    changed = rows(store)
    res = run("restore", "--backup-path", backup, "--db-path", store, code=0)
    assert rows(store) == rows(backup) != changed
    [pre] = glob.glob(os.path.join(os.path.dirname(store), "backups",
                                   "pre_restore_instance_state_*.db"))
    assert pre in res.stdout and "restored %s into %s: 2 instances" % (backup, store) \
        in res.stdout
    assert rows(pre) == changed and mode(pre) == 0o600
    assert mode(store) == 0o600
    assert pragma(store, "integrity_check") == "ok"
    # the pre-restore backup is outside the rotation
    for _ in range(2):
        run("backup", "--db-path", store, "--max-backups", 1, code=0)
    assert os.path.exists(pre)


def test_restore_without_pre_restore_backup(store, tmp_path):
    [backup] = backup_paths(run("backup", "--db-path", store, "--backup-dir", tmp_path / "b",
                                code=0))
    change_something(store)
    run("restore", "--backup-path", backup, "--db-path", store, "--no-pre-restore-backup",
        code=0)
    assert rows(store) == rows(backup)
    assert not glob.glob(os.path.join(os.path.dirname(store), "backups", "*"))
    assert not glob.glob(os.path.join(os.path.dirname(store), ".aoproxy-db-restore-*"))


def test_restore_into_a_new_path(store, tmp_path):
    [backup] = backup_paths(run("backup", "--db-path", store, "--backup-dir", tmp_path / "b",
                                code=0))
    new = str(tmp_path / "fresh.db")
    run("restore", "--backup-path", backup, "--db-path", new, code=0)
    assert rows(new) == rows(backup) and mode(new) == 0o600


def test_restore_under_an_open_connection_with_a_wal(store, tmp_path):
    """What Apache would see: a connection holding the database open, with pages in
    its -wal, reads the restored content in its next transaction."""
    [backup] = backup_paths(run("backup", "--db-path", store, "--backup-dir", tmp_path / "b",
                                code=0))
    con = sqlite3.connect(store, isolation_level=None)
    try:
        con.execute("PRAGMA wal_autocheckpoint=0")
        con.execute("UPDATE instances SET updated_by = 'in-wal' WHERE name = 'east'")
        assert os.path.getsize(store + "-wal") > 0
        run("restore", "--backup-path", backup, "--db-path", store, code=0)
        assert con.execute("SELECT updated_by FROM instances WHERE name = 'east'") \
            .fetchone()[0] == "state-file"
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    assert rows(store) == rows(backup)


def test_restore_refuses_a_bad_backup(store, tmp_path):
    before = rows(store)
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(8192))
    res = run("restore", "--backup-path", junk, "--db-path", store, code=1)
    assert "refusing to restore" in res.stderr and str(junk) in res.stderr
    empty = str(tmp_path / "other.db")
    sqlite3.connect(empty).execute("CREATE TABLE t(x)").connection.close()
    res = run("restore", "--backup-path", empty, "--db-path", store, code=1)
    assert "holds no instance store" in res.stderr
    res = run("restore", "--backup-path", tmp_path / "none.db", "--db-path", store, code=1)
    assert "none.db does not exist" in res.stderr
    res = run("restore", "--backup-path", store, "--db-path", store, code=1)
    assert "is the database itself" in res.stderr
    assert rows(store) == before
    assert not os.path.exists(os.path.join(os.path.dirname(store), "backups"))


def test_restore_refuses_a_backup_whose_record_is_invalid(store, tmp_path):
    [backup] = backup_paths(run("backup", "--db-path", store, "--backup-dir", tmp_path / "b",
                                code=0))
    con = sqlite3.connect(backup)
    con.execute("UPDATE instances SET data = json_set(data, '$.weight', -5) "
                "WHERE name = 'west'")
    con.commit()
    con.close()
    before = rows(store)
    res = run("restore", "--backup-path", backup, "--db-path", store, code=1)
    assert ("backup %s:" % backup) in res.stderr and "west" in res.stderr
    assert ".aoproxy-db-restore" not in res.stderr
    assert rows(store) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_restore_as_root_keeps_the_owner(store, tmp_path):
    [backup] = backup_paths(run("backup", "--db-path", store, "--backup-dir", tmp_path / "b",
                                code=0))
    os.chown(store, 65534, 65534)
    os.chmod(store, 0o644)
    run("restore", "--backup-path", backup, "--db-path", store, code=0)
    st = os.stat(store)
    assert (st.st_uid, st.st_gid, mode(store)) == (65534, 65534, 0o600)


# --------------------------------------------------------------------------
# versions and log

def test_versions_as_json_with_masked_keys(store):
    v = json.loads(run("versions", "east", "--db-path", store, code=0).stdout)
    assert v["name"] == "east"
    [first] = v["versions"]
    assert first["version"] == 1 and first["change"] == "import"
    assert first["changed_by"] == "state-file"
    assert "api_key" in first["fields"]
    assert first["instance"]["api_key"] == "***"
    assert first["instance"]["api_base"] == "https://east.openai.azure.com"


def test_versions_of_unknown_name_or_missing_database(store, tmp_path):
    res = run("versions", "nobody", "--db-path", store, code=1)
    assert '"nobody" has no stored versions' in res.stderr
    missing = tmp_path / "none.db"
    res = run("versions", "east", "--db-path", missing, code=1)
    assert "none.db does not exist" in res.stderr and not os.path.exists(missing)


def test_log_newest_first_with_limit(store, tmp_path):
    entries = json.loads(run("log", "--db-path", store, code=0).stdout)["entries"]
    assert [e["name"] for e in entries] == ["west", "east"]
    assert [e["action"] for e in entries] == ["import", "import"]
    assert entries[0]["id"] > entries[1]["id"]
    assert entries[0]["detail"]["version"] == 1 and "api_key" in entries[0]["detail"]["fields"]
    one = json.loads(run("log", "--db-path", store, "--limit", 1, code=0).stdout)["entries"]
    assert one == entries[:1]
    assert json.loads(run("log", "--db-path", store, "--limit", 0, code=0).stdout)["entries"] \
        == entries
    res = run("log", "--db-path", tmp_path / "none.db", code=1)
    assert "does not exist" in res.stderr


# --------------------------------------------------------------------------
# command line

@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["backup", "--bogus"],
    ["backup", "--db-path"],
    ["backup", "--db-path="],
    ["backup", "--max-backups", "0"],
    ["backup", "--max-backups", "many"],
    ["backup", "extra"],
    ["health", "--no-vacuum"],
    ["restore"],
    ["restore", "--backup-path", "b.db", "--limit", "3"],
    ["migrate"],
    ["versions"],
    ["versions", "a", "b"],
    ["log", "--limit", "-1"],
])
def test_usage_errors_exit_2(args):
    res = run(*args, code=2)
    assert res.stdout == ""
    assert "Usage: aoproxy-db" in res.stderr


@pytest.mark.parametrize("cmd", ["backup", "health", "restore", "migrate", "versions", "log"])
def test_help_of_each_command(cmd):
    res = run(cmd, "--help", code=0)
    assert res.stdout.startswith("Usage: aoproxy-db %s" % cmd)
    assert "--db-path" in res.stdout and res.stderr == ""


def test_general_help():
    res = run("--help", code=0)
    for cmd in ("backup", "health", "restore", "migrate", "versions", "log"):
        assert "aoproxy-db %s" % cmd in res.stdout


def test_no_key_in_any_output_or_report(store, tmp_path):
    """run() checks stdout and stderr of every call; the written report too."""
    out = tmp_path / "h.json"
    run("health", "--db-path", store, "--output", out, code=0)
    run("versions", "west", "--db-path", store, code=0)
    run("log", "--db-path", store, "--limit", 0, code=0)
    run("backup", "--db-path", store, code=0)
    bad = [dict(INSTANCES[1], api_base="not a url")]
    run("migrate", "--state-file", write_state(tmp_path / "bad.json", bad), "--db-path",
        tmp_path / "other.db", code=1)
    for secret in SECRETS:
        assert secret not in out.read_text()


# --------------------------------------------------------------------------
# finding the store the server uses

CONF_NAME = httpdconf.apxs_query("TARGET") + ".conf"     # Debian: apache2.conf

YAML = """\
instances:
  - name: "yaml-one"
    api_key: "key-yaml-0123456789abcdef"
    api_base: "http://127.0.0.1:9"
    api_version: "2024-10-21"
    supported_models: ["gpt-4o"]
    model_deployments: { gpt-4o: "dep-yaml" }
"""

# What a server imports at its first start (INSTANCE_MANAGER_STATE_FILE): it then
# creates its store, and says which file in AOP00087.
SERVED_STATE = [dict(i, api_base="http://127.0.0.1:9") for i in INSTANCES]


class Server(Httpd):
    """The harness's server; main_state_db False drops the AOProxyStateDB line the
    harness writes into the main server, so that nothing in the files names a store."""
    main_state_db = True

    def write_conf(self):
        super().write_conf()
        if not self.main_state_db:
            with open(self.conf_path) as f:
                lines = [l for l in f if not l.startswith("AOProxyStateDB")]
            with open(self.conf_path, "w") as f:
                f.writelines(lines)


def write_files(root, files):
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text.replace("ROOT", root))


@pytest.fixture
def servers(request):
    """Makes servers in scratch roots (not started); stops what was started and checks
    each error log for [error] lines after the test."""
    made = []

    def make(extra_conf="", files=None, mpm="event", env=None, conf_name="httpd.conf"):
        root = tempfile.mkdtemp(prefix="aop-dbtool-")
        srv = Server(root, mpm=mpm, extra_conf=extra_conf.replace("ROOT", root),
                     env=dict({"INSTANCE_MANAGER_STATE_FILE": os.path.join(root, "state.json")},
                              **(env or {})))
        srv.env.pop("INSTANCE_MANAGER_DB_PATH", None)
        srv.conf_path = os.path.join(root, conf_name)
        srv.write_yaml("base.yaml", YAML)
        write_state(os.path.join(root, "state.json"), SERVED_STATE)
        write_files(root, files or {})
        made.append(srv)
        return srv
    yield make
    for srv in made:
        bad = srv.unexpected_errors()
        srv.stop()
        if not request.session.testsfailed:
            shutil.rmtree(srv.root, ignore_errors=True)
        assert not bad, "\n".join(bad)


def stores_made(srv):
    """The stores the server imported the state file into (AOP00087)."""
    return re.findall(r"AOP00087: imported 2 instances from the state file \S+ into (\S+)",
                      srv.read_log())


def line_of(path, text):
    with open(path) as f:
        return [i for i, line in enumerate(f, 1) if text in line][0]


def health_of(*args, env=None, code=0):
    res = run("health", *args, env=env, code=code)
    return json.loads(res.stdout), res


@pytest.mark.parametrize("mpm", MPMS)
def test_config_finds_the_store_set_in_an_included_file(servers, mpm):
    """AOProxyStateDB in a file that an Include wildcard brings in, relative to the
    ServerRoot, chosen by <IfModule> of the MPM, with a Define'd and an environment
    ${VAR}: it overrides the main file's own AOProxyStateDB, as httpd reads it."""
    srv = servers(mpm=mpm, env={"AOP_STORE_NAME": "from-env"},
                  extra_conf='Include "conf.d/*.conf"\n', files={
                      "conf.d/10-store.conf": """\
# the store, per MPM
Define STORE_DIR stores
<IfModule mpm_prefork_module>
    AOProxyStateDB "${STORE_DIR}/prefork.db"
</IfModule>
<IfModule !mpm_prefork_module>
    AOProxyStateDB \\
        "${STORE_DIR}/${AOP_STORE_NAME}.db"
</IfModule>
<IfDefine NEVER_DEFINED>
    AOProxyStateDB "/nowhere/never.db"
</IfDefine>
""", "conf.d/README": "not included: the wildcard says *.conf\n"})
    srv.start()
    expected = os.path.join(srv.root, "stores", "prefork.db" if mpm == "prefork"
                            else "from-env.db")
    assert stores_made(srv) == [expected]
    assert not os.path.exists(os.path.join(srv.root, "state", "instance_state.db"))
    h, res = health_of("--config", srv.conf_path, env={"AOP_STORE_NAME": "from-env"})
    assert h["ok"] is True and h["db_path"] == expected, h
    assert h["instances"] == {"live": 2, "deleted": 0}
    line = 4 if mpm == "prefork" else 7
    assert h["db_source"].startswith("AOProxyStateDB at %s/conf.d/10-store.conf:%d "
                                     % (srv.root, line)), h["db_source"]
    v = json.loads(run("versions", "east", "--config", srv.conf_path,
                       env={"AOP_STORE_NAME": "from-env"}, code=0).stdout)
    assert v["versions"][0]["change"] == "import"
    res = run("log", "--config", srv.conf_path, "--verbose",
              env={"AOP_STORE_NAME": "from-env"}, code=0)
    assert "aoproxy-db log: database %s, from AOProxyStateDB at" % expected in res.stderr


def apache2ctl(srv, cmd, env):
    """Debian's apache2ctl, as an operator runs it for the configuration in srv.root."""
    res = subprocess.run(["apache2ctl", cmd], capture_output=True, text=True, timeout=60,
                         env=dict(srv.env, APACHE_STARTED_BY_SYSTEMD="1", **env))
    assert res.returncode == 0, (res.stdout, res.stderr, srv.read_log())


ENVVARS = """\
# as Debian's /etc/apache2/envvars: sourced by apache2ctl
export APACHE_RUN_DIR=ROOT/run
export APACHE_LOCK_DIR=ROOT/lock
export APACHE_LOG_DIR=ROOT
export AOP_STORE_DIR=ROOT/from-envvars
"""


@pytest.mark.parametrize("named_by", ["directive", "envvars"])
def test_apache_confdir_finds_the_store_without_options(servers, named_by):
    """The layout apache2ctl reads: $APACHE_CONFDIR/apache2.conf, IncludeOptional
    conf-enabled/*.conf, envvars.  The store is named by AOProxyStateDB with a ${VAR}
    that only envvars sets, or by $INSTANCE_MANAGER_DB_PATH that only envvars sets.
    The old tool reported the default path as missing here."""
    files = {"envvars": ENVVARS}
    if named_by == "directive":
        files["conf-enabled/aoproxy-store.conf"] = \
            'AOProxyStateDB "${AOP_STORE_DIR}/instance_state.db"\n'
    else:
        files["envvars"] += "export INSTANCE_MANAGER_DB_PATH=ROOT/from-envvars/env.db\n"
    srv = servers(extra_conf="IncludeOptional conf-enabled/*.conf\n"
                             "IncludeOptional mods-enabled/*.load\n",
                  files=files, conf_name=CONF_NAME)
    srv.main_state_db = False
    srv.write_conf()
    confdir = {"APACHE_CONFDIR": srv.root}
    apache2ctl(srv, "start", confdir)
    # the pid file comes after the post_config run that imports the state file
    deadline = time.time() + 15
    while srv.pid() is None and time.time() < deadline:
        time.sleep(0.05)
    assert wait_port(srv.port) and srv.pid(), srv.read_log()
    try:
        expected = os.path.join(srv.root, "from-envvars",
                                "instance_state.db" if named_by == "directive" else "env.db")
        assert stores_made(srv) == [expected]
        h, res = health_of(env=confdir)
        assert h["ok"] is True and h["db_path"] == expected, h
        assert h["instances"]["live"] == 2
        if named_by == "directive":
            assert h["db_source"].startswith(
                "AOProxyStateDB at %s/conf-enabled/aoproxy-store.conf:1 (Apache configuration "
                "%s/%s, named by $APACHE_CONFDIR)" % (srv.root, srv.root, CONF_NAME))
        else:
            assert h["db_source"].startswith(
                "$INSTANCE_MANAGER_DB_PATH after sourcing %s/envvars, as no AOProxyStateDB "
                "is set" % srv.root), h["db_source"]
        # an explicit $INSTANCE_MANAGER_DB_PATH still comes first, --config before it
        other = os.path.join(srv.root, "other.db")
        h, _ = health_of(env=dict(confdir, INSTANCE_MANAGER_DB_PATH=other), code=1)
        assert h["db_path"] == other and h["db_source"] == "$INSTANCE_MANAGER_DB_PATH"
        h, _ = health_of("--config", srv.conf_path, env={"INSTANCE_MANAGER_DB_PATH": other})
        assert h["db_path"] == expected
    finally:
        apache2ctl(srv, "stop", confdir)


def test_stock_debian_configuration_with_the_module_enabled(tmp_path, monkeypatch):
    """A copy of this machine's /etc/apache2 with the module enabled as a Debian
    package would (mods-enabled/aoproxy.load, conf-enabled/aoproxy.conf): the real
    envvars is sourced (APACHE_LOCK_DIR), the real Includes are followed."""
    if not os.path.isfile("/etc/apache2/apache2.conf"):
        pytest.skip("no Debian Apache configuration on this machine")
    confdir = str(tmp_path / "apache2")
    shutil.copytree("/etc/apache2", confdir, symlinks=True)
    write_files(confdir, {
        "mods-enabled/aoproxy.load": "LoadModule aoproxy_module %s\n" % MODULE,
        "conf-enabled/aoproxy.conf": """\
<IfModule aoproxy_module>
    AOProxyConfigDir /etc/aoproxy
    AOProxyStateDB "${APACHE_LOCK_DIR}/aoproxy/instance_state.db"
</IfModule>
"""})
    h, res = health_of(env={"APACHE_CONFDIR": confdir}, code=1)
    assert h["status"] == "missing"
    assert h["db_path"] == "/var/lock/apache2/aoproxy/instance_state.db"
    assert h["db_source"].startswith("AOProxyStateDB at %s/conf-enabled/aoproxy.conf:3 "
                                     % confdir), h["db_source"]
    assert "from AOProxyStateDB at %s/conf-enabled/aoproxy.conf:3" % confdir in res.stderr
    # without the LoadModule the <IfModule> section is out: nothing uses the module
    os.unlink(os.path.join(confdir, "mods-enabled", "aoproxy.load"))
    h, _ = health_of(env={"APACHE_CONFDIR": confdir}, code=1)
    assert h["db_path"] == "/var/lib/apache2/aoproxy/instance_state.db"
    assert "has no server that uses mod_aoproxy" in h["db_source"]


VHOSTS = """\
Listen 127.0.0.1:{p2}
Listen 127.0.0.1:{p3}
<VirtualHost 127.0.0.1:{p2}>
    ServerName b1.example
    AOProxyConfigDir "ROOT/second"
    AOProxyStateDB "stores/b1.db"
</VirtualHost>
<VirtualHost 127.0.0.1:{p2}>
    ServerName b2.example
    ServerAlias api.b2.example
    AOProxyConfigDir "ROOT/second"
    AOProxyStateDB "stores/b2.db"
</VirtualHost>
<VirtualHost 127.0.0.1:{p3}>
    ServerName inherits.example
    AOProxyStateDB "stores/ignored.db"
</VirtualHost>
"""


def test_virtual_hosts_with_two_stores_make_the_user_choose(servers):
    """Two configurations, two stores.  As the module decides: servers that share a
    configuration share the store of the first of them in httpd's order (the main
    server, then the virtual hosts last to first), so b2.db serves b1 and b2, and the
    main server's store serves inherits.example despite its own AOProxyStateDB."""
    p2, p3 = free_port(), free_port()
    srv = servers(extra_conf=VHOSTS.format(p2=p2, p3=p3),
                  files={"second/base.yaml": YAML.replace("yaml-one", "yaml-two")})
    srv.start()
    main = os.path.join(srv.root, "state", "instance_state.db")
    b2 = os.path.join(srv.root, "stores", "b2.db")
    assert sorted(stores_made(srv)) == sorted([main, b2])
    for unused in ("b1.db", "ignored.db"):
        assert not os.path.exists(os.path.join(srv.root, "stores", unused))

    res = run("health", "--config", srv.conf_path, code=2)
    assert res.stdout == ""
    assert "uses 2 instance stores; choose one with --vhost NAME or --db-path P" in res.stderr
    used_by = dict(re.findall(r"^  (/\S+)\n    used by (.*)$", res.stderr, re.M))
    assert set(used_by) == {main, b2}, res.stderr
    assert used_by[main].startswith("the main server (127.0.0.1); <VirtualHost 127.0.0.1:%d> "
                                    "at " % p3)
    assert "(inherits.example)" in used_by[main]
    assert "(b1.example)" in used_by[b2] and "(b2.example)" in used_by[b2]
    for name, store in [("b1.example", b2), ("api.b2.example", b2), ("B2.example", b2),
                        ("inherits.example", main), ("127.0.0.1:%d" % p3, main)]:
        h, _ = health_of("--config", srv.conf_path, "--vhost", name)
        assert h["db_path"] == store and h["ok"] is True, (name, h)
    assert h["db_source"].startswith("AOProxyStateDB at %s:%d " % (
        srv.conf_path, line_of(srv.conf_path, "AOProxyStateDB \"%s/state/" % srv.root)))
    h, _ = health_of("--config", srv.conf_path, "--vhost", "b1.example")
    assert h["db_source"].startswith("AOProxyStateDB at %s:%d " % (
        srv.conf_path, line_of(srv.conf_path, "stores/b2.db")))
    res = run("health", "--config", srv.conf_path, "--vhost", "nosuch.example", code=1)
    assert "--vhost nosuch.example: no server of %s" % srv.conf_path in res.stderr


# --------------------------------------------------------------------------
# reading configurations: what httpd refuses, the tool refuses

@pytest.mark.parametrize("text, message", [
    # after the two lines of ServerRoot and AOProxyConfigDir
    ("<VirtualHost *:80>\nServerName x\n", "httpd.conf:3: <VirtualHost> is not closed"),
    ("<IfModule foo_module>\n</IfDefine>\n", "httpd.conf:4: </IfDefine> closes <IfModule> "
                                             "of line 3"),
    ("Include missing.conf\n", "Include ROOT/missing.conf: no such file"),
    ("Include conf.d/*.conf\n", "Include ROOT/conf.d/*.conf: no file matches"),
    ("Include httpd.conf\n", "Includes nested more than 32 deep"),
    ("<VirtualHost *:80>\n<VirtualHost *:81>\n</VirtualHost>\n</VirtualHost>\n",
     "httpd.conf:4: <VirtualHost> inside <VirtualHost>"),
])
def test_a_configuration_httpd_would_refuse(tmp_path, text, message):
    conf = tmp_path / "httpd.conf"
    conf.write_text('ServerRoot "%s"\nAOProxyConfigDir /x\n%s' % (tmp_path, text))
    res = run("health", "--config", conf, code=1)
    assert res.stdout == ""
    assert "cannot read the Apache configuration %s (--config): " % conf in res.stderr
    assert message.replace("ROOT", str(tmp_path)) in res.stderr, res.stderr


def test_include_optional_skips_what_is_missing(tmp_path):
    conf = tmp_path / "httpd.conf"
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text('AOProxyStateDB "b.db"\n')
    (tmp_path / "conf.d" / "a.conf").write_text('AOProxyStateDB "a.db"\n')
    conf.write_text("AOProxyConfigDir /x\nIncludeOptional missing.conf\n"
                    "IncludeOptional nothing/*.conf\nInclude conf.d\n")
    # a directory is included whole, in name order: the last one read wins
    h, _ = health_of("--config", conf, code=1)
    assert h["db_path"] == str(tmp_path / "b.db")


def test_config_without_the_module_and_conflicting_options(tmp_path, store):
    conf = tmp_path / "httpd.conf"
    conf.write_text('AOProxyStateDB "x.db"\n')
    res = run("health", "--config", conf, code=1)
    assert "has no server that uses mod_aoproxy (no AOProxyConfigDir)" in res.stderr
    res = run("backup", "--config", conf, "--db-path", store, code=2)
    assert "--db-path names the database itself: not with --config" in res.stderr
    res = run("health", "--vhost", "x.example", "--db-path", store, code=2)
    assert "not with --vhost" in res.stderr
    res = run("health", "--config", tmp_path / "none.conf", code=1)
    assert "cannot read %s: no such file" % (tmp_path / "none.conf") in res.stderr


# --------------------------------------------------------------------------
# progress of long operations

BIG = 5000              # instances
LOG_ROWS = 50000        # change-log rows on top: a store of some 20 MB


def steps(stderr, cmd, what):
    """The counts that the progress line of one step showed, in order."""
    return [tuple(int(n) for n in m) for m in re.findall(
        r"\r%s: %s (\d+)/(\d+) \w+ \((\d+)%%\)" % (cmd, re.escape(what)), stderr)]


def assert_progressed(shown, total):
    """Several updates, growing, ending at total and 100%."""
    assert len(shown) >= 5, shown
    assert [s[0] for s in shown] == sorted(set(s[0] for s in shown)), shown
    assert all(s[1] == total for s in shown), (shown, total)
    assert shown[-1] == (total, total, 100), shown


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A large store, made by migrate --progress (whose output the fixture keeps), with
    a long change log added."""
    d = tmp_path_factory.mktemp("big")
    entries = [dict(INSTANCES[i % 2], name="inst%05d" % i) for i in range(BIG)]
    db = str(d / "instance_state.db")
    res = run("migrate", "--state-file", write_state(d / "state.json", entries), "--db-path",
              db, "--progress", code=0)
    con = sqlite3.connect(db)
    con.executemany("INSERT INTO change_log(at, who, action, name, detail) VALUES "
                    "('2030-01-01T00:00:00.000Z', 'admin', 'update', ?, ?)",
                    [("inst%05d" % (i % BIG), json.dumps({"version": 2, "fields": [
                        "weight"], "note": "x" * 300})) for i in range(LOG_ROWS)])
    con.commit()
    con.close()
    return db, res


def test_migrate_of_many_instances_counts_them(big):
    db, res = big
    assert_progressed(steps(res.stderr, "migrate", "importing"), BIG)
    assert "\rmigrate: verifying" in res.stderr
    assert res.stdout.startswith("migrated %d instances" % BIG)
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM instances").fetchone()[0] == BIG
    con.close()


def test_backup_and_restore_of_a_large_store_show_pages_copied(big, tmp_path):
    db, _ = big
    pages = pragma(db, "page_count")
    assert os.path.getsize(db) > 10 * 1024 * 1024
    res = run("backup", "--db-path", db, "--backup-dir", tmp_path / "b", "--progress", code=0)
    assert_progressed(steps(res.stderr, "backup", "copying"), pages)
    assert "\rbackup: vacuuming the copy" in res.stderr
    [backup] = backup_paths(res)
    assert rows(backup) == rows(db)
    before = rows(db)
    change_something(db)
    res = run("restore", "--backup-path", backup, "--db-path", db, "--backup-dir",
              tmp_path / "pre", "--progress", code=0)
    restored_pages = pragma(backup, "page_count")
    assert_progressed(steps(res.stderr, "restore", "staging the backup"), restored_pages)
    assert_progressed(steps(res.stderr, "restore", "saving the current database"),
                      pragma(glob.glob(str(tmp_path / "pre" / "pre_restore_*.db"))[0],
                             "page_count"))
    assert_progressed(steps(res.stderr, "restore", "copying into place"), restored_pages)
    assert rows(db) == before
    assert "restored %s into %s: %d instances" % (backup, db, BIG) in res.stdout


def test_no_progress_without_a_terminal(big, tmp_path):
    db, _ = big
    for args in (["backup", "--db-path", db, "--backup-dir", tmp_path / "b"],
                 ["health", "--db-path", db]):
        res = run(*args, code=0)
        assert res.stderr == "", res.stderr
    [backup] = backup_paths(run("backup", "--db-path", db, "--backup-dir", tmp_path / "c",
                                code=0))
    res = run("restore", "--backup-path", backup, "--db-path", str(tmp_path / "new.db"),
              code=0)
    assert res.stderr == ""


def test_progress_and_the_database_on_a_terminal(big, tmp_path):
    """Through a pty (script(1)): progress without --progress, and which database."""
    db, _ = big
    cmd = [TOOL, "backup", "--backup-dir", str(tmp_path / "b")]
    env = {k: v for k, v in os.environ.items() if k != "INSTANCE_MANAGER_DB_PATH"}
    res = subprocess.run(["script", "-qec", shlex.join(cmd), "/dev/null"], capture_output=True,
                         timeout=120, env=dict(env, INSTANCE_MANAGER_DB_PATH=db))
    res.stdout = res.stdout.decode()
    assert res.returncode == 0, res.stdout
    assert "aoproxy-db backup: database %s, from $INSTANCE_MANAGER_DB_PATH" % db in res.stdout
    assert_progressed(steps(res.stdout, "backup", "copying"), pragma(db, "page_count"))
    assert "backed up %s to " % db in res.stdout


def test_a_backup_in_steps_is_one_snapshot_while_others_write(big, tmp_path):
    """The copy goes 128 pages a step for its progress line, in one read transaction:
    a writer committing all the while neither restarts it nor tears its content."""
    db = str(tmp_path / "busy.db")
    shutil.copy(big[0], db)
    stop, commits = threading.Event(), [0]

    def writer():
        con = sqlite3.connect(db, isolation_level=None, timeout=10)
        while not stop.is_set():
            con.execute("BEGIN IMMEDIATE")
            for name in ("inst00000", "inst%05d" % (BIG - 1)):
                con.execute("UPDATE instances SET updated_by = ? WHERE name = ?",
                            (str(commits[0]), name))
            con.execute("COMMIT")
            commits[0] += 1
        con.close()
    t = threading.Thread(target=writer)
    t.start()
    try:
        while commits[0] < 20:
            time.sleep(0.01)
        before = commits[0]
        res = run("backup", "--db-path", db, "--backup-dir", tmp_path / "b", "--progress",
                  code=0)
        during = commits[0] - before
    finally:
        stop.set()
        t.join()
    assert during > 0, "the writer went on during the backup"
    [backup] = backup_paths(res)
    con = sqlite3.connect(backup)
    marks = con.execute("SELECT updated_by FROM instances WHERE name IN (?, ?)",
                        ("inst00000", "inst%05d" % (BIG - 1))).fetchall()
    con.close()
    assert marks[0] == marks[1], marks
    shown = steps(res.stderr, "backup", "copying")
    assert shown and shown[-1][1] >= pragma(big[0], "page_count")
    assert_progressed(shown, shown[-1][1])
