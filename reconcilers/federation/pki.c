/* fed pki: the certificate authority (the user's, or F-ca made once and never replaced) and
 * the leaves it signs (serving, controller manager, admin) plus the service-account key pair.
 * Certificates are read back from our Secrets and reissued only when fed_leaf_ok says so;
 * keys are generated on the thread pool (certs_issue_async), never on the loop. */
#include "federation_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include <kf/b64.h>
#include <kf/kcfg.h>
#include <kf/kj.h>
#include <kf/log.h>

/* ---- the renewal rule ---- */

int fed_leaf_ok(const fed_spec *s, const fed_leaf_facts *leaf, int rotate, time_t now, time_t *renew_at) {
  if (rotate || !leaf->valid || !leaf->covers) return 0;
  uint64_t lifetime = leaf->not_after > leaf->not_before ? (uint64_t)(leaf->not_after - leaf->not_before) : 0;
  time_t renew = s->renew_before_s < s->validity_s ? leaf->not_after - (time_t)s->renew_before_s
                                                   : leaf->not_before + (time_t)(lifetime * 2 / 3);
  if (now >= renew) return 0;
  *renew_at = renew;
  return 1;
}

/* ---- facts kept between reconciles ----
 *
 * A leaf's facts cost PEM parses, a private-key check and a chain verification (OpenSSL 3's
 * decoders make a key parse about a millisecond), and a Federation is reconciled on each change of
 * its members' status: at 300 joins they were a tenth of the operator's CPU. They are kept by the
 * SHA-256 of everything they were read from, for FED_FACTS_TTL_S only, since the chain
 * verification also depends on the time. */
#define FED_FACTS_TTL_S 300

static void digest_add(EVP_MD_CTX *ctx, const char *s) {
  /* Each part with its length: no two different inputs hash the same bytes. */
  uint64_t n = s ? strlen(s) + 1 : 0;
  EVP_DigestUpdate(ctx, &n, sizeof(n));
  if (s) EVP_DigestUpdate(ctx, s, n);
}

static void facts_digest(const char *const *parts, size_t n, const char *const *list1, const char *const *list2,
                         unsigned char out[32]) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) abort();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  for (size_t i = 0; i < n; i++) digest_add(ctx, parts[i]);
  for (const char *const *l = list1; l && *l; l++) digest_add(ctx, *l);
  digest_add(ctx, NULL);
  for (const char *const *l = list2; l && *l; l++) digest_add(ctx, *l);
  unsigned int len = 32;
  EVP_DigestFinal_ex(ctx, out, &len);
  EVP_MD_CTX_free(ctx);
}

static const fed_leaf_facts *facts_find(const fed_controller *f, const unsigned char digest[32], time_t now) {
  for (size_t i = 0; i < FED_FACTS_MEMO; i++)
    if (f->facts[i].at && now - f->facts[i].at < FED_FACTS_TTL_S && memcmp(f->facts[i].digest, digest, 32) == 0)
      return &f->facts[i].facts;
  return NULL;
}

static void facts_keep(fed_controller *f, const unsigned char digest[32], time_t now, const fed_leaf_facts *facts) {
  fed_facts_memo *m = &f->facts[f->facts_next++ % FED_FACTS_MEMO];
  memcpy(m->digest, digest, 32);
  m->at = now;
  m->facts = *facts;
}

/* The facts about p; serving: it must carry the run's SANs. */
static void fed_leaf_facts_read(const fed_run *run, const certs_pair *p, int serving, fed_leaf_facts *f) {
  const char *parts[] = {serving ? "serving" : "client", p->cert_pem, p->key_pem, run->ca.cert_pem};
  unsigned char digest[32];
  time_t now = time(NULL);
  facts_digest(parts, 4, serving ? (const char *const *)run->san_dns : NULL,
               serving ? (const char *const *)run->san_ip : NULL, digest);
  const fed_leaf_facts *known = facts_find(run->f, digest, now);
  if (known) {
    *f = *known;
    return;
  }
  memset(f, 0, sizeof(*f));
  f->valid = p->cert_pem && p->key_pem && certs_key_matches(p->cert_pem, p->key_pem) &&
             certs_signed_by(p->cert_pem, run->ca.cert_pem) &&
             certs_validity(p->cert_pem, &f->not_before, &f->not_after, NULL) == 0;
  f->covers = f->valid && (!serving || certs_covers(p->cert_pem, (const char *const *)run->san_dns,
                                                    (const char *const *)run->san_ip));
  facts_keep(run->f, digest, now, f);
}

/* Whether the service-account key pair belongs together (kept like a leaf's facts). */
static int fed_sa_ok(const fed_run *run, const certs_pair *sa) {
  if (!sa->cert_pem || !sa->key_pem) return 0;
  const char *parts[] = {"service-account", sa->cert_pem, sa->key_pem};
  unsigned char digest[32];
  time_t now = time(NULL);
  facts_digest(parts, 3, NULL, NULL, digest);
  const fed_leaf_facts *known = facts_find(run->f, digest, now);
  if (known) return known->valid;
  fed_leaf_facts f = {.valid = certs_public_key_matches(sa->cert_pem, sa->key_pem)};
  facts_keep(run->f, digest, now, &f);
  return f.valid;
}

/* 1 when the leaf can stay; then the run's earliest expiry and renewal moment take it in. */
static int fed_leaf_check(fed_run *run, int which, int rotate) {
  fed_leaf_facts facts;
  time_t renew;
  fed_leaf_facts_read(run, &run->cred[which], which == CRED_SERVER, &facts);
  if (!fed_leaf_ok(&run->spec, &facts, rotate, time(NULL), &renew)) return 0;
  if (!run->not_after || facts.not_after < run->not_after) run->not_after = facts.not_after;
  if (!run->renew_at || renew < run->renew_at) run->renew_at = renew;
  return 1;
}

/* ---- the certificate authority ---- */

/* certs_ca_check, whose success is kept like a leaf's facts (a failure is checked again each
 * time, so its message is always at hand). */
static int fed_ca_ok(fed_controller *f, const certs_pair *ca, kf_error *err) {
  const char *parts[] = {"ca", ca->cert_pem, ca->key_pem};
  unsigned char digest[32];
  time_t now = time(NULL);
  facts_digest(parts, 3, NULL, NULL, digest);
  if (facts_find(f, digest, now)) return 0;
  int rc = certs_ca_check(ca->cert_pem, ca->key_pem, err);
  if (rc == 0) facts_keep(f, digest, now, &(fed_leaf_facts){.valid = 1});
  return rc;
}

/* 0 and a parsed pair when secret holds a tls.crt / tls.key CA that can issue now
 * (certs_ca_check; err says what is wrong, may be NULL). */
static int fed_read_ca(fed_controller *f, json_object *secret, certs_pair *out, kf_error *err) {
  out->cert_pem = fed_secret_value(secret, "tls.crt");
  out->key_pem = fed_secret_value(secret, "tls.key");
  int rc = !out->cert_pem || !out->key_pem ? kf_error_set(err, -EINVAL, "tls.crt or tls.key is missing")
                                           : fed_ca_ok(f, out, err);
  if (rc != 0) certs_pair_free(out);
  return rc;
}

static void fed_ca_conflict(fed_run *run) {
  fed_stop(run, 0, FED_CERTS, "CASecretConflict",
           "Secret %s-ca exists and is not managed by kubefed-operator; delete or rename it, or name it in "
           "spec.certificates.caSecretRef",
           run->name);
}

static void fed_existing_ca_read(kc_client *c, int rc, json_object *secret, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  if (rc != 0)
    fed_stop(run, fed_api_rc(rc), FED_CERTS, "ReadFailed", "reading Secret %s-ca failed: %s", run->name,
             cond_error_text(err, "unknown error"));
  else if (apply_is_ours(secret, run->owner_labels) && fed_read_ca(run->f, secret, &run->ca, NULL) == 0)
    steps_next(&run->steps);
  else fed_ca_conflict(run);
}

static void fed_ca_created(const apply_result *r, void *data) {
  fed_run *run = data;
  if (r->rc == APPLY_ERR_NOT_OURS) {
    fed_ca_conflict(run);
  } else if (r->rc != 0) {
    int read = kf_streq(r->step, "read");
    fed_stop(run, fed_api_rc(r->rc), FED_CERTS, read ? "ReadFailed" : "CreateFailed", "%s Secret %s-ca failed: %s",
             read ? "reading" : "creating", run->name, cond_error_text(r->err, "unknown error"));
  } else if (r->wrote) {
    ev_emit(run->f->events, run->fed, "Normal", "CreatedCA", "Create", "created certificate authority Secret %s-ca",
            run->name);
    steps_next(&run->steps);
  } else {
    /* Somebody made it first (our cache may lag our own earlier create): use what is there. */
    certs_pair_free(&run->ca);
    if (r->live) {
      fed_existing_ca_read(run->f->c, 0, r->live, NULL, run);
      return;
    }
    char *name = fed_child_name(&run->spec, "ca");
    int rc = kc_get(run->f->c, &KC_SECRETS, run->ns, name, fed_existing_ca_read, run);
    free(name);
    if (rc != 0) fed_existing_ca_read(run->f->c, rc, NULL, NULL, run);
  }
}

static void fed_ca_generated(int rc, certs_pair *pair, const kf_error *err, void *data) {
  fed_run *run = data;
  if (rc != 0) {
    fed_stop(run, rc, FED_CERTS, "IssueFailed", "generating the CA failed: %s", cond_error_text(err, "unknown error"));
    return;
  }
  run->ca = *pair;
  json_object *d = kj_obj();
  char *crt = kf_b64_encode(pair->cert_pem, strlen(pair->cert_pem));
  char *key = kf_b64_encode(pair->key_pem, strlen(pair->key_pem));
  kj_str(d, "tls.crt", crt);
  kj_str(d, "tls.key", key);
  free(crt);
  kf_free_secret(key, strlen(key));
  char *name = fed_child_name(&run->spec, "ca");
  json_object *secret = fed_desired_secret(&run->spec, name, "kubernetes.io/tls", d, NULL);
  kj_put_wiped(d);
  free(name);
  /* Create, not apply: a CA is never replaced behind the certificates it signed. */
  apply_opts o = {.client = run->f->c,
                  .res = &KC_SECRETS,
                  .cache = fed_cache(run->f, &KC_SECRETS),
                  .owner_labels = run->owner_labels,
                  .mode = APPLY_CREATE_ONLY};
  if ((rc = apply_ensure(&o, secret, fed_ca_created, run)) != 0)
    fed_stop(run, rc, FED_CERTS, "CreateFailed", "creating Secret %s-ca failed: the request could not be started",
             run->name);
}

void fed_step_ca(void *data) {
  fed_run *run = data;
  kf_error err;
  kf_error_clear(&err);
  if (run->in[IN_CA]) {
    if (fed_read_ca(run->f, run->in[IN_CA], &run->ca, &err) != 0) {
      fed_stop(run, 0, FED_CERTS, "InvalidCASecret",
               "spec.certificates.caSecretRef: Secret %s needs tls.crt and a matching tls.key (PEM) of a CA "
               "that is valid now: %s",
               run->spec.ca_secret, err.msg);
      return;
    }
    run->ca_source_reason = "UserCA";
    run->ca_source = kf_asprintf("Secret %s (spec.certificates.caSecretRef)", run->spec.ca_secret);
    steps_next(&run->steps);
    return;
  }
  run->ca_source_reason = "CAReady";
  run->ca_source = kf_asprintf("Secret %s-ca", run->name);
  json_object *secret = fed_cached(run, &KC_SECRETS, "ca");
  if (secret) {
    int rc = fed_read_ca(run->f, secret, &run->ca, &err);
    json_object_put(secret);
    if (rc == 0) steps_next(&run->steps);
    else
      fed_stop(run, 0, FED_CERTS, "InvalidCASecret",
               "Secret %s-ca does not hold a valid tls.crt/tls.key pair (%s); delete it to have a new CA generated "
               "(every certificate it signed will be reissued)",
               run->name, err.msg);
    return;
  }
  char *cn = kf_asprintf("%s-ca", run->name);
  certs_request req = {.common_name = cn, .validity_s = FED_CA_VALIDITY_S};
  if (certs_issue_async(run->f->loop, NULL, &req, fed_ca_generated, run, &err) != 0)
    fed_stop(run, err.code, FED_CERTS, "IssueFailed", "%s", err.msg);
  free(cn);
}

/* ---- the leaves ---- */

/* Reads a client certificate out of one of our kubeconfig Secrets. */
static void fed_read_kubeconfig_cert(json_object *secret, certs_pair *out) {
  char *text = fed_secret_value(secret, "kubeconfig");
  kcfg *cfg = NULL;
  memset(out, 0, sizeof(*out));
  if (text && kcfg_load_data(text, strlen(text), NULL, NULL, &cfg, NULL) == 0 && cfg->client_cert_pem &&
      cfg->client_key_pem) {
    out->cert_pem = kf_strdup(cfg->client_cert_pem);
    out->key_pem = kf_strdup(cfg->client_key_pem);
  }
  if (cfg) kcfg_free(cfg);
  fed_secret_value_free(text);
}

void fed_step_read_certificates(void *data) {
  fed_run *run = data;
  json_object *cred = fed_cached(run, &KC_SECRETS, "apiserver-credentials");
  json_object *cmk = fed_cached(run, &KC_SECRETS, "controller-manager-kubeconfig");
  json_object *adk = fed_cached(run, &KC_SECRETS, "admin-kubeconfig");
  if (cred) {
    run->cred[CRED_SERVER].cert_pem = fed_secret_value(cred, "server.crt");
    run->cred[CRED_SERVER].key_pem = fed_secret_value(cred, "server.key");
    run->cred[CRED_SA].cert_pem = fed_secret_value(cred, "sa.pub");
    run->cred[CRED_SA].key_pem = fed_secret_value(cred, "sa.key");
  }
  fed_read_kubeconfig_cert(cmk, &run->cred[CRED_CM]);
  fed_read_kubeconfig_cert(adk, &run->cred[CRED_ADMIN]);
  const char *rotated = cred ? kc_obj_key_str(kc_obj_get(cred, "metadata.annotations"), API_ANNOTATION_ROTATED_FOR)
                             : NULL;
  int rotate = run->spec.rotate_request && !kf_streq(rotated, run->spec.rotate_request);
  run->need[CRED_SERVER] = !fed_leaf_check(run, CRED_SERVER, rotate);
  run->need[CRED_CM] = !fed_leaf_check(run, CRED_CM, rotate);
  run->need[CRED_ADMIN] = !fed_leaf_check(run, CRED_ADMIN, rotate);
  run->need[CRED_SA] = !fed_sa_ok(run, &run->cred[CRED_SA]);
  if (rotate)
    ev_emit(run->f->events, run->fed, "Normal", "RotatingCertificates", "Rotate",
            "reissuing the serving and client certificates (annotation %s)", API_ANNOTATION_ROTATE);
  if (cred) json_object_put(cred);
  if (cmk) json_object_put(cmk);
  if (adk) json_object_put(adk);
  steps_next(&run->steps);
}

static void fed_issued(int rc, certs_pair *pair, const kf_error *err, void *data) {
  fed_run *run = data;
  if (rc != 0) {
    fed_stop(run, rc, FED_CERTS, "IssueFailed", "issuing a certificate failed: %s",
             cond_error_text(err, "unknown error"));
    return;
  }
  certs_pair *slot = &run->cred[run->issuing];
  certs_pair_free(slot);
  *slot = *pair;
  if (run->issuing != CRED_SA) fed_leaf_check(run, run->issuing, 0);
  run->issued++;
  steps_next(&run->steps);
}

static void fed_issue(fed_run *run, int which) {
  static const char *const masters[] = {"system:masters", NULL};
  if (!run->need[which]) {
    steps_next(&run->steps);
    return;
  }
  certs_request req = {.validity_s = run->spec.validity_s, .key_type = CERTS_KEY_ECDSA_P256};
  switch (which) {
    case CRED_SERVER:
      req.common_name = "federation-apiserver";
      req.dns_names = (const char *const *)run->san_dns;
      req.ip_addresses = (const char *const *)run->san_ip;
      req.server_auth = 1;
      break;
    case CRED_CM:
      /* The federation controller manager manages every federated resource: cluster admin there. */
      req.common_name = "federation-controller-manager";
      req.organizations = masters;
      req.client_auth = 1;
      break;
    case CRED_ADMIN:
      req.common_name = "admin";
      req.organizations = masters;
      req.client_auth = 1;
      break;
    default: req.key_only = 1;
  }
  kf_error err;
  run->issuing = which;
  if (certs_issue_async(run->f->loop, &run->ca, &req, fed_issued, run, &err) != 0)
    fed_stop(run, err.code, FED_CERTS, "IssueFailed", "%s", err.msg);
}

void fed_step_issue_server(void *run) { fed_issue(run, CRED_SERVER); }
void fed_step_issue_cm(void *run) { fed_issue(run, CRED_CM); }
void fed_step_issue_admin(void *run) { fed_issue(run, CRED_ADMIN); }
void fed_step_issue_sa(void *run) { fed_issue(run, CRED_SA); }

void fed_step_certificates_ready(void *data) {
  fed_run *run = data;
  if (run->issued)
    ev_emit(run->f->events, run->fed, "Normal", "CertificatesIssued", "Issue",
            "issued %d certificate(s) or key(s) signed by the federation CA", run->issued);
  char *na = cond_rfc3339(run->not_after);
  fed_cond_set(run, FED_CERTS, "True", run->ca_source_reason,
               "certificate authority from %s; serving and client certificates valid until %s", run->ca_source, na);
  free(na);
  time_t now = time(NULL);
  if (run->renew_at > now) {
    uint64_t ms = (uint64_t)(run->renew_at - now) * 1000 + 1000;
    fed_requeue(run, ms < FED_MAX_REQUEUE_MS ? ms : FED_MAX_REQUEUE_MS);
  }
  steps_next(&run->steps);
}
