/* certs: the federation's PKI, as pure functions over PEM text.
 *
 * A CA, and certificates it issues: the federation apiserver's serving
 * certificate (SANs: service names, advertise address, certSANs, load-balancer
 * ingress), and client certificates for the controller manager and the admin
 * kubeconfig. Keys are ECDSA P-256 or RSA 2048. Key generation is CPU work, so
 * certs_issue_async runs it on libuv's thread pool, never on the event loop.
 * Private keys live only in certs_pair buffers, wiped when freed; nothing here
 * logs. */
#ifndef KF_CERTS_H
#define KF_CERTS_H

#include <stdint.h>
#include <time.h>
#include <uv.h>

#include <kf/error.h>

typedef enum { CERTS_KEY_ECDSA_P256 = 0, CERTS_KEY_RSA_2048 } certs_key_type;

typedef struct certs_pair {
  char *cert_pem; /* NUL-terminated */
  char *key_pem;  /* NUL-terminated; wiped by certs_pair_free */
} certs_pair;

typedef struct certs_request {
  const char *common_name;
  const char *const *organizations; /* NULL-terminated or NULL (O= becomes the user's groups) */
  const char *const *dns_names;     /* NULL-terminated or NULL */
  const char *const *ip_addresses;  /* NULL-terminated or NULL, IPv4 or IPv6 text */
  uint64_t validity_s;              /* from now; 0: one year */
  int server_auth;                  /* extendedKeyUsage serverAuth */
  int client_auth;                  /* extendedKeyUsage clientAuth */
  certs_key_type key_type;
  int key_only; /* certs_issue_async: just a key pair (certs_new_key_pair) */
} certs_request;

/* A self-signed CA. */
int certs_new_ca(const char *common_name, uint64_t validity_s, certs_key_type key_type, certs_pair *out, kf_error *err);
/* A certificate signed by ca for req, with a fresh key. */
int certs_issue(const certs_pair *ca, const certs_request *req, certs_pair *out, kf_error *err);

/* 0 when cert_pem and key_pem make a CA that can issue now: valid PEM, the key matching,
 * basicConstraints CA:TRUE (keyCertSign if it has a keyUsage) or a v1 root, within its
 * validity. Else -EINVAL and a message saying which. */
int certs_ca_check(const char *cert_pem, const char *key_pem, kf_error *err);

/* The certificate's notAfter. */
int certs_not_after(const char *cert_pem, time_t *out, kf_error *err);
/* Both ends of its validity period (either pointer may be NULL). */
int certs_validity(const char *cert_pem, time_t *not_before, time_t *not_after, kf_error *err);
/* A bare key pair (service-account signing): out->cert_pem holds the PUBLIC KEY PEM. */
int certs_new_key_pair(certs_key_type key_type, certs_pair *out, kf_error *err);
/* 1 when pub_pem (PUBLIC KEY PEM) is key_pem's public half. */
int certs_public_key_matches(const char *pub_pem, const char *key_pem);
/* 1 when the certificate carries every DNS name and IP address given, else 0. */
int certs_covers(const char *cert_pem, const char *const *dns_names, const char *const *ip_addresses);
/* 1 when cert_pem verifies against ca_pem now (chain, validity, signature), else 0. */
int certs_signed_by(const char *cert_pem, const char *ca_pem);
/* 1 when key_pem is the private key of cert_pem. */
int certs_key_matches(const char *cert_pem, const char *key_pem);

void certs_pair_free(certs_pair *p);

/* Runs certs_issue (or certs_new_ca when ca is NULL, using req's common_name,
 * validity and key type) on the thread pool. The request and the CA are copied.
 * done runs on the loop thread; it owns *pair (certs_pair_free it) when rc is 0. */
typedef void (*certs_done_cb)(int rc, certs_pair *pair, const kf_error *err, void *data);
int certs_issue_async(uv_loop_t *loop, const certs_pair *ca, const certs_request *req, certs_done_cb done, void *data,
                      kf_error *err);

#endif
