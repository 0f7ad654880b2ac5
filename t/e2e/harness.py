# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""End-to-end harness: a real apache2 with mod_aoproxy from the build tree.

Each Httpd owns a scratch server root with its httpd.conf, YAML config directory
and logs.  The error log is checked after every test for [error] (or worse) lines
that the test did not declare as expected.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tools"))
sys.path.insert(0, os.path.join(SRCDIR, "t", "mock"))

import httpdconf  # noqa: E402

BUILDDIR = os.environ.get("AOP_BUILDDIR", SRCDIR)
HTTPD = os.environ.get("AOP_HTTPD", "/usr/sbin/apache2")
MODULE = os.path.join(BUILDDIR, ".libs", "mod_aoproxy.so")

BAD_LEVELS = re.compile(r"\[(?:[\w_]+:)?(error|crit|alert|emerg)\]")
# A sanitizer report that went to stderr (so to the error log) rather than its file.
SANITIZER = re.compile(r": runtime error: |ERROR: AddressSanitizer")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port with nothing listening: connections are refused."""
    return free_port()


def wait_port(port, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Httpd:
    def __init__(self, root, mpm="event", environment=None, extra_conf="",
                 log_level="warn aoproxy:debug", env=None):
        self.root = root
        self.mpm = mpm
        self.environment = environment
        self.extra_conf = extra_conf
        self.log_level = log_level
        self.v1_scope = "location"      # or "server": AOProxy On outside any <Location>
        self.api_scope = "section"      # <AOProxyAPI>, or "location": <Location>s
        self.ssl = False                # load mod_ssl (https vhosts, https instances)
        self.env = dict(os.environ, **(env or {}))
        self.asan_dir = None
        if os.environ.get("AOP_ASAN"):
            # The module is built with -fsanitize=address (tools/test-asan); httpd is
            # not, so the runtime is preloaded.  Reports land in the server root.
            self.env["LD_PRELOAD"] = os.environ["AOP_ASAN"]
            self.env["ASAN_OPTIONS"] = "log_path=%s/report:detect_leaks=0:abort_on_error=0" \
                % self.sanitizer_dir()
        if os.environ.get("AOP_UBSAN"):
            # The module is built with -fsanitize=undefined and every report is fatal
            # (tools/test-ubsan): the process that hit it dies, its report lands here.
            self.env["LD_PRELOAD"] = os.environ["AOP_UBSAN"]
            self.env["UBSAN_OPTIONS"] = "log_path=%s/ubsan:halt_on_error=1:" \
                "print_stacktrace=1" % self.sanitizer_dir()
        self.port = free_port()
        self.config_dir = os.path.join(root, "aoproxy")
        self.error_log = os.path.join(root, "error.log")
        self.access_log = os.path.join(root, "access.log")
        self.conf_path = os.path.join(root, "httpd.conf")
        self.log_offset = 0
        self.expected_errors = []
        os.makedirs(self.config_dir, exist_ok=True)
        os.chmod(root, 0o755)

    def sanitizer_dir(self):
        """Where sanitizer reports go; httpd's children run as an unprivileged user:
        they need a writable place."""
        if self.asan_dir is None:
            self.asan_dir = os.path.join(self.root, "asan")
            os.makedirs(self.asan_dir, exist_ok=True)
            os.chmod(self.asan_dir, 0o1777)
        return self.asan_dir

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def write_yaml(self, name, text):
        with open(os.path.join(self.config_dir, name), "w") as f:
            f.write(text)

    def write_conf(self):
        extra = self.extra_conf
        if os.environ.get("AOP_UBSAN"):
            # libubsan reads UBSAN_OPTIONS (log_path) from /proc/self/environ at its
            # first report, which a child that changed its user may not read unless
            # it is dumpable: CoreDumpDirectory makes httpd say so (PR_SET_DUMPABLE).
            extra += '\nCoreDumpDirectory "%s"\n' % self.sanitizer_dir()
        with open(self.conf_path, "w") as f:
            f.write(httpdconf.render(self.root, self.port, MODULE, self.config_dir,
                                     mpm=self.mpm, environment=self.environment,
                                     extra=extra, log_level=self.log_level,
                                     v1_scope=self.v1_scope, api_scope=self.api_scope,
                                     ssl_proxy=self.ssl))

    def run(self, *args, timeout=30):
        return subprocess.run([HTTPD, "-d", self.root, "-f", self.conf_path] + list(args),
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def configtest(self):
        self.write_conf()
        return self.run("-t")

    def start(self):
        self.write_conf()
        res = self.run("-k", "start")
        if res.returncode != 0 or not wait_port(self.port):
            raise RuntimeError("apache2 did not start (%s):\n%s\n%s\n%s" % (
                res.returncode, res.stdout, res.stderr, self.read_log()))
        # The parent writes its pid file just after it listens: without it, stop()
        # could not find a server a quick test has finished with.
        deadline = time.time() + 10
        while self.pid() is None and time.time() < deadline:
            time.sleep(0.02)

    def pid(self):
        try:
            with open(os.path.join(self.root, "httpd.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.pid()
        if pid is None:
            return
        self.run("-k", "stop")
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        # Not stopped (say, `-k stop` could not read a configuration a test broke):
        # its children first, or prefork's would outlive it, still listening.
        subprocess.run(["pkill", "-KILL", "-P", str(pid)], check=False)
        os.kill(pid, signal.SIGKILL)

    def graceful(self):
        self.write_conf()
        res = self.run("-k", "graceful")
        assert res.returncode == 0, res.stderr
        time.sleep(1.0)

    def read_log(self, path=None):
        try:
            with open(path or self.error_log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def expect_error(self, pattern):
        """Declares an [error] line the current test provokes on purpose."""
        self.expected_errors.append(re.compile(pattern))

    def new_log_lines(self):
        text = self.read_log()
        lines = text[self.log_offset:].splitlines()
        self.log_offset = len(text)
        return lines

    def sanitizer_reports(self):
        """AddressSanitizer and UndefinedBehaviorSanitizer reports written by httpd
        processes (AOP_ASAN and AOP_UBSAN runs)."""
        out = []
        adir = self.asan_dir
        for name in sorted(os.listdir(adir)) if adir else []:
            out.append(self.read_log(os.path.join(adir, name)))
            os.rename(os.path.join(adir, name), os.path.join(self.root, "seen-" + name))
        return out

    def unexpected_errors(self):
        bad = [l for l in self.new_log_lines() if SANITIZER.search(l)
               or (BAD_LEVELS.search(l) and not any(p.search(l) for p in self.expected_errors))]
        bad += self.sanitizer_reports()
        self.expected_errors = []
        return bad
