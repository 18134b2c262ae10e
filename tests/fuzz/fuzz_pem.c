/* libFuzzer target for the PEM/certificate helpers on what users hand the
 * operator: a bring-your-own CA Secret (tls.crt, tls.key), the certificates and
 * keys read back from the operator's own Secrets (anyone with write access to
 * the namespace can edit them), and the client certificate and key embedded in a
 * member's kubeconfig Secret.
 *
 * The input is up to three NUL-separated PEM texts: CERT, KEY, CA. Every helper
 * runs on them; each either fails (with a message where it takes a kf_error) or
 * gives an answer that holds: a certificate issued from CA+KEY verifies against
 * CA and matches its key, a validity period is ordered when the certificate is
 * the operator's, a kubeconfig embedding CERT and KEY loads or says why, and the
 * client made from it accepts the certificate only while it is valid.
 *
 * fuzz-sources: reconcilers/certs/certs.c reconcilers/federation/spec.c reconcilers/federation/objects.c
 * (run-fuzzer.sh compiles those along with operator/). */
#include <openssl/err.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "certs/certs.h"
#include "federation/objects.h"
#include <kf/http.h>
#include <kf/kc.h>
#include <kf/kcfg.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const DNS[] = {"fellowship-apiserver", "fellowship-apiserver.federation-system.svc", NULL};
static const char *const IPS[] = {"127.0.0.1", "fd00::1", NULL};

static void fuzz_issue(const char *ca_cert, const char *ca_key) {
  certs_pair ca = {(char *)ca_cert, (char *)ca_key}, out;
  certs_request req = {.common_name = "fellowship-apiserver",
                       .dns_names = DNS,
                       .ip_addresses = IPS,
                       .validity_s = 3600,
                       .server_auth = 1,
                       .client_auth = 1};
  kf_error err;
  kf_error_clear(&err);
  int rc = certs_issue(&ca, &req, &out, &err);
  if (rc != 0) {
    check_error(rc, &err);
    CHECK(!out.cert_pem && !out.key_pem);
    return;
  }
  /* What the reconciler checks next (fed_leaf_ok): an issued certificate that does not
   * pass would be reissued on every reconcile, forever. */
  CHECK(certs_key_matches(out.cert_pem, out.key_pem));
  CHECK(certs_signed_by(out.cert_pem, ca_cert));
  CHECK(certs_covers(out.cert_pem, DNS, IPS));
  time_t nb, na;
  CHECK(certs_validity(out.cert_pem, &nb, &na, NULL) == 0 && nb < na);
  certs_pair_free(&out);
}

/* The member kubeconfig path: the Secret's kubeconfig embeds the user's PEMs. */
static void fuzz_kubeconfig(const char *cert, const char *key, const char *ca) {
  static uv_loop_t loop;
  static http_engine *eng;
  kcfg *cfg = NULL;
  kf_error err;
  if (!eng) {
    uv_loop_init(&loop);
    eng = http_engine_new(&loop, NULL); /* kept for the process: reachable, not leaked */
    CHECK(eng != NULL);
  }
  char *text = fed_kubeconfig("gondor", "admin", "gondor", "https://127.0.0.1:6443", ca[0] ? ca : NULL, cert, key,
                              NULL);
  kf_error_clear(&err);
  int rc = kcfg_load_data(text, strlen(text), NULL, NULL, &cfg, &err);
  kf_free_secret(text, strlen(text));
  if (rc != 0) {
    check_error(rc, &err);
    CHECK(cfg == NULL);
    return;
  }
  /* Both or neither (empty -data fields count as absent, as kubectl reads them). */
  CHECK((cfg->client_cert_pem == NULL) == (cfg->client_key_pem == NULL));
  kf_error_clear(&err);
  kc_client *c = kc_client_new(eng, cfg, &err);
  if (c && cfg->client_cert_pem) {
    /* Accepted: the client certificate parses and is valid now. */
    time_t nb, na, now = time(NULL);
    CHECK(certs_validity(cfg->client_cert_pem, &nb, &na, NULL) == 0);
    CHECK(nb <= now + 1 && na >= now - 1);
  }
  if (c) {
    kc_client_close(c);
  } else {
    CHECK(err.code < 0 && err.msg[0] != '\0');
  }
  kcfg_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Three C strings; missing parts are empty. */
  char *buf = calloc(size + 3, 1);
  CHECK(buf != NULL);
  if (size) memcpy(buf, data, size);
  const char *cert = buf, *key = cert + strlen(cert) + 1;
  if ((size_t)(key - buf) > size) key = buf + size + 1;
  const char *ca = key + strlen(key) + 1;
  if ((size_t)(ca - buf) > size + 1) ca = buf + size + 2;
  kf_error err;
  time_t nb, na;

  kf_error_clear(&err);
  int rc = certs_validity(cert, &nb, &na, &err);
  if (rc != 0) check_error(rc, &err);
  kf_error_clear(&err);
  rc = certs_not_after(cert, &na, &err);
  if (rc != 0) check_error(rc, &err);
  (void)certs_key_matches(cert, key);
  (void)certs_public_key_matches(cert, key);
  (void)certs_covers(cert, DNS, IPS);
  (void)certs_covers(cert, NULL, NULL);
  (void)certs_signed_by(cert, ca);
  (void)certs_signed_by(cert, cert);
  if (certs_key_matches(ca, key)) fuzz_issue(ca, key); /* fed_read_ca's check, then issue */
  if (certs_key_matches(cert, key)) fuzz_issue(cert, key);
  fuzz_kubeconfig(cert, key, ca);
  /* Failed parses leave OpenSSL's per-thread error queue filled; the operator's loop
   * thread runs them too, so nothing here may depend on it being empty. */
  ERR_clear_error();
  free(buf);
  return 0;
}
