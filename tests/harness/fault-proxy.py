#!/usr/bin/env python3
"""tests/harness/fault-proxy.py: a fault-injecting TLS proxy in front of a real kube-apiserver.

Started by `tests/harness/k8s fault-proxy NAME` (never by hand); `k8s fault NAME MODE` sets what it
does to each NEW request. It is a fault injector, not a stand-in: in mode `pass` the real
apiserver answers every request, and in the other modes the proxy answers (or does not) without
asking the apiserver.

* TLS: served with the cluster's own serving certificate and key (pki/apiserver.crt, .key), so a
  client verifies the proxy with the cluster's CA, as it would the apiserver. HTTP/1.1 only.
* Authentication toward the apiserver, in pass mode:
  - a request with an Authorization header (a bearer token) is forwarded with that header as is,
    over a connection without a client certificate: the apiserver authenticates and authorizes
    the client's own token;
  - a request with a client certificate (verified against the cluster CA) is forwarded over a
    connection authenticated with the harness admin certificate, with Impersonate-User /
    Impersonate-Group headers naming the certificate's CN and O values: the apiserver
    authorizes the client's own identity (the proxy cannot present a certificate whose key it
    does not hold);
  - anything else is forwarded anonymously.
* Modes (the file STATE/fault-mode, read at each request; `k8s fault` writes it atomically):
    pass                  forward to the apiserver, stream the answer back
    delay SECONDS         wait SECONDS, then forward (a slow member)
    blackhole             read the request, never answer; hold the connection until the client
                          closes it (a hung member)
    status CODE [RA]      answer CODE with a metav1.Status body; for 429 (and 503) a
                          Retry-After: RA header (default 1)
* Every request is appended to STATE/fault-proxy.requests as one line
  `EPOCH_SECONDS MODE METHOD PATH` when it arrives, before the fault applies (so tests can count
  what reached the member, e.g. to bound a retry storm).
"""
import argparse
import http.client
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
BLACKHOLE_MAX_S = 900   # a held connection is dropped after this, so threads are bounded in time


class State:
    def __init__(self, args):
        self.dir = args.state
        self.upstream_host = "127.0.0.1"
        self.upstream_port = args.upstream_port
        pki = args.pki
        # Toward the apiserver: verify it with the cluster CA; one context with the admin
        # certificate (impersonation), one without (bearer tokens, anonymous).
        self.plain = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        self.admin = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        self.admin.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        for c in (self.plain, self.admin):
            c.set_alpn_protocols(["http/1.1"])
        self.lock = threading.Lock()

    def mode(self):
        try:
            with open(os.path.join(self.dir, "fault-mode")) as f:
                words = f.read().split()
        except OSError:
            words = []
        return words or ["pass"]

    def record(self, mode, method, path):
        line = "%.3f %s %s %s\n" % (time.time(), mode, method, path)
        with self.lock, open(os.path.join(self.dir, "fault-proxy.requests"), "a") as f:
            f.write(line)


def log(msg):
    sys.stderr.write("[fault-proxy %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubefed-fault-proxy"

    def log_message(self, fmt, *args):   # the requests file and our own lines say enough
        pass

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            # Kubernetes clients send Content-Length; refuse loudly rather than guess.
            raise ValueError("chunked request bodies are not supported by the fault proxy")
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _status(self, code, retry_after):
        reason = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
                  504: "Timeout"}.get(code, "InternalError")
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": "fault injected by the test harness: HTTP %d" % code,
                           "reason": reason, "code": code}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if code in (429, 503):
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(body)

    def _blackhole(self):
        # Never answer: wait for the client to give up (EOF or reset), bounded.
        self.close_connection = True
        self.connection.settimeout(BLACKHOLE_MAX_S)
        try:
            while self.connection.recv(4096):
                pass
        except (OSError, ssl.SSLError):
            pass

    def _forward(self, body):
        st = self.server.st
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "host"}
        for k in list(headers):
            if k.lower().startswith("impersonate-"):
                del headers[k]   # only the proxy impersonates, and only a verified certificate
        ctx = st.plain
        cert = self.connection.getpeercert() if "Authorization" not in self.headers else None
        if cert:
            ctx = st.admin
            subj = [kv for rdn in cert.get("subject", ()) for kv in rdn]
            cn = [v for k, v in subj if k == "commonName"]
            groups = [v for k, v in subj if k == "organizationName"]
            headers["Impersonate-User"] = cn[0] if cn else ""
        conn = http.client.HTTPSConnection(st.upstream_host, st.upstream_port, context=ctx, timeout=120)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", "%s:%d" % (st.upstream_host, st.upstream_port))
            for k, v in headers.items():
                conn.putheader(k, v)
            if cert:
                for g in groups:
                    conn.putheader("Impersonate-Group", g)
            if body or self.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            self.send_response(resp.status, resp.reason)
            length = resp.getheader("Content-Length")
            # HEAD, 1xx, 204 and 304 have no body: no framing of our own either.
            bodiless = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() not in ("content-length", "date", "server"):
                    self.send_header(k, v)
            if length is not None:
                self.send_header("Content-Length", length)
            elif not bodiless:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunked = length is None and not bodiless
            while not bodiless:   # streamed (watches): relay as it comes
                chunk = resp.read1(65536) if chunked else resp.read(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        finally:
            conn.close()

    def _handle(self):
        st = self.server.st
        mode = st.mode()
        st.record(" ".join(mode).replace(" ", ":"), self.command, self.path)
        try:
            body = self._body()
        except ValueError as e:
            log(str(e))
            self.close_connection = True
            self._status(501, "1")
            return
        try:
            if mode[0] == "blackhole":
                self._blackhole()
            elif mode[0] == "status":
                self._status(int(mode[1]) if len(mode) > 1 else 500, mode[2] if len(mode) > 2 else "1")
            else:
                if mode[0] == "delay":
                    time.sleep(float(mode[1]) if len(mode) > 1 else 20)
                self._forward(body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError) as e:
            # The client gave up (a slow answer after its timeout): nothing to tell it.
            self.close_connection = True
            log("%s %s: client gone: %s" % (self.command, self.path, e))
        except OSError as e:
            self.close_connection = True
            log("%s %s: upstream failed: %s" % (self.command, self.path, e))
            try:
                self._status(502, "1")
            except OSError:
                pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, st, ctx):
        self.st = st
        self.ctx = ctx
        super().__init__(addr, Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        return sock, addr

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the request's thread: a slow or hung client never blocks accept.
        try:
            request.settimeout(30)
            tls = self.ctx.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (OSError, ssl.SSLError) as e:
            log("TLS handshake from %s failed: %s" % (client_address, e))
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--state", required=True)
    p.add_argument("--pki", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream-port", type=int, required=True)
    args = p.parse_args()
    st = State(args)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=os.path.join(args.pki, "ca.crt"))
    ctx.load_cert_chain(os.path.join(args.pki, "apiserver.crt"), os.path.join(args.pki, "apiserver.key"))
    ctx.verify_mode = ssl.CERT_OPTIONAL   # client certificates are optional, verified when given
    ctx.set_alpn_protocols(["http/1.1"])
    srv = Server(("127.0.0.1", args.port), st, ctx)
    log("listening on https://127.0.0.1:%d -> https://127.0.0.1:%d" % (args.port, args.upstream_port))
    srv.serve_forever()


if __name__ == "__main__":
    main()
