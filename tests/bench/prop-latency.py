#!/usr/bin/env python3
"""Propagation latency, federation write -> member write, at sub-second resolution.

usage: prop-latency.py FED_KUBECONFIG MEMBER_KUBECONFIG NAMESPACE N RATE

Watches the member's ConfigMaps in NAMESPACE labelled kubefed.dev/propagated-by (a streaming watch
on its own thread), then creates N ConfigMaps in the federation API, RATE per second, each create
timed when its response arrives. Prints one line per percentile: p50=SECONDS p99=SECONDS max=...
and missing=K (copies not seen within 60 s). python3 stdlib only; talks to 127.0.0.1 only.
"""
import base64
import http.client
import json
import os
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse


def client_of(path):
    """(host, port, ssl context) from a harness kubeconfig (embedded CA, client cert and key)."""
    text = open(path).read()
    fields = {}
    for line in text.splitlines():
        line = line.strip()
        for key in ("server:", "certificate-authority-data:", "client-certificate-data:", "client-key-data:"):
            if line.startswith(key):
                fields[key[:-1]] = line[len(key):].strip()
    url = urllib.parse.urlparse(fields["server"])
    tmp = tempfile.mkdtemp()
    files = {}
    for key in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
        files[key] = os.path.join(tmp, key)
        with open(files[key], "wb") as f:
            f.write(base64.b64decode(fields[key]))
    ctx = ssl.create_default_context(cafile=files["certificate-authority-data"])
    ctx.load_cert_chain(files["client-certificate-data"], files["client-key-data"])
    return url.hostname, url.port, ctx


def main():
    fed_kc, member_kc, ns, n, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    fed, member = client_of(fed_kc), client_of(member_kc)
    seen = {}
    ready = threading.Event()

    def watch():
        conn = http.client.HTTPSConnection(member[0], member[1], context=member[2], timeout=120)
        sel = urllib.parse.quote("kubefed.dev/propagated-by")
        conn.request("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=1&labelSelector={sel}&timeoutSeconds=110")
        resp = conn.getresponse()
        ready.set()
        while True:
            line = resp.readline()
            if not line:
                return
            ev = json.loads(line)
            name = ev["object"]["metadata"]["name"]
            if ev["type"] == "ADDED" and name not in seen:
                seen[name] = time.time()

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    ready.wait(30)
    time.sleep(0.5)
    conn = http.client.HTTPSConnection(fed[0], fed[1], context=fed[2], timeout=30)
    created = {}
    for i in range(n):
        name = f"lat-{i:05d}"
        body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"i": str(i)}})
        conn.request("POST", f"/api/v1/namespaces/{ns}/configmaps", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 201:
            sys.exit(f"prop-latency: create {name}: HTTP {resp.status}")
        created[name] = time.time()
        time.sleep(1.0 / rate)
    deadline = time.time() + 60
    while len([k for k in created if k in seen]) < n and time.time() < deadline:
        time.sleep(0.05)
    lat = sorted(max(0.0, seen[k] - created[k]) for k in created if k in seen)
    if not lat:
        sys.exit("prop-latency: no copy arrived")

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))]

    print(f"p50={pct(50):.3f} p99={pct(99):.3f} max={lat[-1]:.3f} missing={n - len(lat)}")


if __name__ == "__main__":
    main()
