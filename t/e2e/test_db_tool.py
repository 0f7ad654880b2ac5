"""aoproxy-db, the maintenance tool of the instance store: backup (integrity check,
online copy, VACUUM, rotation), health, restore (with and without a pre-restore
backup, under an open connection), migrate from the Python service's state file,
versions and the change log, usage errors.  Databases are made by the tool's own
migrate and inspected with Python's sqlite3.  No output may ever hold an api_key."""

import glob
import json
import os
import re
import sqlite3
import stat
import subprocess

import pytest

from harness import BUILDDIR

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
    res = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True,
                         env=full_env, timeout=60)
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


def test_default_db_path_without_the_environment(tmp_path):
    h = json.loads(run("health").stdout)
    assert h["db_path"] == "/var/lib/apache2/aoproxy/instance_state.db"


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
