#!/usr/bin/env python3
"""Rewrite a member cluster's CoreDNS Corefile to run on loopback (tests/harness/k8s coredns --member).

Reads the Corefile on stdin, writes the rewritten one on stdout. What changes, and why:

* every server block key's port becomes --port, and each block gets `bind 127.0.0.1` as its
  first line (nothing listens beyond loopback);
* `health`, `ready` and `prometheus` listen on the given loopback ports instead of :8080,
  :8181 and :9153;
* the `kubernetes` plugin gets `kubeconfig FILE CONTEXT` (there is no in-cluster service
  account here);
* `forward` outside the join's block (kubeadm's `forward . /etc/resolv.conf`) goes to a loopback
  sink, a server block of our own that answers NXDOMAIN: the test machine's resolvers are
  neither reachable nor wanted;
* `loop` is dropped (it sends a probe through that upstream and would stop the server);
* the join's block, between its `# BEGIN kubefed.dev` and `# END kubefed.dev` markers, is kept
  byte for byte but for its key's port and the bind line.

Python 3 stdlib only.
"""
import argparse
import re
import sys

BEGIN = "# BEGIN kubefed.dev "
END = "# END kubefed.dev "


def code_part(line):
    """The line without its comment (a '#' outside quotes)."""
    out, q = [], False
    for ch in line:
        if ch == '"':
            q = not q
        elif ch == "#" and not q:
            break
        out.append(ch)
    return "".join(out)


def rekey(key_line, port):
    """`a.:53 b:53 {` -> every key on PORT (a key without a port gets one)."""
    body = code_part(key_line).rstrip()
    if not body.endswith("{"):
        raise SystemExit("member-corefile: server block key without '{' on its line: %r" % key_line)
    keys = body[:-1].split()
    new = []
    for k in keys:
        scheme = ""
        m = re.match(r"^([a-z]+://)(.*)$", k)
        if m:
            scheme, k = m.group(1), m.group(2)
        if scheme not in ("", "dns://"):
            raise SystemExit("member-corefile: only dns:// server blocks are supported, got %r" % key_line)
        k = re.sub(r":\d+$", "", k)
        new.append("%s%s:%d" % (scheme, k, port))
    indent = key_line[: len(key_line) - len(key_line.lstrip())]
    return indent + " ".join(new) + " {"


def main():
    ap = argparse.ArgumentParser()
    for opt in ("port", "health", "ready", "metrics", "sink"):
        ap.add_argument("--" + opt, type=int, required=True)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--context", required=True)
    a = ap.parse_args()

    lines = sys.stdin.read().split("\n")
    out = []
    depth = 0
    ours = False
    kube_open = None  # depth at which an open kubernetes { } block closes
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            ours = True
        code = code_part(line)
        opens, closes = code.count("{"), code.count("}")
        words = code.split()
        if depth == 0 and opens and words:
            out.append(rekey(line, a.port))
            out.append("    bind 127.0.0.1")
        elif ours or depth != 1 or not words:
            if kube_open is not None and depth + opens - closes < kube_open:
                # the kubernetes block's closing brace: our option goes just before it.
                out.append("       kubeconfig %s %s" % (a.kubeconfig, a.context))
                kube_open = None
            out.append(line)
        else:
            d = words[0]
            indent = line[: len(line) - len(line.lstrip())]
            tail = " {" if opens > closes else ""
            if d == "loop":
                pass
            elif d == "health":
                out.append("%shealth 127.0.0.1:%d%s" % (indent, a.health, tail))
            elif d == "ready":
                out.append("%sready 127.0.0.1:%d%s" % (indent, a.ready, tail))
            elif d == "prometheus":
                out.append("%sprometheus 127.0.0.1:%d%s" % (indent, a.metrics, tail))
            elif d == "forward":
                if len(words) < 2:
                    raise SystemExit("member-corefile: forward without a FROM zone: %r" % line)
                out.append("%sforward %s 127.0.0.1:%d%s" % (indent, words[1], a.sink, tail))
            elif d == "kubernetes":
                if opens > closes:
                    out.append(line)
                    kube_open = depth + 1
                else:
                    out.append("%s%s {" % (indent, code.rstrip()))
                    out.append("%s   kubeconfig %s %s" % (indent, a.kubeconfig, a.context))
                    out.append("%s}" % indent)
            else:
                out.append(line)
        depth += opens - closes
        if depth < 0:
            raise SystemExit("member-corefile: unbalanced '}' in %r" % line)
        if stripped.startswith(END):
            ours = False
    if depth != 0:
        raise SystemExit("member-corefile: %d unclosed '{' at the end" % depth)
    text = "\n".join(out).rstrip("\n") + "\n"
    text += "\n# tests/harness/k8s: the upstream sink (answers NXDOMAIN for everything)\n"
    text += ".:%d {\n    bind 127.0.0.1\n    template ANY ANY {\n        rcode NXDOMAIN\n    }\n}\n" % a.sink
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
