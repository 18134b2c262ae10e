#!/usr/bin/env python3
"""tests/harness/serve-federation.py: play the kubelet for a federation apiserver Deployment.

Started by `tests/harness/k8s serve-federation KUBECONFIG NAMESPACE FEDERATION`, which checks
the names, takes the state dir's lock and passes the harness binaries.  Two modes:

  serve --state DIR ... KUBECONFIG NAMESPACE FEDERATION
      Read Deployment FEDERATION-apiserver and Service FEDERATION-apiserver from the host
      cluster, lay out the pod's volumes under DIR/volumes, run its etcd and kube-apiserver
      containers as local processes on 127.0.0.1 (args rewritten: mount paths -> volume dirs,
      ports -> free loopback ports, the secure port -> the Service's nodePort), wait until
      kube-apiserver answers /readyz, start the supervisor, and print the one stdout line:
      https://127.0.0.1:PORT.  Idempotent: while the supervisor runs, it prints the URL again.
  supervise DIR
      The background loop, every 2 s: rewrite the files of Secret/ConfigMap volumes that
      changed, recreate the processes when spec.template changes (a Recreate rollout, volume
      dirs kept), restart crashed processes with back-off, and stop them (and exit) when the
      Deployment is deleted.  It also runs Deployment FEDERATION-controller-manager's
      kubefed-controller-manager (the repo's build, see cm_binary) while that Deployment exists
      with replicas > 0: --master rewritten to the served URL, health and metrics on free
      loopback ports, its kubeconfig Secret as a file; restarted when its template changes.  A
      controller manager that cannot be run (no binary) is reported in DIR/cm-error and its log,
      never by stopping kube-apiserver.  SIGTERM (from `k8s down`) just exits: down stops the rest.

Python 3 standard library only.  Every listener and every connection is on 127.0.0.1.
Everything but the URL goes to stderr (serve) or DIR/logs/supervisor.log (supervise).
"""
import argparse
import base64
import fcntl
import glob
import hashlib
import http.client
import ipaddress
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import traceback

PROG = "serve-federation"
TICK = 2.0                # supervisor period
STOP_GRACE = 15.0         # SIGTERM -> SIGKILL, as `k8s down`
ETCD_WAIT = 60            # etcd /health
APISERVER_WAIT = 90       # kube-apiserver /readyz
SOURCE_WAIT = 30          # Secrets/ConfigMaps of the volumes, after the Deployment was found
BACKOFF_MAX = 300         # crash restarts: 0, 10, 20, 40 ... 300 s; reset after 10 min up
BACKOFF_RESET = 600
START_ORDER = ("etcd", "kube-apiserver")      # the components (= harness binaries)
# Deployment FEDERATION-controller-manager's one container: the repo's own program, not a harness
# binary (see cm_binary), run once kube-apiserver serves, pointed at it.
CM = "kubefed-controller-manager"
ETCD_URL_FLAGS = ("listen-client-urls", "advertise-client-urls", "listen-peer-urls",
                  "initial-advertise-peer-urls", "initial-cluster", "listen-metrics-urls",
                  "listen-client-http-urls")
# etcd reads ETCD_<FLAG> from the environment: these become flags so they get rewritten too.
ETCD_ENV_FLAGS = ("name", "data-dir", "wal-dir") + ETCD_URL_FLAGS

SD = ""                   # the state dir


def log(msg):
    sys.stderr.write("[%s %s] %s\n" % (PROG, time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class Fail(Exception):
    """A loud failure: the message, plus logs whose tail explains it."""

    def __init__(self, msg, logs=()):
        super().__init__(msg)
        self.logs = list(logs)


class KubectlError(Exception):
    pass


class Stop(BaseException):
    """SIGTERM in the supervisor (BaseException: `except Exception` does not swallow it)."""


def report(e):
    log("ERROR: %s" % e)
    for f in getattr(e, "logs", []):
        if os.path.isfile(f):
            log("---- last 40 lines of %s ----" % f)
            with open(f, "rb") as fh:
                lines = fh.read().decode("utf-8", "replace").splitlines()[-40:]
            sys.stderr.write("".join(l + "\n" for l in lines))
            sys.stderr.flush()


# ---- signals (the supervisor stops only between launching a process and recording it) -----
_critical = 0
_stop_requested = False


def _on_term(signum, frame):
    global _stop_requested
    _stop_requested = True
    if _critical == 0:
        raise Stop()


def check_stop():
    if _stop_requested and _critical == 0:
        raise Stop()


def nap(seconds):
    end = time.monotonic() + seconds
    while True:
        check_stop()
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.2))


# ---- state dir --------------------------------------------------------------------------------
def S(*parts):
    return os.path.join(SD, *parts)


def write_atomic(path, data, mode=0o644):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, ".%s.tmp-%d" % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_pid(pidfile):
    try:
        with open(pidfile) as f:
            pid, binp = f.read().split(None, 1)
        return int(pid), binp.strip()
    except (OSError, ValueError):
        return None


def pid_is_ours(pidfile):
    """As the harness's pid_is_ours: the recorded pid runs the recorded binary (argv[0])."""
    r = read_pid(pidfile)
    if not r:
        return False
    try:
        with open("/proc/%d/cmdline" % r[0], "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode("utf-8", "replace")
    except OSError:
        return False
    return argv0 == r[1]


def pidfile(comp):
    return S("pids", comp + ".pid")


def logfile(comp):
    return S("logs", comp + ".log")


CHILDREN = {}             # pid -> Popen, reaped by reap()


def reap():
    for pid, p in list(CHILDREN.items()):
        if p.poll() is not None:
            del CHILDREN[pid]


def launch(comp, binp, args, env, why):
    """Start binp detached (own session, stdin /dev/null, output appended to logs/COMP.log,
    cwd the state dir, every inherited fd but 0-2 closed); record "PID BINARY"."""
    global _critical
    argv = [binp] + list(args)
    write_atomic(S("logs", comp + ".cmdline"), shlex.join(argv) + "\n")
    with open(logfile(comp), "ab") as lf:
        lf.write(("==== %s %s: starting %s (%s) ====\n" % (
            time.strftime("%Y-%m-%dT%H:%M:%S"), PROG, comp, why)).encode())
        lf.flush()
        _critical += 1
        try:
            p = subprocess.Popen(argv, cwd=SD, env=env, stdin=subprocess.DEVNULL, stdout=lf,
                                 stderr=subprocess.STDOUT, close_fds=True, start_new_session=True)
            write_atomic(pidfile(comp), "%d %s\n" % (p.pid, binp))
        finally:
            _critical -= 1
    CHILDREN[p.pid] = p
    check_stop()
    # Popen returns when the exec closed its error pipe, a moment before the kernel has set up
    # the new /proc/PID/cmdline: wait for it (as the harness's launch does).
    for _ in range(100):
        if pid_is_ours(pidfile(comp)):
            return p
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise Fail("%s did not start (pid %d, exit code %s)" % (comp, p.pid, p.poll()), [logfile(comp)])


def stop_phase(comps):
    """SIGTERM the recorded processes of comps, wait up to 15 s, then SIGKILL (as `k8s down`)."""
    alive = []
    for c in comps:
        if pid_is_ours(pidfile(c)):
            try:
                os.kill(read_pid(pidfile(c))[0], signal.SIGTERM)
            except OSError:
                pass
            alive.append(c)
    end = time.monotonic() + STOP_GRACE
    while alive and time.monotonic() < end:
        time.sleep(0.1)
        reap()
        alive = [c for c in alive if pid_is_ours(pidfile(c))]
    for c in alive:
        if pid_is_ours(pidfile(c)):
            pid = read_pid(pidfile(c))[0]
            log("%s (pid %d) still running %d s after SIGTERM; sending SIGKILL" % (c, pid, STOP_GRACE))
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    for _ in range(50):
        reap()
        if not any(pid_is_ours(pidfile(c)) for c in alive):
            break
        time.sleep(0.1)


def stop_containers():
    """The controller manager (a client) first, then kube-apiserver (an apiserver whose etcd is
    gone hangs in shutdown), then etcd."""
    for c in (CM,) + tuple(reversed(START_ORDER)):
        stop_phase([c])


# ---- host cluster --------------------------------------------------------------------------
def kubectl(cfg, *args):
    cmd = [cfg["kubectl"], "--kubeconfig", cfg["kubeconfig"], "--request-timeout=20s",
           "--cache-dir", S("kubectl-cache"), "-n", cfg["namespace"]] + list(args)
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=90)
    except subprocess.TimeoutExpired:
        raise KubectlError("kubectl %s timed out" % " ".join(args))
    if r.returncode != 0:
        raise KubectlError(r.stderr.decode("utf-8", "replace").strip() or "kubectl exit %d" % r.returncode)
    return r.stdout.decode()


def get_objects(cfg, refs):
    """One `kubectl get` for refs (TYPE/NAME...): {(Kind, name): obj}; missing ones are absent."""
    refs = list(dict.fromkeys(refs))
    out = kubectl(cfg, "get", *refs, "-o", "json", "--ignore-not-found")
    if not out.strip():
        return {}
    doc = json.loads(out)
    items = doc.get("items", []) if doc.get("kind") == "List" else [doc]
    return {(o.get("kind"), o.get("metadata", {}).get("name")): o for o in items}


SOURCE_KIND = {"secret": ("Secret", "secret"), "configMap": ("ConfigMap", "configmap")}


def source_ref(vol):
    return "%s/%s" % (SOURCE_KIND[vol["kind"]][1], vol["source"])


def source_key(vol):
    return (SOURCE_KIND[vol["kind"]][0], vol["source"])


def describe_source(vol):
    return "%s %s" % (SOURCE_KIND[vol["kind"]][0], vol["source"])


def live(obj):
    return obj is not None and not obj.get("metadata", {}).get("deletionTimestamp")


# ---- ports -------------------------------------------------------------------------------------
class PortsLock:
    """The harness's run-dir-wide port lock (so parallel `up`s and serves do not collide)."""

    def __init__(self, run_root):
        os.makedirs(os.path.join(run_root, ".locks"), exist_ok=True)
        self.path = os.path.join(run_root, ".locks", "ports.lock")

    def __enter__(self):
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def reserved_ports(run_root, exclude_own=True):
    """{port: dir} from every RUN_ROOT/*/ports file (the harness's `KEY=PORT` lines)."""
    got = {}
    for f in glob.glob(os.path.join(run_root, "*", "ports")):
        d = os.path.dirname(f)
        if exclude_own and os.path.abspath(d) == os.path.abspath(SD):
            continue
        try:
            with open(f) as fh:
                for line in fh:
                    v = line.strip().split("=", 1)[-1]
                    if v.isdigit():
                        got[int(v)] = os.path.basename(d)
        except OSError:
            pass
    return got


def port_free(port, reuse=False):
    """Nothing is bound on 127.0.0.1:PORT.  reuse=True (SO_REUSEADDR): only a bound/listening
    socket counts, not connections in TIME_WAIT."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_ports(n, taken):
    """n distinct free loopback ports in 20000-31999 (below the ephemeral range), as the
    harness's pick_ports.  Caller holds the ports lock."""
    got = []
    for _ in range(2000):
        if len(got) == n:
            return got
        p = random.randrange(20000, 32000)
        if p in taken or p in got or not port_free(p):
            continue
        got.append(p)
    if len(got) == n:
        return got
    raise Fail("could not find %d free loopback ports" % n)


# ---- pod spec -> plan --------------------------------------------------------------------------
def flag_map(args, name, fn):
    """Normalise every --name=V / --name V / -name=V / -name V to --name=fn(V); count them."""
    out, i, n = [], 0, 0
    while i < len(args):
        a = args[i]
        for pre in ("--", "-"):
            if a == pre + name and i + 1 < len(args) and not args[i + 1].startswith("-"):
                out.append("--%s=%s" % (name, fn(args[i + 1])))
                i, n = i + 2, n + 1
                break
            if a.startswith(pre + name + "="):
                out.append("--%s=%s" % (name, fn(a[len(pre + name) + 1:])))
                i, n = i + 1, n + 1
                break
        else:
            out.append(a)
            i += 1
    args[:] = out
    return n


def flag_get(args, name):
    vals = []
    flag_map(list(args), name, lambda v: vals.append(v) or v)
    return vals[-1] if vals else None


VAR_RX = re.compile(r"\$\$|\$\(([A-Za-z_][-._A-Za-z0-9]*)\)")


def expand(s, env):
    """Kubernetes $(VAR) expansion: defined VAR -> its value, $$ -> $, anything else as is."""
    return VAR_RX.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


URL_RX = re.compile(r"\b(https?)://(\[[0-9A-Fa-f:.]*\]|[^:/,;\s]+)(?::(\d+))?")


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_unspecified(host):
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def image_base(image):
    """registry.k8s.io/etcd:3.7.0-0 -> (etcd, 3.6.16-0)"""
    image = image.split("@", 1)[0]
    name, tag = image, ""
    if ":" in image.rsplit("/", 1)[-1]:
        name, tag = image.rsplit(":", 1)
    return name.rsplit("/", 1)[-1], tag


def template_hash(dep):
    t = json.dumps(dep.get("spec", {}).get("template", {}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(t.encode()).hexdigest()[:16]


def replicas(dep):
    r = dep.get("spec", {}).get("replicas")
    return 1 if r is None else int(r)


def pod_volumes(dep):
    """{name: {kind, source?, items?, optional?, claim?}}; unsupported kinds fail loudly."""
    vols = {}
    for v in dep["spec"]["template"]["spec"].get("volumes") or []:
        name = v["name"]
        kinds = [k for k in v if k != "name"]
        kind = kinds[0] if len(kinds) == 1 else "+".join(kinds) or "none"
        if kind in ("secret", "configMap"):
            src = v[kind]
            vols[name] = {"kind": kind, "optional": bool(src.get("optional")),
                          "source": src.get("secretName") if kind == "secret" else src.get("name"),
                          "items": src.get("items")}
            if not vols[name]["source"]:
                raise Fail("volume %s: %s has no name" % (name, kind))
        elif kind == "persistentVolumeClaim":
            vols[name] = {"kind": kind, "claim": v[kind].get("claimName")}
        elif kind == "emptyDir":
            vols[name] = {"kind": kind}
        else:
            raise Fail("serve-federation cannot provide volume %s of kind %s (supported: secret, "
                       "configMap, persistentVolumeClaim, emptyDir)" % (name, kind))
    return vols


def pod_name_getter(cfg, dep):
    """The pod's name for fieldRef metadata.name: the newest pod of the Deployment's selector (kwok
    made it), else DEPLOYMENT-serve-federation; looked up once, when first needed."""
    pod_name = [None]

    def get_pod_name():
        if pod_name[0] is None:
            pod_name[0] = "%s-serve-federation" % dep["metadata"]["name"]
            sel = dep["spec"].get("selector", {}).get("matchLabels") or {}
            if sel:
                try:
                    pods = json.loads(kubectl(cfg, "get", "pods", "-o", "json", "-l",
                                              ",".join("%s=%s" % kv for kv in sorted(sel.items()))))
                    items = sorted(pods.get("items", []), key=lambda p: p["metadata"].get("creationTimestamp", ""))
                    if items:
                        pod_name[0] = items[-1]["metadata"]["name"]
                except (KubectlError, ValueError) as e:
                    log("could not look up the pod's name (%s); using %s" % (e, pod_name[0]))
        return pod_name[0]
    return get_pod_name


def plan_container(cfg, name, c, vols, vroot, get_pod_name):
    """One container as a process: {name, comp (basename of command[0], else the image's name),
    args (command[1:] + args, $(VAR) expanded, mount paths -> vroot/<volume> dirs), env, mounts}."""
    cname = c["name"]
    cmd = list(c.get("command") or [])
    comp = os.path.basename(cmd[0]) if cmd else image_base(c.get("image", ""))[0]
    if c.get("envFrom"):
        raise Fail("container %s: envFrom is not supported by serve-federation" % cname)
    env = {}
    for e in c.get("env") or []:
        vf = e.get("valueFrom")
        if vf is None:
            env[e["name"]] = expand(e.get("value", ""), env)
            continue
        path = (vf.get("fieldRef") or {}).get("fieldPath") if list(vf) == ["fieldRef"] else None
        if path == "metadata.namespace":
            env[e["name"]] = cfg["namespace"]
        elif path == "metadata.name":
            env[e["name"]] = get_pod_name()
        elif path in ("status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs"):
            env[e["name"]] = "127.0.0.1"
        else:
            raise Fail("container %s: env %s has valueFrom %s; serve-federation supports value and "
                       "fieldRef metadata.namespace/metadata.name (status.podIP/hostIP: 127.0.0.1)"
                       % (cname, e["name"], json.dumps(vf, sort_keys=True)))
    args = [expand(a, env) for a in cmd[1:] + list(c.get("args") or [])]
    if comp == "etcd":
        for f in ETCD_ENV_FLAGS:
            key = "ETCD_" + f.upper().replace("-", "_")
            if key in env:
                v = env.pop(key)
                if flag_get(args, f) is None:
                    args.append("--%s=%s" % (f, v))
    mounts = []
    for m in c.get("volumeMounts") or []:
        if m["name"] not in vols:
            raise Fail("container %s mounts volume %s, which the pod does not define" % (cname, m["name"]))
        mp = m["mountPath"].rstrip("/")
        if not mp.startswith("/"):
            raise Fail("container %s: mountPath %r is not absolute (or is /)" % (cname, m["mountPath"]))
        local = S(vroot, m["name"])
        if m.get("subPath"):
            local = os.path.join(local, m["subPath"])
        mounts.append((mp, local))
    mounts.sort(key=lambda x: -len(x[0]))
    if mounts:
        rx = re.compile(r"(^|[=,])(%s)(?=/|,|$)" % "|".join(re.escape(m) for m, _ in mounts))
        m2l = dict(mounts)
        rw = lambda s: rx.sub(lambda m: m.group(1) + m2l[m.group(2)], s)  # noqa: E731
        args = [rw(a) for a in args]
        env = {k: rw(v) for k, v in env.items()}
    return {"name": cname, "comp": comp, "args": args, "env": env, "mounts": mounts}


def build_plan(cfg, dep, svc, old_plan):
    """Everything needed to run the pod: volumes, listen port, etcd port map, and each
    container's component, binary, rewritten args and env.  Picks ports under the ports lock
    and writes the state dir's `ports`, `port` and `server` files."""
    name = "%s/%s" % (cfg["namespace"], cfg["deployment"])
    tspec = dep["spec"]["template"]["spec"]
    for k in ("initContainers", "ephemeralContainers"):
        if tspec.get(k):
            raise Fail("serve-federation cannot run %s (Deployment %s has %d)" % (k, name, len(tspec[k])))
    vols = pod_volumes(dep)
    get_pod_name = pod_name_getter(cfg, dep)

    containers = []
    for c in tspec.get("containers") or []:
        pc = plan_container(cfg, name, c, vols, "volumes", get_pod_name)
        if pc["comp"] not in cfg["bins"]:
            raise Fail("serve-federation cannot run container %s (command %s, image %s): only "
                       "kube-apiserver and etcd map to harness binaries"
                       % (pc["name"], json.dumps(c.get("command")) if c.get("command") else "(image entrypoint)",
                          c.get("image")))
        if any(x["comp"] == pc["comp"] for x in containers):
            raise Fail("Deployment %s has two %s containers; serve-federation runs one of each" % (name, pc["comp"]))
        pc["bin"] = cfg["bins"][pc["comp"]]
        ver = cfg["versions"].get(pc["comp"], "")
        tag = image_base(c.get("image", ""))[1]
        if tag and ver and tag.split("-")[0].lstrip("v") != ver.lstrip("v"):
            log("note: container %s asks for image tag %s; running the harness's %s %s"
                % (pc["name"], tag, pc["comp"], ver))
        containers.append(pc)
    if not any(c["comp"] == "kube-apiserver" for c in containers):
        raise Fail("Deployment %s has no kube-apiserver container" % name)
    containers.sort(key=lambda c: START_ORDER.index(c["comp"]))

    # etcd: its URL flags (defaults made explicit) -> 127.0.0.1 and picked ports.
    etcd = next((c for c in containers if c["comp"] == "etcd"), None)
    orig_ports = []            # in order: first client, first peer, the rest
    if etcd:
        a = etcd["args"]
        ename = flag_get(a, "name") or "default"
        for f, v in (("listen-client-urls", "http://localhost:2379"), ("advertise-client-urls", "http://localhost:2379"),
                     ("listen-peer-urls", "http://localhost:2380"), ("initial-advertise-peer-urls", "http://localhost:2380"),
                     ("initial-cluster", "%s=http://localhost:2380" % ename)):
            if flag_get(a, f) is None:
                a.append("--%s=%s" % (f, v))
        for f in ("listen-client-urls", "listen-peer-urls") + ETCD_URL_FLAGS:
            for m in URL_RX.finditer(flag_get(a, f) or ""):
                if m.group(3) and int(m.group(3)) not in orig_ports:
                    orig_ports.append(int(m.group(3)))
    port_map = {int(k): v for k, v in ((old_plan or {}).get("port_map") or {}).items()}

    with PortsLock(cfg["run_root"]):
        taken = reserved_ports(cfg["run_root"])
        # The listen port first: a nodePort (30000-32767) must not be picked for etcd.
        api_port, source = None, ""
        stype = (svc.get("spec") or {}).get("type", "ClusterIP")
        sports = (svc.get("spec") or {}).get("ports") or []
        if stype in ("NodePort", "LoadBalancer") and sports and sports[0].get("nodePort"):
            api_port = int(sports[0]["nodePort"])
            source = "nodePort of Service %s (%s)" % (name, stype)
            if api_port in taken:
                raise Fail("%s: port %d is already reserved by %s under %s"
                           % (source, api_port, taken[api_port], cfg["run_root"]))
            running = old_plan and old_plan.get("api_port") == api_port and pid_is_ours(pidfile("kube-apiserver"))
            if not running and not port_free(api_port, reuse=True):
                raise Fail("%s: 127.0.0.1:%d is in use" % (source, api_port))
        elif old_plan and old_plan.get("api_port"):
            api_port, source = old_plan["api_port"], "kept from the previous start"
        else:
            api_port = pick_ports(1, set(taken) | set(port_map.values()))[0]
            source = "picked (Service %s is %s without a nodePort)" % (name, stype)
        port_map = {o: p for o, p in port_map.items() if p != api_port}
        need = [p for p in orig_ports if p not in port_map]
        for o, p in zip(need, pick_ports(len(need), set(taken) | set(port_map.values()) | {api_port})):
            port_map[o] = p
        port_map = {o: port_map[o] for o in orig_ports}
        lines = []
        for o, p in port_map.items():
            key = ("ETCD_PORT" if o == orig_ports[0] else
                   "ETCD_PEER" if len(orig_ports) > 1 and o == orig_ports[1] else "ETCD_EXTRA")
            lines.append("%s=%d\n" % (key, p))
        lines.append("API_PORT=%d\n" % api_port)
        write_atomic(S("ports"), "".join(lines) + "".join(cm_port_lines()))
    log("listen port %d: %s" % (api_port, source))

    def map_url(m, listen):
        scheme, host, port = m.group(1), m.group(2), m.group(3)
        if not port or int(port) not in port_map:
            return m.group(0)
        if listen or scheme == "http" or not is_loopback(host):
            host = "127.0.0.1"
        return "%s://%s:%d" % (scheme, host, port_map[int(port)])

    if etcd:
        for f in ETCD_URL_FLAGS:
            flag_map(etcd["args"], f, lambda v: URL_RX.sub(lambda m: map_url(m, True), v))

    api = next(c for c in containers if c["comp"] == "kube-apiserver")
    a = api["args"]

    def etcd_servers(v):
        for m in URL_RX.finditer(v):
            if not (is_loopback(m.group(2)) or is_unspecified(m.group(2))):
                raise Fail("container %s: etcd server %s is not on 127.0.0.1; serve-federation only runs pods "
                           "whose connections stay on loopback" % (api["name"], m.group(0)))
        return URL_RX.sub(lambda m: map_url(m, False), v)

    flag_map(a, "etcd-servers", etcd_servers)
    flag_map(a, "etcd-servers-overrides", etcd_servers)
    if not flag_map(a, "secure-port", lambda v: str(api_port)):
        a.append("--secure-port=%d" % api_port)
    if not flag_map(a, "bind-address", lambda v: "127.0.0.1"):
        a.append("--bind-address=127.0.0.1")
    if not flag_map(a, "advertise-address", lambda v: v if is_loopback(v) else "127.0.0.1"):
        a.append("--advertise-address=127.0.0.1")
    # The lease/master-count endpoint reconcilers refuse a loopback advertise address.
    if not flag_map(a, "endpoint-reconciler-type", lambda v: "none"):
        a.append("--endpoint-reconciler-type=none")
    if flag_get(a, "tls-cert-file") is None and flag_get(a, "cert-dir") is None:
        a.append("--cert-dir=%s" % S("apiserver-certs"))  # not /var/run/kubernetes

    # File paths that no volumeMount covers are used as they are on this host: say so.
    for c in containers:
        for arg in c["args"]:
            if not re.match(r"--?[-a-z]*(file|dir|path|config|cert|key)[-a-z]*=", arg):
                continue
            for m in re.finditer(r"(?:^|[=,])(/[^,]*)", arg):
                if not m.group(1).startswith(SD + "/"):
                    log("warning: container %s arg %s: %s is not under any volumeMount; used as is on this host"
                        % (c["name"], arg, m.group(1)))

    # The CA to verify the serving cert with: ca.crt next to --tls-cert-file, else in any
    # Secret volume the apiserver mounts.
    ca = None
    tls = flag_get(a, "tls-cert-file")
    cands = [os.path.join(os.path.dirname(tls), "ca.crt")] if tls else []
    for _, local in api["mounts"]:
        cands.append(os.path.join(local, "ca.crt"))
    vol_dirs = {S("volumes", n) for n, v in vols.items() if v["kind"] in ("secret", "configMap")}
    for cand in cands:
        if any(cand.startswith(d + "/") for d in vol_dirs):
            ca = cand
            break

    health = None
    if etcd and orig_ports:
        m = URL_RX.search(flag_get(etcd["args"], "listen-client-urls") or "")
        if m:
            health = "%s:%s" % (m.group(1), m.group(3))
    return {"template_hash": template_hash(dep), "volumes": vols, "port_map": {str(k): v for k, v in port_map.items()},
            "api_port": api_port, "etcd_health": health, "ca_file": ca,
            "host": {"kubeconfig": cfg["kubeconfig"], "namespace": cfg["namespace"]},
            "pvc_ids": {}, "containers": containers}


# ---- the controller manager ------------------------------------------------------------------------
class MissingBinary(Fail):
    pass


def cm_binary(cfg):
    """The kubefed-controller-manager to run, by the environment `serve-federation` ran with:
    $KUBEFED_CONTROLLER_MANAGER (a path), else $KUBEFED_BUILD_DIR/kubefed-controller-manager, else
    REPO/build/kubefed-controller-manager (tests/run.sh's default build dir)."""
    env = cfg.get("cm_env") or {}
    if env.get("KUBEFED_CONTROLLER_MANAGER"):
        src, path = "$KUBEFED_CONTROLLER_MANAGER", env["KUBEFED_CONTROLLER_MANAGER"]
    elif env.get("KUBEFED_BUILD_DIR"):
        src, path = "$KUBEFED_BUILD_DIR", os.path.join(env["KUBEFED_BUILD_DIR"], CM)
    else:
        src, path = "the default build dir", os.path.join(cfg.get("repo", ""), "build", CM)
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise MissingBinary("%s: no executable %s at %s (from %s; set KUBEFED_CONTROLLER_MANAGER to the binary, or "
                            "KUBEFED_BUILD_DIR to the build dir, before serve-federation)" % (CM, CM, path, src))
    return path


def cm_port_lines():
    """The controller manager's lines of the state dir's `ports` (CM_HEALTH_PORT, CM_METRICS_PORT)."""
    try:
        with open(S("ports")) as f:
            return [l if l.endswith("\n") else l + "\n" for l in f if l.startswith("CM_")]
    except OSError:
        return []


def set_cm_ports(ports):
    """Replace the CM_ lines of `ports` (so `up` and free-port never pick them). Caller holds the lock."""
    try:
        with open(S("ports")) as f:
            keep = [l if l.endswith("\n") else l + "\n" for l in f if l.strip() and not l.startswith("CM_")]
    except OSError:
        keep = []
    write_atomic(S("ports"), "".join(keep) + "".join("%s=%d\n" % kv for kv in sorted(ports.items())))


def set_component(comp, on):
    """Add comp to (or remove it from) the state dir's `components` (what `k8s status` checks)."""
    try:
        with open(S("components")) as f:
            comps = f.read().split()
    except OSError:
        comps = []
    comps = [c for c in comps if c != comp] + ([comp] if on else [])
    write_atomic(S("components"), " ".join(comps) + "\n")


def build_cm_plan(cfg, dep, api_plan):
    """Deployment FEDERATION-controller-manager as a process: its one container must be
    kubefed-controller-manager; volumes under cm-volumes/; --master -> the served URL;
    --health-bind-address and --metrics-bind-address -> free loopback ports (recorded in `ports`
    as CM_HEALTH_PORT / CM_METRICS_PORT; "0", off, stays off)."""
    name = "%s/%s" % (cfg["namespace"], dep["metadata"]["name"])
    tspec = dep["spec"]["template"]["spec"]
    for k in ("initContainers", "ephemeralContainers"):
        if tspec.get(k):
            raise Fail("serve-federation cannot run %s (Deployment %s has %d)" % (k, name, len(tspec[k])))
    vols = pod_volumes(dep)
    cs = tspec.get("containers") or []
    if len(cs) != 1:
        raise Fail("Deployment %s has %d containers; serve-federation runs exactly one, %s" % (name, len(cs), CM))
    pc = plan_container(cfg, name, cs[0], vols, "cm-volumes", pod_name_getter(cfg, dep))
    if pc["comp"] != CM:
        raise Fail("serve-federation cannot run container %s of Deployment %s (command %s, image %s): only %s"
                   % (pc["name"], name, json.dumps(cs[0].get("command")), cs[0].get("image"), CM))
    pc["bin"] = cm_binary(cfg)
    a = pc["args"]
    served = "https://127.0.0.1:%d" % api_plan["api_port"]
    if not flag_map(a, "master", lambda v: served):
        a.append("--master=%s" % served)
    ports = {}
    with PortsLock(cfg["run_root"]):
        own = set()
        for line in open(S("ports")) if os.path.exists(S("ports")) else []:
            v = line.strip().split("=", 1)[-1]
            if v.isdigit():
                own.add(int(v))
        picked = pick_ports(2, set(reserved_ports(cfg["run_root"])) | own)
        for flag, port, key in (("health-bind-address", picked[0], "CM_HEALTH_PORT"),
                                ("metrics-bind-address", picked[1], "CM_METRICS_PORT")):
            def moved(v, port=port, key=key):
                if v in ("0", ""):
                    return v
                ports[key] = port
                return "127.0.0.1:%d" % port
            if not flag_map(a, flag, moved):
                ports[key] = port
                a.append("--%s=127.0.0.1:%d" % (flag, port))
        set_cm_ports(ports)
    return {"template_hash": template_hash(dep), "vroot": "cm-volumes", "volumes": vols, "master": served,
            "health_port": ports.get("CM_HEALTH_PORT"), "metrics_port": ports.get("CM_METRICS_PORT"),
            "host": {"kubeconfig": cfg["kubeconfig"], "namespace": cfg["namespace"]}, "pvc_ids": {},
            "containers": [pc]}


# ---- volumes -----------------------------------------------------------------------------------
def source_files(vname, vol, obj):
    """{relative path: bytes} a Secret/ConfigMap volume projects (kubelet semantics)."""
    data = {}
    for k, v in (obj.get("data") or {}).items():
        data[k] = base64.b64decode(v) if vol["kind"] == "secret" else v.encode()
    for k, v in (obj.get("binaryData") or {}).items():
        data[k] = base64.b64decode(v)
    if not vol.get("items"):
        files = data
    else:
        files = {}
        for it in vol["items"]:
            if it["key"] not in data:
                if vol["optional"]:
                    continue
                raise Fail("volume %s: %s has no key %s" % (vname, describe_source(vol), it["key"]))
            files[it["path"]] = data[it["key"]]
    for rel in files:
        if rel.startswith("/") or ".." in rel.split("/"):
            raise Fail("volume %s: bad path %r" % (vname, rel))
    return files


def sync_source(vname, vol, obj, vroot="volumes"):
    """Atomically (re)write the files that differ, remove the ones no longer projected."""
    d = S(vroot, vname)
    os.makedirs(d, mode=0o700, exist_ok=True)
    files = source_files(vname, vol, obj)
    changed = []
    for rel, content in sorted(files.items()):
        p = os.path.join(d, rel)
        try:
            with open(p, "rb") as f:
                same = f.read() == content
        except OSError:
            same = False
        if not same:
            write_atomic(p, content, 0o600)
            changed.append(rel)
    for root, _, names in os.walk(d):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), d)
            if rel not in files and not n.startswith("."):
                os.unlink(os.path.join(root, n))
                changed.append(rel + " (removed)")
    return changed


def prepare_volumes(plan, objs):
    vroot = plan.get("vroot", "volumes")
    for vname, vol in plan["volumes"].items():
        d = S(vroot, vname)
        if vol["kind"] in SOURCE_KIND:
            obj = objs.get(source_key(vol))
            if not live(obj):
                if not vol["optional"]:
                    raise Fail("volume %s: %s not found in namespace %s"
                               % (vname, describe_source(vol), plan["host"]["namespace"]))
                os.makedirs(d, mode=0o700, exist_ok=True)
                continue
            sync_source(vname, vol, obj, vroot)
        else:
            os.makedirs(d, exist_ok=True)   # persistentVolumeClaim / emptyDir: kept across restarts
        if vol["kind"] == "persistentVolumeClaim":
            pvc = objs.get(("PersistentVolumeClaim", vol["claim"]))
            plan["pvc_ids"][vname] = [plan["host"]["kubeconfig"], plan["host"]["namespace"], vol["claim"],
                                      pvc["metadata"].get("uid") if pvc else None]
    # subPath mounts of persistentVolumeClaim/emptyDir volumes: the kubelet creates the dir.
    dirs = [S(vroot, n) + "/" for n, v in plan["volumes"].items() if v["kind"] not in SOURCE_KIND]
    for c in plan["containers"]:
        for _, local in c["mounts"]:
            if not os.path.exists(local) and any(local.startswith(d) for d in dirs):
                os.makedirs(local)


def fetch_sources(cfg, vols, deadline):
    """Get the Secrets/ConfigMaps/PVCs the volumes use; wait (until deadline) for required ones."""
    refs = [source_ref(v) for v in vols.values() if v["kind"] in SOURCE_KIND]
    refs += ["persistentvolumeclaim/%s" % v["claim"] for v in vols.values()
             if v["kind"] == "persistentVolumeClaim" and v.get("claim")]
    if not refs:
        return {}
    while True:
        err = None
        try:
            objs = get_objects(cfg, refs)
        except KubectlError as e:
            objs, err = {}, e
        missing = [describe_source(v) for v in vols.values()
                   if v["kind"] in SOURCE_KIND and not v["optional"] and not live(objs.get(source_key(v)))]
        if not missing and err is None:
            return objs
        if time.monotonic() > deadline:
            raise Fail("%s not found in namespace %s%s" % (", ".join(missing) or "volume sources",
                                                         cfg["namespace"], " (kubectl: %s)" % err if err else ""))
        nap(1)


# ---- starting --------------------------------------------------------------------------------
def proc_env(c):
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
    env.update(c["env"])
    return env


def probe_etcd(health):
    scheme, port = health.split(":")
    if scheme != "http":          # TLS etcd: a TCP connect is all we can check
        with socket.create_connection(("127.0.0.1", int(port)), timeout=2):
            return True
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=3)
    try:
        conn.request("GET", "/health")
        r = conn.getresponse()
        body = r.read()
        return r.status == 200 and b'"true"' in body.replace(b" ", b"")
    finally:
        conn.close()


class Readyz:
    """GET https://127.0.0.1:PORT/readyz, verifying the serving cert with the pod's ca.crt when
    there is one (if it does not verify for 127.0.0.1, say so once and go on unverified)."""

    FORBIDDEN_GRACE = 20

    def __init__(self, port, cafile):
        self.port, self.cafile = port, cafile if cafile and os.path.isfile(cafile) else None
        self.unverified = self.cafile is None
        self.first_403 = None

    def ready(self):
        """200, or 401 (anonymous auth off: it cannot tell more), or a 403 that lasted 20 s: an
        early 403 just means the RBAC bootstrap roles (public-info-viewer) are not there yet."""
        st = self.status()
        if st == 403:
            self.first_403 = self.first_403 or time.monotonic()
            return time.monotonic() - self.first_403 >= self.FORBIDDEN_GRACE
        return st in (200, 401)

    def ctx(self):
        if self.unverified:
            c = ssl.create_default_context()
            c.check_hostname = False
            c.verify_mode = ssl.CERT_NONE
            return c
        return ssl.create_default_context(cafile=self.cafile)

    def status(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx(), timeout=5)
        try:
            conn.request("GET", "/readyz")
            r = conn.getresponse()
            r.read()
            return r.status
        except ssl.SSLCertVerificationError as e:
            log("warning: the serving cert on 127.0.0.1:%d does not verify with %s (%s); "
                "polling /readyz without verification" % (self.port, self.cafile, e.verify_message))
            self.unverified = True
            return None
        finally:
            conn.close()


def wait_until(desc, timeout, probe, comps, logs):
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            if probe():
                return
        except (OSError, http.client.HTTPException) as e:
            last = e
        for c in comps:
            if not pid_is_ours(pidfile(c)):
                reap()
                raise Fail("%s exited while waiting for %s" % (c, desc), [logfile(c)])
        if time.monotonic() > end:
            raise Fail("timed out after %d s waiting for %s%s" % (timeout, desc, " (last error: %s)" % last if last else ""),
                       logs)
        nap(0.5)


def start_containers(plan, why):
    """etcd first (until /health answers), then kube-apiserver (until /readyz, see Readyz)."""
    started = []
    for c in plan["containers"]:
        log("starting %s (container %s)" % (c["comp"], c["name"]))
        launch(c["comp"], c["bin"], c["args"], proc_env(c), why)
        started.append(c["comp"])
        if c["comp"] == "etcd" and plan.get("etcd_health"):
            wait_until("etcd /health on %s" % plan["etcd_health"], ETCD_WAIT,
                       lambda: probe_etcd(plan["etcd_health"]), started, [logfile("etcd")])
    rz = Readyz(plan["api_port"], plan.get("ca_file"))
    wait_until("kube-apiserver /readyz on https://127.0.0.1:%d" % plan["api_port"], APISERVER_WAIT,
               rz.ready, started, [logfile("kube-apiserver")])
    return rz


def write_plan_files(plan):
    write_atomic(S("plan.json"), json.dumps(plan, indent=1, sort_keys=True) + "\n")
    write_atomic(S("template-hash"), plan["template_hash"] + "\n")
    write_atomic(S("port"), "%d\n" % plan["api_port"])
    write_atomic(S("server"), "https://127.0.0.1:%d\n" % plan["api_port"])
    write_atomic(S("components"), " ".join(["supervisor"] + [c["comp"] for c in plan["containers"]]) + "\n")


def start_supervisor():
    global _critical
    script = os.path.abspath(__file__)
    with open(logfile("supervisor"), "ab") as lf:
        _critical += 1
        try:
            p = subprocess.Popen([sys.executable, script, "supervise", SD], cwd=SD, stdin=subprocess.DEVNULL,
                                 stdout=lf, stderr=subprocess.STDOUT, close_fds=True, start_new_session=True)
            write_atomic(pidfile("supervisor"), "%d %s\n" % (p.pid, sys.executable))
        finally:
            _critical -= 1
    check_stop()
    for _ in range(100):
        if pid_is_ours(pidfile("supervisor")):
            return
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise Fail("the supervisor did not start (exit code %s)" % p.poll(), [logfile("supervisor")])


# ---- serve -----------------------------------------------------------------------------------
def cmd_serve(a):
    global SD
    SD = os.path.abspath(a.state)
    dname = "%s-apiserver" % a.federation
    cfg = {"kubeconfig": os.path.abspath(a.kubeconfig), "namespace": a.namespace, "federation": a.federation,
           "deployment": dname, "kubectl": a.kubectl, "run_root": os.path.abspath(a.run_root),
           "bins": dict(b.split("=", 1) for b in a.bin), "versions": dict(v.split("=", 1) for v in a.version),
           # The controller manager's binary is looked up when its Deployment is run (cm_binary).
           "cm_deployment": "%s-controller-manager" % a.federation,
           "cm_env": {k: os.environ[k] for k in ("KUBEFED_CONTROLLER_MANAGER", "KUBEFED_BUILD_DIR") if os.environ.get(k)},
           "repo": os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))}
    label = os.path.basename(SD)
    wait_s = int(os.environ.get("KUBEFED_SERVE_FEDERATION_WAIT", "60"))

    old_plan = None
    if os.path.isdir(SD):
        old_cfg = load_json(S("config.json")) or {}
        if pid_is_ours(pidfile("supervisor")):
            if old_cfg.get("kubeconfig") != cfg["kubeconfig"]:
                raise Fail("%s is already served for the host cluster of %s (asked for %s); run "
                           "'tests/harness/k8s down %s' first" % (label, old_cfg.get("kubeconfig"), cfg["kubeconfig"], label))
            plan = load_json(S("plan.json"))
            if not plan:
                raise Fail("%s: supervisor running but %s is missing" % (label, S("plan.json")))
            log("%s is already being served; waiting for /readyz" % label)
            rz = Readyz(plan["api_port"], plan.get("ca_file"))
            wait_until("kube-apiserver /readyz on https://127.0.0.1:%d" % plan["api_port"], APISERVER_WAIT,
                       rz.ready, ["supervisor"],
                       [logfile("supervisor"), logfile("kube-apiserver")])
            print("https://127.0.0.1:%d" % plan["api_port"], flush=True)
            return 0
        log("%s: stale state in %s (supervisor not running); cleaning up" % (label, SD))
        stop_phase(["supervisor"])
        stop_containers()
        old_plan = load_json(S("plan.json"))
        keep = S(".old-volumes")
        if os.path.isdir(S("volumes")):
            shutil.rmtree(keep, ignore_errors=True)
            os.rename(S("volumes"), keep)
        for n in os.listdir(SD):
            if n not in (".old-volumes",):
                shutil.rmtree(S(n), ignore_errors=True)

    fresh = True
    launched = False
    try:
        for d in ("logs", "pids", "volumes"):
            os.makedirs(S(d), exist_ok=True)
        write_atomic(S("config.json"), json.dumps(cfg, indent=1, sort_keys=True) + "\n")
        write_atomic(S("federation"), "%s/%s\n" % (a.namespace, a.federation))

        # 1. the Deployment and its Service.
        deadline = time.monotonic() + wait_s
        log("%s: reading Deployment and Service %s/%s from %s" % (label, a.namespace, dname, cfg["kubeconfig"]))
        while True:
            err = None
            try:
                objs = get_objects(cfg, ["deployment.apps/" + dname, "service/" + dname])
            except KubectlError as e:
                objs, err = {}, e
            dep, svc = objs.get(("Deployment", dname)), objs.get(("Service", dname))
            if live(dep) and live(svc):
                break
            if time.monotonic() > deadline:
                what = [w for w, o in (("Deployment", dep), ("Service", svc)) if not live(o)]
                raise Fail("%s %s/%s not found on the host cluster (%s) after %d s%s"
                           % (" and ".join(what), a.namespace, dname, cfg["kubeconfig"], wait_s,
                              "; kubectl: %s" % err if err else ""))
            nap(1)
        if replicas(dep) < 1:
            raise Fail("Deployment %s/%s has replicas 0: nothing to run" % (a.namespace, dname))

        # 2. the plan, the volumes.
        vols = pod_volumes(dep)
        objs = fetch_sources(cfg, vols, max(deadline, time.monotonic() + SOURCE_WAIT))
        plan = build_plan(cfg, dep, svc, None)
        prepare_volumes(plan, objs)
        if os.path.isdir(S(".old-volumes")):
            old_ids = (old_plan or {}).get("pvc_ids") or {}
            for vname, vid in plan["pvc_ids"].items():
                old = S(".old-volumes", vname)
                if old_ids.get(vname) == vid and os.path.isdir(old):
                    log("volume %s: keeping the data of PersistentVolumeClaim %s" % (vname, vid[2]))
                    shutil.rmtree(S("volumes", vname))
                    os.rename(old, S("volumes", vname))
            shutil.rmtree(S(".old-volumes"), ignore_errors=True)
        write_plan_files(plan)

        # 3. the containers, then the supervisor.
        launched = True
        start_containers(plan, "serve-federation")
        start_supervisor()
        write_atomic(S("ready"), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")
        fresh = False
    finally:
        if fresh:
            if launched:
                log("%s failed; stopping what was started (logs kept in %s/logs until the next serve/down)" % (label, SD))
                stop_phase(["supervisor"])
                stop_containers()
                for f in ("ready", "ports"):
                    if os.path.exists(S(f)):
                        os.unlink(S(f))
            else:
                shutil.rmtree(SD, ignore_errors=True)
    log("%s: kube-apiserver ready on https://127.0.0.1:%d (state: %s)" % (label, plan["api_port"], SD))
    print("https://127.0.0.1:%d" % plan["api_port"], flush=True)
    return 0


# ---- supervise -------------------------------------------------------------------------------
class Supervisor:
    def __init__(self, cfg, plan):
        self.cfg, self.plan = cfg, plan
        self.hash = plan["template_hash"]
        self.want = True
        self.broken = False          # the current template cannot be run: wait for a new one
        self.crash = {}              # comp -> {"n": restarts, "next": monotonic time}
        self.started = {c["comp"]: time.monotonic() for c in plan["containers"]}
        self.kubectl_err = None
        self.gone_sources = set()
        self.source_err = {}
        self.cm_dep = cfg.get("cm_deployment") or cfg["federation"] + "-controller-manager"
        self.cm_key = None           # template hash @ apiserver port of the controller manager run
        self.cm_plan = None          # None: not running (no Deployment, replicas 0, or cm-error)
        self.cm_missing_bin = False  # cm-error says the binary is missing: look again every tick

    def refs(self):
        refs = ["deployment.apps/" + self.cfg["deployment"]] + \
            [source_ref(v) for v in self.plan["volumes"].values() if v["kind"] in SOURCE_KIND]
        refs.append("deployment.apps/" + self.cm_dep)
        if self.cm_plan:
            refs += [source_ref(v) for v in self.cm_plan["volumes"].values() if v["kind"] in SOURCE_KIND]
        return refs

    def tick(self):
        """One round; False when the Deployment is gone (the supervisor then exits)."""
        reap()
        if not os.path.exists(self.cfg["kubeconfig"]):
            return self.give_up("the host cluster's kubeconfig %s is gone (host cluster down)" % self.cfg["kubeconfig"])
        try:
            objs = get_objects(self.cfg, self.refs())
        except (KubectlError, ValueError) as e:
            if str(e) != str(self.kubectl_err):
                log("cannot read the host cluster (will retry): %s" % e)
            self.kubectl_err = e
            return True
        if self.kubectl_err:
            log("host cluster reachable again")
            self.kubectl_err = None
        dep = objs.get(("Deployment", self.cfg["deployment"]))
        if not live(dep):
            return self.give_up("Deployment %s/%s is gone" % (self.cfg["namespace"], self.cfg["deployment"]))
        h, want = template_hash(dep), replicas(dep) > 0
        if h != self.hash or want != self.want:
            self.rollout(dep, h, want)
            return True
        if want and not self.broken:
            self.sync_sources(objs)
            self.restart_crashed()
        self.tick_cm(objs)
        return True

    # -- the controller manager: runs while its Deployment exists with replicas > 0 and
    #    kube-apiserver runs; restarted when its template (or the apiserver's port) changes.
    def tick_cm(self, objs):
        dep = objs.get(("Deployment", self.cm_dep))
        why = ("Deployment %s/%s is gone" % (self.cfg["namespace"], self.cm_dep) if not live(dep) else
               "Deployment %s/%s has replicas 0" % (self.cfg["namespace"], self.cm_dep) if replicas(dep) < 1 else
               "kube-apiserver is not running" if not self.want or self.broken else None)
        if why:
            if self.cm_key is not None:
                log("%s: stopping %s" % (why, CM))
                self.stop_cm()
                for f in ("cm-error",):
                    if os.path.exists(S(f)):
                        os.unlink(S(f))
            return
        key = "%s@%d" % (template_hash(dep), self.plan["api_port"])
        if key == self.cm_key:
            if self.cm_plan:
                self.sync_sources(objs, self.cm_plan)
                self.restart_crashed(self.cm_plan)
                return
            if not self.cm_missing_bin:
                return               # cm-error: wait for a new template
            try:
                cm_binary(self.cfg)
            except MissingBinary:
                return
            log("%s is there now" % CM)
        self.start_cm(dep, key)

    def stop_cm(self):
        # cm-health goes first: once the process is gone, nothing may still point at its port
        # (a reader that sees the pid gone must not find the file).
        if os.path.exists(S("cm-health")):
            os.unlink(S("cm-health"))
        stop_phase([CM])
        self.cm_key, self.cm_plan, self.cm_missing_bin = None, None, False
        self.crash.pop(CM, None)
        with PortsLock(self.cfg["run_root"]):
            set_cm_ports({})
        set_component(CM, False)

    def start_cm(self, dep, key):
        first = self.cm_key is None
        if not first:
            log("Deployment %s changed: restarting %s" % (self.cm_dep, CM))
        self.stop_cm()
        self.cm_key = key
        try:
            objs = fetch_sources(self.cfg, pod_volumes(dep), time.monotonic() + SOURCE_WAIT)
            plan = build_cm_plan(self.cfg, dep, self.plan)
            prepare_volumes(plan, objs)
            write_atomic(S("cm-plan.json"), json.dumps(plan, indent=1, sort_keys=True) + "\n")
        except (Fail, KubectlError) as e:
            self.cm_missing_bin = isinstance(e, MissingBinary)
            msg = "cannot run Deployment %s/%s: %s" % (self.cfg["namespace"], self.cm_dep, e)
            log("ERROR: %s (kube-apiserver keeps running; %s)" % (
                msg, "retried when the binary appears" if self.cm_missing_bin else "retried when spec.template changes"))
            write_atomic(S("cm-error"), msg + "\n")
            with open(logfile(CM), "ab") as lf:
                lf.write(("==== %s %s: ERROR %s ====\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), PROG, msg)).encode())
            return
        self.cm_plan = plan
        self.started[CM] = time.monotonic()
        c = plan["containers"][0]
        try:
            launch(CM, c["bin"], c["args"], proc_env(c), "Deployment %s, template %s" % (self.cm_dep, key))
        except Fail as e:
            report(e)
            log("(%s is restarted with back-off)" % CM)
        if plan.get("health_port"):
            write_atomic(S("cm-health"), "http://127.0.0.1:%d\n" % plan["health_port"])
        if os.path.exists(S("cm-error")):
            os.unlink(S("cm-error"))
        set_component(CM, True)
        log("%s started (master %s, health %s, metrics %s)" % (CM, plan["master"], plan.get("health_port") or "off",
                                                                plan.get("metrics_port") or "off"))

    def give_up(self, why):
        log("%s: stopping %s, kube-apiserver and etcd (the state dir stays until down)" % (why, CM))
        stop_containers()
        self.cm_key, self.cm_plan = None, None
        if os.path.exists(S("ready")):
            os.unlink(S("ready"))
        write_atomic(S("stopped"), "%s: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), why))
        return False

    def sync_sources(self, objs, plan=None):
        plan = plan or self.plan
        vroot = plan.get("vroot", "volumes")
        for vname, vol in plan["volumes"].items():
            if vol["kind"] not in SOURCE_KIND:
                continue
            k = "%s/%s" % (vroot, vname)
            obj = objs.get(source_key(vol))
            if not live(obj):
                if k not in self.gone_sources:
                    log("volume %s: %s is gone; keeping its last files (as the kubelet does)" % (k, describe_source(vol)))
                    self.gone_sources.add(k)
                continue
            self.gone_sources.discard(k)
            try:
                changed = sync_source(vname, vol, obj, vroot)
                self.source_err.pop(k, None)
            except Fail as e:
                if self.source_err.get(k) != str(e):
                    log("volume %s: %s" % (k, e))
                self.source_err[k] = str(e)
                continue
            if changed:
                log("volume %s: rewrote %s from %s" % (k, ", ".join(changed), describe_source(vol)))

    def rollout(self, dep, h, want):
        if h != self.hash:
            log("spec.template changed (%s -> %s): recreating the containers (volume dirs kept)" % (self.hash, h))
        elif not want:
            log("replicas is 0: stopping the containers")
        else:
            log("replicas is above 0 again: starting the containers")
        stop_containers()         # the controller manager too: started again by tick_cm
        if self.cm_key is not None:
            self.stop_cm()
        self.hash, self.want, self.crash = h, want, {}
        if not want:
            return
        try:
            svc = get_objects(self.cfg, ["service/" + self.cfg["deployment"]]).get(("Service", self.cfg["deployment"]))
            if not live(svc):
                raise Fail("Service %s/%s not found" % (self.cfg["namespace"], self.cfg["deployment"]))
            vols = pod_volumes(dep)
            objs = fetch_sources(self.cfg, vols, time.monotonic() + SOURCE_WAIT)
            plan = build_plan(self.cfg, dep, svc, self.plan)
            plan["template_hash"] = h
            prepare_volumes(plan, objs)
            write_plan_files(plan)
            self.plan, self.broken = plan, False
            if os.path.exists(S("error")):
                os.unlink(S("error"))
        except (Fail, KubectlError) as e:
            self.broken = True
            log("ERROR: cannot run the new template: %s (containers stay stopped until spec.template changes)" % e)
            write_atomic(S("error"), "%s\n" % e)
            return
        now = time.monotonic()
        self.started = {c["comp"]: now for c in self.plan["containers"]}
        try:
            start_containers(self.plan, "spec.template %s" % h)
            log("kube-apiserver ready again on https://127.0.0.1:%d" % self.plan["api_port"])
        except Fail as e:
            report(e)
            log("(crashed containers are restarted with back-off)")

    def restart_crashed(self, plan=None):
        now = time.monotonic()
        for c in (plan or self.plan)["containers"]:
            comp = c["comp"]
            if pid_is_ours(pidfile(comp)):
                continue
            st = self.crash.get(comp)
            if st is None or st.get("next") is None:
                ran = now - self.started.get(comp, now)
                n = 0 if (st is None or ran > BACKOFF_RESET) else st["n"]
                delay = 0 if n == 0 else min(10 * 2 ** (n - 1), BACKOFF_MAX)
                st = self.crash[comp] = {"n": n, "next": now + delay}
                log("%s exited; restarting it in %d s (restart #%d); last lines of its log:" % (comp, delay, n + 1))
                try:
                    with open(logfile(comp), "rb") as f:
                        for line in f.read().decode("utf-8", "replace").splitlines()[-10:]:
                            log("  | " + line)
                except OSError:
                    pass
            if now >= st["next"]:
                st["n"], st["next"] = st["n"] + 1, None
                self.started[comp] = now
                try:
                    launch(comp, c["bin"], c["args"], proc_env(c), "restart #%d after a crash" % st["n"])
                except Fail as e:
                    report(e)


def cmd_supervise(a):
    global SD
    SD = os.path.abspath(a.state)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_term)
    try:
        cfg, plan = load_json(S("config.json")), load_json(S("plan.json"))
        if not cfg or not plan:
            log("supervisor: %s has no config.json/plan.json; exiting" % SD)
            return 1
        log("supervisor %d: watching Deployment %s/%s every %g s (template %s)"
            % (os.getpid(), cfg["namespace"], cfg["deployment"], TICK, plan["template_hash"]))
        sup = Supervisor(cfg, plan)
        while True:
            nap(TICK)
            if not os.path.isdir(SD):
                log("supervisor: %s is gone; exiting" % SD)
                return 0
            try:
                if not sup.tick():
                    log("supervisor: exiting")
                    return 0
            except Fail as e:
                report(e)
            except Exception:       # keep supervising whatever happens
                log("supervisor: unexpected error:\n" + traceback.format_exc())
    except Stop:
        log("supervisor: stopped by signal (down stops %s, kube-apiserver and etcd)" % CM)
        return 0


def main():
    ap = argparse.ArgumentParser(prog=PROG)
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--state", required=True)
    s.add_argument("--run-root", required=True)
    s.add_argument("--kubectl", required=True)
    s.add_argument("--bin", action="append", default=[], help="COMPONENT=PATH")
    s.add_argument("--version", action="append", default=[], help="COMPONENT=VERSION")
    s.add_argument("kubeconfig")
    s.add_argument("namespace")
    s.add_argument("federation")
    v = sub.add_parser("supervise")
    v.add_argument("state")
    a = ap.parse_args()
    if a.mode == "supervise":
        return cmd_supervise(a)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_term)
    try:
        return cmd_serve(a)
    except Stop:
        log("ERROR: interrupted")
        return 130
    except (Fail, KubectlError) as e:
        report(e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
