#!/usr/bin/env python3
"""bench.dns's bulk client: what the benchmark writes and checks, many requests in flight.

usage:
  dns-bulk.py services KUBECONFIG NS N            N LoadBalancer Services svc-0000.. (the federated ones)
  dns-bulk.py ready KUBECONFIG NS N MEMBER        each member copy gets a load balancer address (status
                                                  subresource, as a cloud controller) and an EndpointSlice
                                                  labelled kubernetes.io/service-name with one ready endpoint
  dns-bulk.py expected N FED ZONE CLUSTERS        the SkyDNS keys and values the records must be, one JSON
                                                  object per line {"key","value","name","host"}; CLUSTERS is
                                                  m1:zone:region,m2:zone:region (member index order)
  dns-bulk.py check ETCD_URL EXPECTED             etcd holds exactly EXPECTED under /skydns/ (values
                                                  compared as JSON): prints "ok N" or what differs; exit 1
  dns-bulk.py bare ETCD_URL EXPECTED PREFIX C     puts every expected key under PREFIX (a fresh prefix) with
                                                  its value, C requests in flight (etcd v3 JSON API); prints
                                                  the seconds
  dns-bulk.py curlcfg ETCD_URL EXPECTED PREFIX   a curl -K config putting each expected key under PREFIX
  dns-bulk.py names EXPECTED                      each record name once with its sorted A addresses (for dig)
  dns-bulk.py watch ETCD_URL EXPECTED SECS TIMES  watches /skydns/ from now on (etcd v3 watch, one stream):
                                                  prints "watching REV" once the watch is created, then
                                                  "done WALL REV" when etcd first holds exactly EXPECTED (WALL:
                                                  the Unix time the completing event arrived); TIMES gets
                                                  "WALL REV SERVICES" for every revision seen (SERVICES: how
                                                  many Services have every record right); exit 1 after SECS

Member i's load balancer address for Service j is 198.(18+i).(j/256).(j%256). python3 stdlib only;
every connection is to 127.0.0.1. Any failed request is printed and exits 1.
"""
import base64
import http.client
import json
import os
import queue
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

THREADS = 32


def client_of(path):
    """(host, port, ssl context) from a harness kubeconfig (embedded CA, client cert and key)."""
    fields = {}
    for line in open(path).read().splitlines():
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
    for f in files.values():
        os.unlink(f)
    os.rmdir(tmp)
    return url.hostname, url.port, ctx


def run_all(connect, reqs, threads=THREADS):
    """reqs: (method, path, body, content-type, ok statuses). Runs them on `threads` keep-alive
    connections; returns the failures (strings)."""
    q = queue.Queue()
    for r in reqs:
        q.put(r)
    failures = []

    def worker():
        conn = connect()
        while True:
            try:
                method, path, body, ctype, ok = q.get_nowait()
            except queue.Empty:
                conn.close()
                return
            data = json.dumps(body).encode() if not isinstance(body, (bytes, str)) else body
            for attempt in range(5):
                try:
                    conn.request(method, path, data, {"Content-Type": ctype})
                    resp = conn.getresponse()
                    text = resp.read()
                    if resp.status in ok:
                        break
                    if resp.status in (429, 500, 503) and attempt < 4:
                        time.sleep(0.2 * (attempt + 1))
                        continue
                    failures.append(f"{method} {path}: {resp.status} {text[:300]!r}")
                    break
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    conn = connect()
                    if attempt == 4:
                        failures.append(f"{method} {path}: {e}")

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return failures


def kube_connect(kubeconfig):
    host, port, ctx = client_of(kubeconfig)
    return lambda: http.client.HTTPSConnection(host, port, context=ctx, timeout=60)


def etcd_connect(url):
    u = urllib.parse.urlparse(url)
    assert u.hostname.startswith("127."), url
    return lambda: http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def svc_name(j):
    return f"svc-{j:04d}"


def lb_ip(member, j):
    return f"198.{18 + member}.{j // 256}.{j % 256}"


def cmd_services(kc, ns, n):
    reqs = []
    for j in range(n):
        body = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": svc_name(j), "namespace": ns},
                "spec": {"type": "LoadBalancer", "selector": {"app": svc_name(j)},
                         "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
        reqs.append(("POST", f"/api/v1/namespaces/{ns}/services", body, "application/json", (201,)))
    return run_all(kube_connect(kc), reqs)


def cmd_ready(kc, ns, n, member):
    reqs = []
    for j in range(n):
        name = svc_name(j)
        patch = {"status": {"loadBalancer": {"ingress": [{"ip": lb_ip(member, j)}]}}}
        reqs.append(("PATCH", f"/api/v1/namespaces/{ns}/services/{name}/status", patch,
                     "application/merge-patch+json", (200,)))
        slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": f"{name}-bench", "namespace": ns,
                               "labels": {"kubernetes.io/service-name": name,
                                          "endpointslice.kubernetes.io/managed-by": "bench.dns"}},
                  "addressType": "IPv4",
                  "endpoints": [{"addresses": [f"10.244.{j // 256}.{j % 256}"], "conditions": {"ready": True}}],
                  "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
        reqs.append(("POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", slice_,
                     "application/json", (201,)))
    return run_all(kube_connect(kc), reqs)


def fnv1a32(s):
    h = 0x811C9DC5
    for b in s.encode():
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def skydns_key(name, host):
    return "/skydns/" + "/".join(reversed(name.split("."))) + "/" + format(fnv1a32(host), "x")


def expected(n, fed, zone, clusters):
    zone = zone.rstrip(".")
    out = []
    for j in range(n):
        p = f"{svc_name(j)}.shop.{fed}.svc"
        addrs = []
        for i, (cl_zone, region) in enumerate(clusters, start=1):
            ip = lb_ip(i, j)
            addrs.append(ip)
            for name in (f"{p}.{cl_zone}.{region}.{zone}", f"{p}.{region}.{zone}"):
                out.append((name, ip))
        for ip in addrs:
            out.append((f"{p}.{zone}", ip))
    return [{"key": skydns_key(name, host), "value": {"host": host, "ttl": 180, "group": name}, "name": name,
             "host": host} for name, host in out]


def b64(s):
    return base64.b64encode(s.encode()).decode()


def etcd_range(url, prefix):
    conn = etcd_connect(url)()
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    conn.request("POST", "/v3/kv/range", json.dumps({"key": b64(prefix), "range_end": b64(end)}))
    resp = conn.getresponse()
    body = json.loads(resp.read())
    if resp.status != 200:
        raise SystemExit(f"etcd range {prefix}: {resp.status} {body}")
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
            for kv in body.get("kvs", [])}


def load_expected(path):
    return [json.loads(line) for line in open(path)]


def cmd_check(url, path):
    want = {e["key"]: e["value"] for e in load_expected(path)}
    have = etcd_range(url, "/skydns/")
    missing = [k for k in want if k not in have]
    extra = [k for k in have if k not in want]
    wrong = [k for k in want if k in have and json.loads(have[k]) != want[k]]
    if missing or extra or wrong:
        print(f"missing={len(missing)} extra={len(extra)} wrong={len(wrong)} "
              f"e.g. {(missing + extra + wrong)[:3]}")
        return 1
    print(f"ok {len(want)}")
    return 0


def cmd_bare(url, path, prefix, conc):
    reqs = [("POST", "/v3/kv/put",
             {"key": b64(prefix + e["key"]),
              "value": b64(json.dumps(e["value"], separators=(",", ":")))}, "application/json", (200,))
            for e in load_expected(path)]
    t0 = time.monotonic()
    failures = run_all(etcd_connect(url), reqs, conc)
    secs = time.monotonic() - t0
    for f in failures[:10]:
        print(f, file=sys.stderr)
    if failures:
        return 1
    print(f"{secs:.2f}")
    return 0


def cmd_names(path):
    names = {}
    for e in load_expected(path):
        names.setdefault(e["name"], []).append(e["host"])
    for name in sorted(names):
        print(name, " ".join(sorted(names[name], key=lambda a: tuple(int(x) for x in a.split(".")))))
    return 0


def cmd_watch(url, path, secs, times_path):
    """The moment etcd first holds exactly the expected records, from its own watch stream: no
    polling, so the stop is when the completing write's event arrives (the bare puts' time is
    likewise when the last put's answer arrives)."""
    exp = load_expected(path)
    want = {e["key"]: e["value"] for e in exp}
    service_of = {e["key"]: e["name"].split(".")[0] for e in exp}
    deadline = time.monotonic() + secs
    u = urllib.parse.urlparse(url)
    assert u.hostname.startswith("127."), url
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=secs)
    end = "/skydns0"
    conn.request("POST", "/v3/kv/range", json.dumps({"key": b64("/skydns/"), "range_end": b64(end)}))
    resp = conn.getresponse()
    body = json.loads(resp.read())
    if resp.status != 200:
        raise SystemExit(f"etcd range: {resp.status} {body}")
    rev = int(body["header"]["revision"])
    have = {base64.b64decode(kv["key"]).decode(): json.loads(base64.b64decode(kv.get("value", "")))
            for kv in body.get("kvs", [])}
    bad = {k for k in set(want) | set(have) if have.get(k) != want.get(k)}
    wrong = {}  # Service -> how many of its keys are not right yet
    for k in want:
        wrong[service_of[k]] = wrong.get(service_of[k], 0) + (k in bad)
    right = sum(1 for n in wrong.values() if n == 0)
    conn.request("POST", "/v3/watch", json.dumps({"create_request": {
        "key": b64("/skydns/"), "range_end": b64(end), "start_revision": str(rev + 1)}}))
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"etcd watch: {resp.status} {resp.read()[:300]!r}")
    times = open(times_path, "w")
    last = rev
    while True:
        if time.monotonic() > deadline:
            print(f"not within {secs} s: {len(bad)} keys differ, e.g. {sorted(bad)[:3]}", file=sys.stderr)
            return 1
        line = resp.readline()
        if not line:
            raise SystemExit("etcd closed the watch")
        at = time.time()
        msg = json.loads(line).get("result", {})
        if msg.get("created"):
            print(f"watching {rev}", flush=True)
        for ev in msg.get("events", []):
            kv = ev["kv"]
            key = base64.b64decode(kv["key"]).decode()
            if ev.get("type") == "DELETE":
                have.pop(key, None)
            else:
                have[key] = json.loads(base64.b64decode(kv.get("value", "")))
            was_bad = key in bad
            if have.get(key) != want.get(key):
                bad.add(key)
            else:
                bad.discard(key)
            if key in service_of and was_bad != (key in bad):
                svc = service_of[key]
                right -= wrong[svc] == 0
                wrong[svc] += 1 if key in bad else -1
                right += wrong[svc] == 0
            last = int(kv.get("mod_revision", msg["header"]["revision"]))
        if msg.get("events"):
            times.write(f"{at:.6f} {last} {right}\n")
        if not bad:
            times.close()
            print(f"done {at:.6f} {last}", flush=True)
            return 0


def main():
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    cmd = a[0]
    if cmd == "services":
        failures = cmd_services(a[1], a[2], int(a[3]))
    elif cmd == "ready":
        failures = cmd_ready(a[1], a[2], int(a[3]), int(a[4]))
    elif cmd == "expected":
        clusters = [tuple(c.split(":")[1:3]) for c in a[4].split(",")]
        for e in expected(int(a[1]), a[2], a[3], clusters):
            print(json.dumps(e, separators=(",", ":")))
        return 0
    elif cmd == "check":
        return cmd_check(a[1], a[2])
    elif cmd == "bare":
        return cmd_bare(a[1], a[2], a[3], int(a[4]))
    elif cmd == "curlcfg":
        for i, e in enumerate(load_expected(a[2])):
            body = json.dumps({"key": b64(a[3] + e["key"]),
                               "value": b64(json.dumps(e["value"], separators=(",", ":")))})
            print(("next\n" if i else "") + f'url = "{a[1]}/v3/kv/put"\ndata = {json.dumps(body)}\n'
                  'output = "/dev/null"\nwrite-out = "%{http_code}\\n"')
        return 0
    elif cmd == "names":
        return cmd_names(a[1])
    elif cmd == "watch":
        return cmd_watch(a[1], a[2], int(a[3]), a[4])
    else:
        raise SystemExit(__doc__)
    for f in failures[:10]:
        print("dns-bulk:", f, file=sys.stderr)
    if failures:
        print(f"dns-bulk: {len(failures)} requests failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
