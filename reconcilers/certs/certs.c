#include "certs.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define CERTS_DEFAULT_VALIDITY_S (365ull * 24 * 3600)
/* Issued certificates start a little in the past: clocks across nodes differ. */
#define CERTS_BACKDATE_S 300

static EVP_PKEY *certs_gen_key(certs_key_type kt) {
  return kt == CERTS_KEY_RSA_2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
}

static char *certs_bio_string(BIO *b) {
  BUF_MEM *mem;
  BIO_get_mem_ptr(b, &mem);
  return kf_strndup(mem->data, mem->length);
}

static char *certs_cert_pem(X509 *x) {
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char *s = certs_bio_string(b);
  BIO_free(b);
  return s;
}

static char *certs_key_pem(EVP_PKEY *k) {
  BIO *b = BIO_new(BIO_s_secmem());
  if (!b) b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
  char *s = certs_bio_string(b);
  BIO_free(b); /* a secmem BIO clears its buffer */
  return s;
}

/* PEM text comes from Secrets: an encrypted key must fail, not make OpenSSL's default
 * callback prompt for a passphrase on the operator's terminal (a hang under a tty). */
static int certs_no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return -1;
}

static X509 *certs_read_cert(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  X509 *x = b ? PEM_read_bio_X509(b, NULL, certs_no_passphrase, NULL) : NULL;
  BIO_free(b);
  return x;
}

static EVP_PKEY *certs_read_key(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, certs_no_passphrase, NULL) : NULL;
  BIO_free(b);
  return k;
}

static int certs_add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ext) return -1;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? 0 : -1;
}

/* subjectAltName from names and addresses; IPs are validated so a bad one is an
 * error naming it, not a silently dropped SAN. */
static char *certs_san_value(const certs_request *req, kf_error *err) {
  char *v = kf_strdup("");
  for (const char *const *d = req->dns_names; d && *d; d++) {
    if (!**d || strpbrk(*d, ", \t")) {
      free(v);
      kf_error_set(err, -EINVAL, "invalid DNS name for a certificate: \"%s\"", *d);
      return NULL;
    }
    char *n = kf_asprintf("%s%sDNS:%s", v, v[0] ? "," : "", *d);
    free(v);
    v = n;
  }
  for (const char *const *ip = req->ip_addresses; ip && *ip; ip++) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, *ip, buf) != 1 && inet_pton(AF_INET6, *ip, buf) != 1) {
      free(v);
      kf_error_set(err, -EINVAL, "invalid IP address for a certificate: \"%s\"", *ip);
      return NULL;
    }
    char *n = kf_asprintf("%s%sIP:%s", v, v[0] ? "," : "", *ip);
    free(v);
    v = n;
  }
  return v;
}

/* X509_V_OK when x verifies against ca now (chain, validity, signature, extensions),
 * else OpenSSL's reason (X509_verify_cert_error_string). ca is the anchor even when it
 * is an intermediate (a user's CA often is): as Go, and so the apiserver's
 * client-ca-file, trusts any certificate in its pool. */
static int certs_verify(X509 *x, X509 *ca) {
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  int v = X509_V_ERR_UNSPECIFIED;
  if (store && ctx && X509_STORE_add_cert(store, ca) == 1 && X509_STORE_CTX_init(ctx, store, x, NULL) == 1) {
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
    int r = X509_verify_cert(ctx);
    v = r == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    if (r != 1 && v == X509_V_OK) v = X509_V_ERR_UNSPECIFIED; /* failed without a reason */
  }
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  ERR_clear_error();
  return v;
}

/* Whether key's private half belongs to its public half. A key parses whatever it holds:
 * an EC or RSA key whose private number was altered still carries the original public
 * key, so it "matches" a certificate by public key yet signs nothing that verifies. One
 * signature, checked with the key's public half, tells (EVP_PKEY_pairwise_check also
 * tests RSA primes: far slower, and this runs for each credential on every reconcile). */
static int certs_key_consistent(EVP_PKEY *key) {
  static const unsigned char msg[] = "kubefed-operator key check";
  unsigned char *sig = NULL;
  size_t siglen = 0;
  int id = EVP_PKEY_get_id(key);
  const EVP_MD *md = id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256();
  EVP_MD_CTX *sctx = EVP_MD_CTX_new(), *vctx = EVP_MD_CTX_new();
  int ok = sctx && vctx && EVP_DigestSignInit(sctx, NULL, md, NULL, key) == 1 &&
           EVP_DigestSign(sctx, NULL, &siglen, msg, sizeof(msg)) == 1 && (sig = kf_calloc(1, siglen)) &&
           EVP_DigestSign(sctx, sig, &siglen, msg, sizeof(msg)) == 1 &&
           EVP_DigestVerifyInit(vctx, NULL, md, NULL, key) == 1 &&
           EVP_DigestVerify(vctx, sig, siglen, msg, sizeof(msg)) == 1;
  free(sig);
  EVP_MD_CTX_free(sctx);
  EVP_MD_CTX_free(vctx);
  ERR_clear_error(); /* a failure leaves its reasons queued */
  return ok;
}

/* Whether ca_cert with ca_key can issue certificates that verify against it now: a leaf,
 * an expired CA or a foreign key would give certificates that fail the reconciler's own
 * checks, so they would be reissued on every reconcile, forever. */
static int certs_ca_usable(X509 *ca_cert, EVP_PKEY *ca_key, kf_error *err) {
  if (X509_check_private_key(ca_cert, ca_key) != 1 || !certs_key_consistent(ca_key))
    return kf_error_set(err, -EINVAL, "the CA key does not belong to the CA certificate");
  int kind = X509_check_ca(ca_cert); /* 1: basicConstraints CA:TRUE (and keyCertSign if keyUsage); 3: v1 root */
  if (kind != 1 && kind != 3)
    return kf_error_set(err, -EINVAL,
                        "the CA certificate is not a CA (it needs basicConstraints CA:TRUE and, if it has a keyUsage, "
                        "keyCertSign)");
  if (X509_cmp_current_time(X509_get0_notBefore(ca_cert)) >= 0)
    return kf_error_set(err, -EINVAL, "the CA certificate is not valid yet (notBefore is in the future)");
  if (X509_cmp_current_time(X509_get0_notAfter(ca_cert)) <= 0)
    return kf_error_set(err, -EINVAL, "the CA certificate has expired");
  return 0;
}

int certs_ca_check(const char *cert_pem, const char *key_pem, kf_error *err) {
  X509 *x = cert_pem ? certs_read_cert(cert_pem) : NULL;
  EVP_PKEY *k = key_pem ? certs_read_key(key_pem) : NULL;
  int rc = !x || !k ? kf_error_set(err, -EINVAL, "the CA certificate or key is not valid PEM")
                    : certs_ca_usable(x, k, err);
  X509_free(x);
  EVP_PKEY_free(k);
  return rc;
}

static int certs_build(const certs_pair *ca, const certs_request *req, int is_ca, certs_pair *out, kf_error *err) {
  X509 *x = NULL, *ca_cert = NULL;
  EVP_PKEY *key = NULL, *ca_key = NULL;
  X509_NAME *name;
  BIGNUM *serial = NULL;
  char *san = NULL;
  int rc = -EINVAL, verr;
  uint64_t validity = req->validity_s ? req->validity_s : CERTS_DEFAULT_VALIDITY_S;

  memset(out, 0, sizeof(*out));
  if (!req->common_name || !req->common_name[0]) return kf_error_set(err, -EINVAL, "certificate needs a common name");
  if (ca) {
    ca_cert = certs_read_cert(ca->cert_pem);
    ca_key = ca->key_pem ? certs_read_key(ca->key_pem) : NULL;
    if (!ca_cert || !ca_key) {
      kf_error_set(err, -EINVAL, "the CA certificate or key is not valid PEM");
      goto done;
    }
    if (certs_ca_usable(ca_cert, ca_key, err) != 0) goto done; /* -EINVAL, as rc */
  }
  if (!(key = certs_gen_key(req->key_type))) {
    rc = kf_error_set(err, -EIO, "key generation failed");
    goto done;
  }
  x = X509_new();
  X509_set_version(x, 2);
  serial = BN_new();
  BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY); /* random, positive, as RFC 5280 asks */
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x));
  X509_gmtime_adj(X509_getm_notBefore(x), -CERTS_BACKDATE_S);
  X509_gmtime_adj(X509_getm_notAfter(x), (long)validity);
  X509_set_pubkey(x, key);
  name = X509_get_subject_name(x);
  for (const char *const *o = req->organizations; o && *o; o++)
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)*o, -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)req->common_name, -1, -1, 0);
  X509_set_issuer_name(x, ca_cert ? X509_get_subject_name(ca_cert) : name);
  X509 *issuer = ca_cert ? ca_cert : x;
  if (is_ca) {
    if (certs_add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE") ||
        certs_add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"))
      goto ext_failed;
  } else {
    const char *eku = req->server_auth && req->client_auth ? "serverAuth,clientAuth"
                      : req->server_auth                   ? "serverAuth"
                                                           : "clientAuth";
    if (certs_add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
        certs_add_ext(x, issuer, NID_key_usage,
                      req->key_type == CERTS_KEY_RSA_2048 ? "critical,digitalSignature,keyEncipherment"
                                                          : "critical,digitalSignature") ||
        certs_add_ext(x, issuer, NID_ext_key_usage, eku))
      goto ext_failed;
  }
  if (certs_add_ext(x, issuer, NID_subject_key_identifier, "hash")) goto ext_failed;
  /* keyid:always fails for a CA without a subjectKeyIdentifier (valid, if old-fashioned):
   * the authorityKeyIdentifier is then left out, which verifiers accept. */
  if (ca_cert && X509_get0_subject_key_id(ca_cert) &&
      certs_add_ext(x, issuer, NID_authority_key_identifier, "keyid:always"))
    goto ext_failed;
  if (!(san = certs_san_value(req, err))) goto done;
  if (san[0] && certs_add_ext(x, issuer, NID_subject_alt_name, san)) goto ext_failed;
  EVP_PKEY *signer = ca_key ? ca_key : key;
  /* Ed25519/Ed448 CAs sign without a separate digest (OpenSSL wants NULL for them). */
  int id = EVP_PKEY_get_id(signer);
  if (!X509_sign(x, signer, id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256())) {
    rc = kf_error_set(err, -EIO, "signing the certificate with the CA's %s key failed", OBJ_nid2sn(id));
    goto done;
  }
  /* What the reconciler checks next, checked here: a CA with (say) name constraints that
   * exclude these names or a critical extension OpenSSL does not know issues certificates
   * nothing accepts, which would be reissued on every reconcile. */
  if (ca_cert && (verr = certs_verify(x, ca_cert)) != X509_V_OK) {
    rc = kf_error_set(err, -EINVAL, "a certificate issued by this CA does not verify against it: %s",
                      X509_verify_cert_error_string(verr));
    goto done;
  }
  out->cert_pem = certs_cert_pem(x);
  out->key_pem = certs_key_pem(key);
  rc = 0;
  goto done;
ext_failed:
  rc = kf_error_set(err, -EIO, "adding a certificate extension failed");
done:
  free(san);
  BN_free(serial);
  X509_free(x);
  X509_free(ca_cert);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  return rc;
}

int certs_new_ca(const char *common_name, uint64_t validity_s, certs_key_type key_type, certs_pair *out,
                 kf_error *err) {
  certs_request req = {.common_name = common_name, .validity_s = validity_s, .key_type = key_type};
  return certs_build(NULL, &req, 1, out, err);
}

int certs_issue(const certs_pair *ca, const certs_request *req, certs_pair *out, kf_error *err) {
  if (!ca) return kf_error_set(err, -EINVAL, "no CA to issue from");
  return certs_build(ca, req, 0, out, err);
}

int certs_validity(const char *cert_pem, time_t *not_before, time_t *not_after, kf_error *err) {
  X509 *x = certs_read_cert(cert_pem);
  struct tm nb, na;
  if (!x) return kf_error_set(err, -EINVAL, "not a PEM certificate");
  int ok = ASN1_TIME_to_tm(X509_get0_notBefore(x), &nb) && ASN1_TIME_to_tm(X509_get0_notAfter(x), &na);
  X509_free(x);
  if (!ok) return kf_error_set(err, -EINVAL, "certificate has an unreadable validity period");
  if (not_before) *not_before = timegm(&nb);
  if (not_after) *not_after = timegm(&na);
  return 0;
}

int certs_not_after(const char *cert_pem, time_t *out, kf_error *err) {
  return certs_validity(cert_pem, NULL, out, err);
}

int certs_new_key_pair(certs_key_type key_type, certs_pair *out, kf_error *err) {
  EVP_PKEY *k = certs_gen_key(key_type);
  memset(out, 0, sizeof(*out));
  if (!k) return kf_error_set(err, -ENOMEM, "key generation failed");
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, k);
  out->cert_pem = certs_bio_string(b);
  BIO_free(b);
  out->key_pem = certs_key_pem(k);
  EVP_PKEY_free(k);
  return 0;
}

int certs_public_key_matches(const char *pub_pem, const char *key_pem) {
  BIO *b = BIO_new_mem_buf(pub_pem, -1);
  EVP_PKEY *pub = b ? PEM_read_bio_PUBKEY(b, NULL, certs_no_passphrase, NULL) : NULL;
  EVP_PKEY *k = certs_read_key(key_pem);
  int ok = pub && k && EVP_PKEY_eq(pub, k) == 1 && certs_key_consistent(k);
  BIO_free(b);
  EVP_PKEY_free(pub);
  EVP_PKEY_free(k);
  return ok;
}

int certs_covers(const char *cert_pem, const char *const *dns_names, const char *const *ip_addresses) {
  X509 *x = certs_read_cert(cert_pem);
  int ok = x != NULL;
  for (const char *const *d = dns_names; ok && d && *d; d++)
    ok = X509_check_host(x, *d, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1;
  for (const char *const *ip = ip_addresses; ok && ip && *ip; ip++) ok = X509_check_ip_asc(x, *ip, 0) == 1;
  X509_free(x);
  return ok;
}

int certs_signed_by(const char *cert_pem, const char *ca_pem) {
  X509 *x = certs_read_cert(cert_pem), *ca = certs_read_cert(ca_pem);
  int ok = x && ca && certs_verify(x, ca) == X509_V_OK;
  X509_free(x);
  X509_free(ca);
  return ok;
}

int certs_key_matches(const char *cert_pem, const char *key_pem) {
  X509 *x = certs_read_cert(cert_pem);
  EVP_PKEY *k = certs_read_key(key_pem);
  int ok = x && k && X509_check_private_key(x, k) == 1 && certs_key_consistent(k);
  X509_free(x);
  EVP_PKEY_free(k);
  return ok;
}

void certs_pair_free(certs_pair *p) {
  if (!p) return;
  free(p->cert_pem);
  if (p->key_pem) kf_free_secret(p->key_pem, strlen(p->key_pem));
  p->cert_pem = p->key_pem = NULL;
}

/* ---- off the loop ---- */

typedef struct certs_job {
  uv_work_t work;
  certs_pair ca; /* copy; empty when making a CA */
  int make_ca;
  certs_request req; /* strings point into the owned copies below */
  char **strings;    /* everything the request points at, freed together */
  size_t n_strings;
  certs_pair result;
  kf_error err;
  int rc;
  certs_done_cb done;
  void *data;
} certs_job;

static const char *certs_keep(certs_job *j, const char *s) {
  j->strings = kf_realloc(j->strings, (j->n_strings + 1) * sizeof(char *));
  return j->strings[j->n_strings++] = kf_strdup(s);
}

static const char *const *certs_keep_list(certs_job *j, const char *const *list) {
  size_t n = 0;
  if (!list) return NULL;
  while (list[n]) n++;
  const char **copy = kf_calloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) copy[i] = certs_keep(j, list[i]);
  j->strings = kf_realloc(j->strings, (j->n_strings + 1) * sizeof(char *));
  j->strings[j->n_strings++] = (char *)copy;
  return copy;
}

static void certs_work(uv_work_t *w) {
  certs_job *j = w->data;
  kf_error_clear(&j->err);
  if (j->req.key_only) j->rc = certs_new_key_pair(j->req.key_type, &j->result, &j->err);
  else if (j->make_ca)
    j->rc = certs_new_ca(j->req.common_name, j->req.validity_s, j->req.key_type, &j->result, &j->err);
  else j->rc = certs_issue(&j->ca, &j->req, &j->result, &j->err);
  /* libuv's pool threads never exit, so OpenSSL's per-thread state (its DRBGs,
   * error queue) would never be released: release it after each job. */
  OPENSSL_thread_stop();
}

static void certs_after(uv_work_t *w, int status) {
  certs_job *j = w->data;
  if (status == UV_ECANCELED && j->rc == 0) {
    certs_pair_free(&j->result);
    j->rc = kf_error_set(&j->err, -ECANCELED, "certificate generation cancelled");
  }
  j->done(j->rc, j->rc == 0 ? &j->result : NULL, j->rc ? &j->err : NULL, j->data);
  if (j->rc != 0) certs_pair_free(&j->result);
  certs_pair_free(&j->ca);
  for (size_t i = 0; i < j->n_strings; i++) free(j->strings[i]);
  free(j->strings);
  free(j);
}

int certs_issue_async(uv_loop_t *loop, const certs_pair *ca, const certs_request *req, certs_done_cb done, void *data,
                      kf_error *err) {
  certs_job *j;
  if (!req || !done) return kf_error_set(err, -EINVAL, "certs_issue_async needs a request and a callback");
  j = kf_calloc(1, sizeof(*j));
  j->work.data = j;
  j->done = done;
  j->data = data;
  j->make_ca = ca == NULL;
  if (ca) {
    j->ca.cert_pem = kf_strdup(ca->cert_pem);
    j->ca.key_pem = kf_strdup(ca->key_pem);
  }
  j->req = *req;
  j->req.common_name = req->common_name ? certs_keep(j, req->common_name) : NULL;
  j->req.organizations = certs_keep_list(j, req->organizations);
  j->req.dns_names = certs_keep_list(j, req->dns_names);
  j->req.ip_addresses = certs_keep_list(j, req->ip_addresses);
  int rc = uv_queue_work(loop, &j->work, certs_work, certs_after);
  if (rc != 0) {
    j->rc = rc;
    certs_pair_free(&j->ca);
    for (size_t i = 0; i < j->n_strings; i++) free(j->strings[i]);
    free(j->strings);
    free(j);
    return kf_error_set(err, rc, "could not queue certificate generation: %s", uv_strerror(rc));
  }
  return 0;
}
