# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The servers under test: nginx (the backend, and a reference proxy) and Apache
(plain mod_proxy_balancer, or mod_aoproxy from this tree), each its own process tree
with its own configuration in a scratch directory."""

import json
import os
import re
import subprocess
import sys
import time

from .common import (ADMIN_KEY, API_VERSION, CHAT, DIRECT, HTTPD, KEY, MODEL, STREAM_MODEL,
                     TOP, V1, children, free_port, wait_answer, wait_gone, wait_port)

sys.path.insert(0, os.path.join(TOP, "tools"))
import httpdconf  # noqa: E402

ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
    "model": MODEL, "system_fingerprint": "fp_bench",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant", "content": "Hello, benchmark!"}}],
    "usage": {"prompt_tokens": 14, "completion_tokens": 4, "total_tokens": 18}})


def sse_event(obj):
    return "data: " + json.dumps(obj, separators=(",", ":")) + "\n\n"


def sse_events(words=("Hello", ",", " bench", "mark", "!")):
    """An Azure chat stream as events: as Azure streams when asked for include_usage
    (mod_aoproxy asks), "usage": null in every chunk but the last, which carries
    the counts."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
            "model": MODEL, "usage": None}
    events = [sse_event({"id": "", "object": "", "created": 0, "model": "", "choices": [],
                         "prompt_filter_results": []})]
    events.append(sse_event(dict(base, choices=[{"index": 0, "delta": {"role": "assistant",
                                                                       "content": ""}}])))
    for word in words:
        events.append(sse_event(dict(base, choices=[{"index": 0,
                                                     "delta": {"content": word}}])))
    events.append(sse_event(dict(base, choices=[{"index": 0, "delta": {},
                                                 "finish_reason": "stop"}])))
    events.append(sse_event(dict(base, choices=[], usage={
        "prompt_tokens": 14, "completion_tokens": len(words), "total_tokens": 14 + len(words)})))
    return events + ["data: [DONE]\n\n"]


def sse_body():
    return "".join(sse_events())


# ------------------------------------------------------------------ nginx

NGINX_MAIN = """\
worker_processes {workers};
worker_rlimit_nofile 65536;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_max_body_size 64m;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
{http}
}}
"""

BACKEND_LOCATIONS = """\
        location ~ /openai/deployments/bench-stream/chat/completions$ {{
            default_type text/event-stream;
            # As Azure streams: Transfer-Encoding chunked, no Content-Length (a
            # sub_filter that changes nothing makes nginx drop the length).
            sub_filter_types text/event-stream;
            sub_filter_once on;
            sub_filter '[DONE]' '[DONE]';
            return 200 '{sse}';
        }}
        location ~ /openai/deployments/[^/]+/chat/completions$ {{
            default_type application/json;
            return 200 '{answer}';
        }}
"""

BACKEND_HTTP = """\
    server {{
        listen 127.0.0.1:{port} backlog=4096;
{locations}
    }}
"""

# https: each connection's first request is logged, with whether its TLS session was
# resumed, so the log counts the handshakes each proxy makes.
BACKEND_HTTPS = """\
    map $connection_requests $aop_first {{ 1 1; default 0; }}
    log_format handshake '$connection $ssl_session_reused $ssl_protocol';
    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;      # as Azure's endpoints (nginx 1.22: no 1.3 by default)
        access_log {root}/handshakes.log handshake if=$aop_first;
{locations}
    }}
"""

PROXY_HTTP = """\
    upstream backend {{
        server 127.0.0.1:{backend_port};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass {scheme}://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Server-sent events go through as they come.
            proxy_buffering off;
            proxy_read_timeout 120s;
{tls}
        }}
    }}
"""

PROXY_TLS = """\
            proxy_ssl_session_reuse on;
            proxy_ssl_protocols TLSv1.2 TLSv1.3;  # 1.22 offers no 1.3 by default
            proxy_ssl_verify on;
            proxy_ssl_name 127.0.0.1;
            proxy_ssl_trusted_certificate {cert};"""


class Nginx:
    """nginx with `http` as its http{} block content; `ports` are waited for."""

    def __init__(self, root, http, ports, workers=1):
        self.root, self.ports = root, ports
        os.makedirs(os.path.join(root, "tmp"), exist_ok=True)
        os.chmod(os.path.join(root, "tmp"), 0o777)
        self.conf = os.path.join(root, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_MAIN.format(root=root, workers=workers, http=http))
        self.proc = subprocess.Popen(["nginx", "-c", self.conf, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in ports:
            wait_port(p)
        self.port = ports[0]

    def pids(self):
        """The worker processes (they hold the connections)."""
        return children(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def backend(root, tls=None):
    """nginx answering a fixed Azure-shaped JSON or SSE body on http, and with
    tls=(cert, key) on https too (port .tls_port)."""
    os.makedirs(root, exist_ok=True)
    port = free_port()
    locations = BACKEND_LOCATIONS.format(answer=ANSWER, sse=sse_body().replace("'", "\\'"))
    http = BACKEND_HTTP.format(port=port, locations=locations)
    ports = [port]
    tls_port = None
    if tls:
        tls_port = free_port()
        http += BACKEND_HTTPS.format(port=tls_port, cert=tls[0], key=tls[1], root=root,
                                     locations=locations)
        ports.append(tls_port)
    n = Nginx(root, http, ports)
    n.tls_port = tls_port
    return n


def nginx_proxy(root, backend_port, scheme="http", cert=None):
    """nginx as a reverse proxy, the reference: keep-alive connections to the backend,
    no response buffering (streams flow)."""
    os.makedirs(root, exist_ok=True)
    port = free_port()
    tls = PROXY_TLS.format(cert=cert) if scheme == "https" else ""
    http = PROXY_HTTP.format(port=port, backend_port=backend_port, scheme=scheme, tls=tls)
    return Nginx(root, http, [port], workers="auto")


def self_signed(root):
    """A key and a self-signed certificate for 127.0.0.1 (CN and subjectAltName, as
    both Apache's and nginx's name checks want it)."""
    cert, key = os.path.join(root, "backend.crt"), os.path.join(root, "backend.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(key, 0o644)
    return cert, key


# ------------------------------------------------------------------ Apache

# A fixed set of processes with threads to spare: no child started or stopped
# mid-run (a stopped child's keep-alive connections fail wrk's reads).
BENCH_MPM = """StartServers 2
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
MaxConnectionsPerChild 0"""

# Thousands of concurrent streams: conf/aoproxy-streaming.conf as shipped, so that the
# streams part measures what the package installs.
STREAM_MPM_FILE = os.path.join(TOP, "conf", "aoproxy-streaming.conf")


def stream_mpm():
    with open(STREAM_MPM_FILE) as f:
        return f.read()


# Debian's /etc/apache2/mods-available/mpm_event.conf as shipped.
DEBIAN_MPM = """StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0"""


def instances_yaml(origin, n, weighted=True, prefix="inst"):
    out = ["routing: { strategy: \"weighted\", retries: 2, timeout: 30 }", "instances:"]
    for i in range(n):
        out.append("""\
  - name: "{prefix}{i:04d}"
    api_key: "{key}"
    api_base: "{origin}"
    api_version: "{v}"
    weight: {w}
    max_tpm: 100000000000
    supported_models: ["{m}", "{sm}"]
    model_deployments: {{ {m}: "bench", {sm}: "bench-stream" }}""".format(
            prefix=prefix, i=i, key=KEY, origin=origin, v=API_VERSION,
            w=1 + i % 3 if weighted else 1, m=MODEL, sm=STREAM_MODEL))
    return "\n".join(out) + "\n"


PLAIN_BALANCER = """\
<IfModule !lbmethod_byrequests_module>
    LoadModule lbmethod_byrequests_module {libexec}/mod_lbmethod_byrequests.so
</IfModule>
<Proxy "balancer://plain">
{members}
    ProxySet lbmethod=byrequests
</Proxy>
ProxyPass "/openai/" "balancer://plain/openai/"
"""


class Apache:
    """Debian's apache2 with its own root: plain (a balancer of `plain_members`
    members) when `instances` is 0, else mod_aoproxy from this tree with that many
    instances (or the YAML `yaml`).  `.start_seconds` is the time from
    `apache2 -k start` until it served `ready` (path, body; by default the small
    chat) with 200."""

    def __init__(self, root, origin, instances=0, plain_members=1, mpm=BENCH_MPM, extra="",
                 log_level="warn", yaml=None, ssl_ca=None, ready=None, weighted=True):
        self.root, self.port = root, free_port()
        os.makedirs(root, exist_ok=True)
        os.chmod(root, 0o755)
        self.conf = os.path.join(root, "httpd.conf")
        self.error_log = os.path.join(root, "error.log")
        cfgdir = os.path.join(root, "aoproxy")
        module = None
        if instances or yaml:
            module = os.path.join(TOP, ".libs", "mod_aoproxy.so")
            os.makedirs(cfgdir, exist_ok=True)
            with open(os.path.join(cfgdir, "base.yaml"), "w") as f:
                f.write(yaml or instances_yaml(origin, instances, weighted))
            extra = 'AOProxyAdminKey "%s"\n' % ADMIN_KEY + extra
        else:
            extra = PLAIN_BALANCER.format(
                libexec=httpdconf.apxs_query("LIBEXECDIR"),
                members="\n".join('    BalancerMember "%s/m%04d"' % (origin, i)
                                  for i in range(plain_members))) + extra
        if ssl_ca:
            # The backend's own certificate is the one CA trusted (a later directive
            # wins over the system bundle render() names).
            extra += 'SSLProxyCACertificateFile "%s"\n' % ssl_ca
        # AOProxy On in the server itself, as the plain one has its ProxyPass there (a
        # <Location "/v1/"> would add a section merge per request; both are documented).
        text = httpdconf.render(root, self.port, module, cfgdir, mpm="event", extra=extra,
                                log_level=log_level, v1_scope="server",
                                ssl_proxy=bool(ssl_ca))
        # The same work for both: no access log (it would dominate at these rates).
        text = re.sub(r"^CustomLog .*$", "", text, flags=re.M)
        text = text.replace(httpdconf.MPM_TUNING["event"], mpm)
        with open(self.conf, "w") as f:
            f.write(text)
        # Serving, not only listening (the port opens before the children serve, and
        # before the pid file exists).
        ready = ready or ((V1, CHAT) if module else (DIRECT, CHAT))
        t0 = time.perf_counter()
        subprocess.run([HTTPD, "-d", root, "-f", self.conf, "-k", "start"], check=True)
        wait_answer(self.port, ready[0], ready[1])
        self.start_seconds = time.perf_counter() - t0

    def pid(self):
        with open(os.path.join(self.root, "httpd.pid")) as f:
            return int(f.read())

    def pids(self):
        """The child processes (they serve the requests)."""
        return children(self.pid())

    def log_text(self):
        with open(self.error_log, errors="replace") as f:
            return f.read()

    def stop(self):
        try:
            pid = self.pid()
        except OSError:
            pid = None
        subprocess.run([HTTPD, "-d", self.root, "-f", self.conf, "-k", "stop"],
                       stderr=subprocess.DEVNULL)
        if pid:
            wait_gone(pid)
