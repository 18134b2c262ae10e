#!/bin/sh
# Regenerates the throwaway PKI and the -data kubeconfig used by
# tests/unit/kube_kubeconfig.c. Nothing here protects anything: the keys are
# public test fixtures. EC P-256 keeps the files (and the base64) small.
set -eu
cd "$(dirname "$0")"
mkdir -p pki
openssl ecparam -name prime256v1 -genkey -noout -out pki/ca.key
openssl req -x509 -new -key pki/ca.key -sha256 -days 36500 -subj /CN=kubefed-test-ca -out pki/ca.crt
openssl ecparam -name prime256v1 -genkey -noout -out pki/client.key
openssl req -new -key pki/client.key -subj /O=system:masters/CN=kubefed-test-admin -out pki/client.csr
openssl x509 -req -in pki/client.csr -CA pki/ca.crt -CAkey pki/ca.key -CAcreateserial \
  -sha256 -days 36500 -out pki/client.crt
rm -f pki/client.csr pki/ca.srl pki/ca.key
# openssl writes keys 0600; these are public fixtures that tests may run as any user.
chmod 644 pki/client.key
b64() { base64 -w0 < "$1"; }
cat > data.yaml <<YAML
apiVersion: v1
kind: Config
preferences: {}
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://prod.example.com:6443/
    certificate-authority-data: $(b64 pki/ca.crt)
    tls-server-name: kubernetes.default
- name: dev-cluster
  cluster:
    server: https://[2001:db8::1]:6443
    certificate-authority-data: $(b64 pki/ca.crt)
    insecure-skip-tls-verify: false
contexts:
- name: prod
  context:
    cluster: prod-cluster
    user: admin
    namespace: kube-system
- name: dev
  context:
    cluster: dev-cluster
    user: robot
users:
- name: admin
  user:
    client-certificate-data: $(b64 pki/client.crt)
    client-key-data: $(b64 pki/client.key)
- name: robot
  user:
    token: fixture-robot-token-0123456789
YAML
