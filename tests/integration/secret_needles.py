#!/usr/bin/env python3
"""secret_needles.py [--control] SECRETS.json...: grep needles for every secret value in Kubernetes Secrets.

Used by tests/integration/security_secrets.sh. Each argument is `kubectl get secret(s) -o json`
output (a List or one Secret). For every data value that is secret material (private keys,
tokens, kubeconfigs with credentials, token files, provider configs) it prints lines
"LABEL<TAB>NEEDLE": 24-character windows from the middle of
  * the value as stored (.data, base64), e.g. a Secret dumped into a log or an event,
  * the value decoded (its longest line: a PEM body line, a token, a config line),
  * inside a kubeconfig: client-key-data (base64 of the key PEM), that key's PEM body, the token.
Windows avoid '/', '\\' and '"', which JSON encoders may escape, so a fixed-string grep finds the
window in raw text and JSON alike. Public material (certificates, public keys, ca.crt, namespace)
is skipped: it is meant to be seen (kube-root-ca.crt ConfigMaps hold the same CA).
With --control it prints instead every text the needles were taken from (stored, decoded, the
keys inside kubeconfigs), where the test's positive control must find every needle."""
import base64
import json
import re
import sys

W = 24
BAD = set('/\\"')


def window(s):
    """A W-char window of s nearest its middle that contains no character JSON might escape."""
    s = s.strip()
    if len(s) < W:
        return None
    mid = (len(s) - W) // 2
    for d in range(0, len(s)):
        for start in (mid - d, mid + d):
            if 0 <= start <= len(s) - W and not BAD & set(s[start:start + W]):
                return s[start:start + W]
    return None


def pem_blocks(text):
    return re.findall(r'-----BEGIN ([A-Z ]+)-----\s*(.*?)\s*-----END \1-----', text, re.S)


def private_key_needles(text):
    out = []
    for kind, body in pem_blocks(text):
        if 'PRIVATE KEY' not in kind:
            continue
        lines = [ln for ln in body.split() if ln]
        # The middle line first; another when every window of it holds a '/' (it happens).
        order = sorted(range(len(lines)), key=lambda i: abs(i - len(lines) // 2))
        out.append(('pem body', next((w for w in (window(lines[i]) for i in order) if w), None)))
    return out


def is_public(key, text):
    if key in ('ca.crt', 'namespace') or key.endswith('.pub'):
        return True
    blocks = pem_blocks(text)
    return bool(blocks) and all(k in ('CERTIFICATE', 'PUBLIC KEY') for k, _ in blocks)


CONTROL = []   # --control: every text a needle was taken from


def needles(label, key, b64):
    raw = base64.b64decode(b64)
    CONTROL.extend([b64, raw.decode(errors='replace')])
    out = [('stored base64', window(b64))]
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return out + [('bytes', window(base64.b64encode(raw).decode()))]
    if is_public(key, text):
        return []
    if 'PRIVATE KEY' in text and '-----BEGIN' in text and 'clusters:' not in text:
        return out + private_key_needles(text)
    if 'clusters:' in text or 'users:' in text:   # a kubeconfig: its credentials
        found = 0
        for m in re.finditer(r'client-key-data:\s*"?([A-Za-z0-9+/=]+)', text):
            found += 1
            out.append(('client-key-data', window(m.group(1))))
            inner = base64.b64decode(m.group(1)).decode()
            CONTROL.append(inner)
            out += private_key_needles(inner)
        for m in re.finditer(r'\btoken:\s*"?([^"\s]+)', text):
            found += 1
            out.append(('kubeconfig token', window(m.group(1))))
        if not found:
            sys.exit(f'{label}/{key}: a kubeconfig without a token or client key')
        return out
    if key.endswith('.csv'):   # kube-apiserver --token-auth-file: token,user,uid[,groups]
        for line in text.splitlines():
            if line.strip():
                out.append(('token file', window(line.split(',')[0])))
        return out
    longest = max(text.splitlines() or [''], key=len)
    return out + [('value', window(longest))]


def main():
    control = sys.argv[1:2] == ['--control']
    for path in sys.argv[1 + control:]:
        with open(path) as f:
            doc = json.load(f)
        for s in doc.get('items', [doc]):
            name = f"{s['metadata'].get('namespace', '')}/{s['metadata']['name']}"
            for key, b64 in sorted((s.get('data') or {}).items()):
                for what, n in needles(name, key, b64):
                    if not n:
                        sys.exit(f'{name}/{key}: {what} too short for a {W}-char window')
                    if not control:
                        print(f'{name}/{key} ({what})\t{n}')
    if control:
        print('\n'.join(CONTROL))


if __name__ == '__main__':
    main()
