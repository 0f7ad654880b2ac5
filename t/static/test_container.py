# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The container files, checked as far as this machine can without a container engine:
every path the Dockerfile copies exists (and is not excluded by .dockerignore), the
build stage leaves the .deb where the final stage takes it from, the compose example
mounts what the shipped configuration reads, and the entrypoint really does what it
says (run here against a scratch root)."""

import fnmatch
import glob
import shutil
import tempfile
import os
import re
import shlex
import stat
import subprocess

import pytest
import yaml

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKERFILE = os.path.join(TOP, "Dockerfile")
COMPOSE = os.path.join(TOP, "docker", "compose.yaml")
ENTRYPOINT = os.path.join(TOP, "docker", "entrypoint")
CONF = open(os.path.join(TOP, "conf", "aoproxy.conf")).read()


def instructions():
    """(stage name or index, instruction, argument text) with continuations joined."""
    text = re.sub(r"\\\n", " ", open(DOCKERFILE).read())
    stage, out = None, []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, arg = line.partition(" ")
        if op.upper() == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", arg, re.I)
            stage = m.group(2) or m.group(1)
        out.append((stage, op.upper(), arg.strip()))
    return out


def copies():
    for stage, op, arg in instructions():
        if op in ("COPY", "ADD"):
            words = shlex.split(arg)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            frm = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            yield stage, frm, paths[:-1], paths[-1]


def dockerignore_regex(pattern):
    """A .dockerignore line as a regular expression (Go's filepath.Match plus "**")."""
    out, i, pat = "", 0, pattern.strip().strip("/")
    while i < len(pat):
        if pat.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pat.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pat[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pat[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pat[i]), i + 1
    return re.compile(out)


def dockerignored(rel):
    """Whether .dockerignore keeps rel (or a directory above it) out of the context."""
    pats = [dockerignore_regex(l) for l in open(os.path.join(TOP, ".dockerignore"))
            if l.strip() and not l.startswith("#")]
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(p.fullmatch(x) for p in pats for x in prefixes)


def test_base_images_are_debian_12():
    froms = [arg for _, op, arg in instructions() if op == "FROM"]
    assert froms and all(re.match(r"debian:(12|bookworm)(-slim)?\b", f) for f in froms)


def test_every_path_copied_from_the_context_exists_and_is_sent():
    seen = 0
    for _, frm, sources, _ in copies():
        if frm:
            continue
        for src in sources:
            hits = glob.glob(os.path.join(TOP, src))
            assert hits, "Dockerfile copies %s, which does not exist" % src
            for h in hits:
                rel = os.path.relpath(h, TOP)
                assert rel == "." or not dockerignored(rel), "%s is in .dockerignore" % rel
            seen += 1
    assert seen >= 2


def test_the_context_leaves_out_a_local_build_but_not_the_sources():
    for rel in (".libs/mod_aoproxy.so", "src/aop_config.o", "Makefile", "config.status",
                "libapache2-mod-aoproxy_0.1.0_amd64.deb", ".git", "docker/aoproxy/admin.key"):
        assert dockerignored(rel), rel
    for rel in ("src/aop_config.c", "Makefile.am", "configure.ac", "debian/rules",
                "conf/aoproxy.conf", "docker/entrypoint", "t/mock/mock_azure.py"):
        assert not dockerignored(rel), rel


def test_the_deb_is_taken_from_where_the_build_stage_writes_it():
    ins = instructions()
    stages = {s for s, op, _ in ins if op == "FROM"}
    workdirs = {s: arg for s, op, arg in ins if op == "WORKDIR"}
    version = subprocess.run(["dpkg-parsechangelog", "-l", os.path.join(TOP, "debian/changelog"),
                              "-S", "Version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    deb = "libapache2-mod-aoproxy_%s_amd64.deb" % version
    from_build = [(frm, srcs) for _, frm, srcs, _ in copies() if frm]
    assert from_build
    for frm, srcs in from_build:
        assert frm in stages
        # dpkg-buildpackage writes into the parent of the source directory.
        parent = os.path.dirname(workdirs[frm].rstrip("/"))
        for src in srcs:
            assert os.path.dirname(src) == parent, src
            assert fnmatch.fnmatch(deb, os.path.basename(src)), src
    # The source directory is where the context is copied to.
    assert any(op == "COPY" and shlex.split(arg) == [".", workdirs["build"]]
               for s, op, arg in ins if s == "build")


def test_entrypoint_and_command():
    ins = {op: arg for _, op, arg in instructions()}
    entry = yaml.safe_load(ins["ENTRYPOINT"])
    assert entry == ["/usr/local/bin/aoproxy-entrypoint"]
    assert any(d == entry[0] for _, frm, _, d in copies() if not frm)
    assert yaml.safe_load(ins["CMD"]) == ["apache2", "-DFOREGROUND"]
    assert os.stat(ENTRYPOINT).st_mode & stat.S_IXUSR
    assert ins["EXPOSE"] == "80"
    subprocess.run(["sh", "-n", ENTRYPOINT], check=True)


def test_compose_mounts_what_the_shipped_conf_reads():
    doc = yaml.safe_load(open(COMPOSE))
    (name, svc), = doc["services"].items()
    ctx = os.path.normpath(os.path.join(os.path.dirname(COMPOSE), svc["build"]["context"]))
    assert os.path.isfile(os.path.join(ctx, svc["build"].get("dockerfile", "Dockerfile")))
    mounts = {}
    for v in svc["volumes"]:
        src, dst = v.split(":")[:2]
        mounts[dst] = src
    config_dir = re.search(r"^AOProxyConfigDir\s+(\S+)", CONF, re.M).group(1)
    key_file = re.search(r"^AOProxyAdminKeyFile\s+(\S+)", CONF, re.M).group(1)
    assert config_dir in mounts and os.path.dirname(key_file) == config_dir
    assert mounts[config_dir].startswith("./")          # a directory beside compose.yaml
    # The instance store (AOProxyStateDB's default directory) in a named volume.
    state_dir = "/var/lib/apache2/aoproxy"
    assert "# AOProxyStateDB %s/instance_state.db" % state_dir in CONF
    assert mounts[state_dir] in doc["volumes"]
    assert any(str(p).endswith(":80") for p in svc["ports"])
    # What the entrypoint generates lands in the mounted directory, kept out of git.
    assert "/docker/aoproxy/" in open(os.path.join(TOP, ".gitignore")).read().split()


@pytest.fixture
def fake_root(tmp_path):
    (tmp_path / "etc" / "aoproxy").mkdir(parents=True)
    seed = tmp_path / "usr" / "local" / "share" / "aoproxy"
    seed.mkdir(parents=True)
    (seed / "base.yaml").write_text("instances: []\n")
    return tmp_path


def run_entrypoint(root, *cmd):
    env = dict(os.environ, AOPROXY_ROOT=str(root))
    return subprocess.run([ENTRYPOINT] + list(cmd or ["true"]), env=env, capture_output=True,
                          text=True, timeout=10)


def test_entrypoint_makes_a_key_and_a_base_yaml_once(fake_root):
    res = run_entrypoint(fake_root, "echo", "started")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "started\n"
    key = fake_root / "etc" / "aoproxy" / "admin.key"
    first = key.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", first)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (fake_root / "etc" / "aoproxy" / "base.yaml").read_text() == "instances: []\n"
    assert run_entrypoint(fake_root).returncode == 0
    assert key.read_text() == first                     # never replaced


def test_entrypoint_refuses_to_start_without_a_key_it_cannot_make():
    """A read-only /etc/aoproxy without admin.key: no start.  Run as nobody (root writes
    into a read-only directory anyway), in a scratch root nobody can read."""
    root = tempfile.mkdtemp(prefix="aop-entrypoint-")
    try:
        os.chmod(root, 0o755)
        etc = os.path.join(root, "etc", "aoproxy")
        os.makedirs(etc)
        with open(os.path.join(etc, "base.yaml"), "w") as f:
            f.write("instances: []\n")
        os.chmod(etc, 0o555)
        cmd = [ENTRYPOINT, "echo", "started"]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
        res = subprocess.run(cmd, env=dict(os.environ, AOPROXY_ROOT=root),
                             capture_output=True, text=True, timeout=10)
    finally:
        os.chmod(etc, 0o755)
        shutil.rmtree(root, ignore_errors=True)
    assert res.returncode == 1 and "started" not in res.stdout, res
    assert "admin.key is missing" in res.stderr
    assert not os.path.exists(os.path.join(etc, "admin.key"))
