#include "federation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "certs/certs.h"
#include "controller.h"
#include "informer.h"
#include "log.h"

const kc_resource FED_FEDERATIONS = {"kubefed.dev", "v1alpha1", "federations", "Federation", 1};

#define FED_MANAGED_BY "app.kubernetes.io/managed-by"
#define FED_OPERATOR "kubefed-operator"
#define FED_LABEL "kubefed.dev/federation"
#define FED_RETRY_MS 30000
#define FED_DEFAULT_VALIDITY_S (8760ull * 3600)
/* The CA outlives the certificates it signs, which rotate within its lifetime. */
#define FED_CA_VALIDITY_S (10ull * 365 * 24 * 3600)

struct fed_controller {
  uv_loop_t *loop;
  kc_client *c;
  kf_metrics *metrics;
  ev_recorder *events;
  informer *feds, *secrets;
  ctrl *ctrl;
  int active;        /* reconciles in progress */
  int closing;
};

/* One reconcile: owns the Federation it read and everything it allocates. */
typedef struct fed_run {
  fed_controller *f;
  char *key, *ns, *name;
  json_object *fed;
} fed_run;

static void fed_maybe_free(fed_controller *f) {
  if (!f->closing || f->active) return;
  ctrl_close(f->ctrl);
  free(f);
}

static void fed_finish(fed_run *run, int rc, uint64_t requeue_ms) {
  fed_controller *f = run->f;
  ctrl_done(f->ctrl, run->key, rc, requeue_ms);
  free(run->key);
  free(run->ns);
  free(run->name);
  if (run->fed) json_object_put(run->fed);
  free(run);
  f->active--;
  fed_maybe_free(f);
}

static char *fed_rfc3339(time_t t) {
  struct tm tm;
  char buf[32];
  gmtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return kf_strdup(buf);
}

/* ---- status ---- */

static void fed_status_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0) KF_WARN("status write failed", "federation", run->key, "error", err ? err->msg : "");
  fed_finish(run, rc == KC_ERR_NOTFOUND ? 0 : rc, 0);
}

/* Writes the CertificatesReady condition, unless status already says exactly this. */
static void fed_set_certificates(fed_run *run, int ready, const char *reason, const char *message,
                                 time_t not_after, uint64_t requeue_ms) {
  json_object *fed = run->fed;
  json_object *gen = kc_obj_get(fed, "metadata.generation");
  int64_t generation = gen ? json_object_get_int64(gen) : 0;
  const char *status = ready ? "True" : "False";
  json_object *conds = kc_obj_get(fed, "status.conditions"), *old = NULL;
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    json_object *cnd = json_object_array_get_idx(conds, i);
    const char *t = kc_obj_str(cnd, "type");
    if (t && strcmp(t, "CertificatesReady") == 0) old = cnd;
  }
  char *na = not_after ? fed_rfc3339(not_after) : NULL;
  json_object *og = kc_obj_get(fed, "status.observedGeneration");
  json_object *cog = old ? kc_obj_get(old, "observedGeneration") : NULL;
  const char *old_na = kc_obj_str(fed, "status.certificatesNotAfter");
  int same_status = old && strcmp(kc_obj_str(old, "status") ? kc_obj_str(old, "status") : "", status) == 0;
  if (same_status && strcmp(kc_obj_str(old, "reason") ? kc_obj_str(old, "reason") : "", reason) == 0 &&
      strcmp(kc_obj_str(old, "message") ? kc_obj_str(old, "message") : "", message) == 0 && og &&
      json_object_get_int64(og) == generation && cog && json_object_get_int64(cog) == generation &&
      ((!na && !old_na) || (na && old_na && strcmp(na, old_na) == 0))) {
    free(na);
    fed_finish(run, 0, requeue_ms);  /* nothing changed: no write */
    return;
  }
  /* lastTransitionTime moves only when the condition's status flips. */
  char *ltt = same_status && kc_obj_str(old, "lastTransitionTime") ? kf_strdup(kc_obj_str(old, "lastTransitionTime"))
                                                                     : fed_rfc3339(time(NULL));
  json_object *body = json_object_new_object(), *meta = json_object_new_object(), *st = json_object_new_object();
  json_object *list = json_object_new_array(), *cond = json_object_new_object();
  json_object_object_add(body, "apiVersion", json_object_new_string("kubefed.dev/v1alpha1"));
  json_object_object_add(body, "kind", json_object_new_string("Federation"));
  json_object_object_add(meta, "name", json_object_new_string(run->name));
  json_object_object_add(meta, "namespace", json_object_new_string(run->ns));
  json_object_object_add(body, "metadata", meta);
  json_object_object_add(cond, "type", json_object_new_string("CertificatesReady"));
  json_object_object_add(cond, "status", json_object_new_string(status));
  json_object_object_add(cond, "reason", json_object_new_string(reason));
  json_object_object_add(cond, "message", json_object_new_string(message));
  json_object_object_add(cond, "lastTransitionTime", json_object_new_string(ltt));
  json_object_object_add(cond, "observedGeneration", json_object_new_int64(generation));
  json_object_array_add(list, cond);
  json_object_object_add(st, "observedGeneration", json_object_new_int64(generation));
  json_object_object_add(st, "conditions", list);
  if (na) json_object_object_add(st, "certificatesNotAfter", json_object_new_string(na));
  json_object_object_add(body, "status", st);
  free(ltt);
  free(na);
  if (!ready) ev_emit(run->f->events, fed, "Warning", reason, "Reconcile", "%s", message);
  if (kc_apply(run->f->c, &FED_FEDERATIONS, body, "status", fed_status_written, run) != 0)
    fed_finish(run, -EIO, 0);
  json_object_put(body);
}

/* ---- the certificate authority ---- */

/* 0 and a parsed pair when secret holds a matching tls.crt / tls.key. */
static int fed_read_ca(json_object *secret, certs_pair *out) {
  const char *crt, *key;
  json_object *data = kc_obj_get(secret, "data");
  size_t n;
  memset(out, 0, sizeof(*out));
  crt = kc_obj_key_str(data, "tls.crt");
  key = kc_obj_key_str(data, "tls.key");
  if (!crt || !key) return -ENOENT;
  if (kf_b64_decode(crt, strlen(crt), &out->cert_pem, &n) != 0 ||
      kf_b64_decode(key, strlen(key), &out->key_pem, &n) != 0 ||
      !certs_key_matches(out->cert_pem, out->key_pem)) {
    certs_pair_free(out);
    return -EINVAL;
  }
  return 0;
}

static char *fed_ca_secret_name(const fed_run *run) { return kf_asprintf("%s-ca", run->name); }

static void fed_report_ca(fed_run *run, const certs_pair *ca, const char *reason, const char *source) {
  time_t not_after = 0;
  char *msg;
  if (certs_not_after(ca->cert_pem, &not_after, NULL) != 0) not_after = 0;
  char *na = not_after ? fed_rfc3339(not_after) : kf_strdup("unknown");
  msg = kf_asprintf("certificate authority from %s, valid until %s", source, na);
  fed_set_certificates(run, 1, reason, msg, not_after, 0);
  free(na);
  free(msg);
}

static void fed_existing_ca_read(kc_client *c, int rc, json_object *secret, const kf_error *err, void *data) {
  fed_run *run = data;
  char *name = fed_ca_secret_name(run);
  json_object *labels = rc == 0 ? kc_obj_get(secret, "metadata.labels") : NULL;
  const char *by = labels ? kc_obj_key_str(labels, FED_MANAGED_BY) : NULL;
  const char *of = labels ? kc_obj_key_str(labels, FED_LABEL) : NULL;
  certs_pair ca;
  (void)c;
  if (rc != 0) {
    KF_WARN("reading the CA Secret failed", "federation", run->key, "error", err ? err->msg : "");
    fed_finish(run, rc, 0);
  } else if (by && of && strcmp(by, FED_OPERATOR) == 0 && strcmp(of, run->name) == 0 &&
             fed_read_ca(secret, &ca) == 0) {
    char *src = kf_asprintf("Secret %s", name);
    fed_report_ca(run, &ca, "CAReady", src);
    free(src);
    certs_pair_free(&ca);
  } else {
    /* Not ours: never overwrite somebody's CA. */
    char *msg = kf_asprintf("Secret %s exists and is not managed by kubefed-operator; delete or rename it, "
                            "or name it in spec.certificates.caSecretRef", name);
    fed_set_certificates(run, 0, "CASecretConflict", msg, 0, FED_RETRY_MS);
    free(msg);
  }
  free(name);
}

typedef struct fed_ca_create {
  fed_run *run;
  certs_pair ca;
} fed_ca_create;

static void fed_ca_created(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_ca_create *cc = data;
  fed_run *run = cc->run;
  char *secret = fed_ca_secret_name(run);
  (void)c;
  (void)obj;
  if (rc == 0) {
    ev_emit(run->f->events, run->fed, "Normal", "CreatedCA", "Create", "created certificate authority Secret %s",
            secret);
    char *src = kf_asprintf("Secret %s", secret);
    fed_report_ca(run, &cc->ca, "CAReady", src);
    free(src);
  } else if (rc == KC_ERR_EXISTS) {
    /* Our cache may lag our own earlier create: look at what is there. */
    if (kc_get(run->f->c, &KC_SECRETS, run->ns, secret, fed_existing_ca_read, run) != 0) fed_finish(run, -EIO, 0);
  } else {
    KF_WARN("creating the CA Secret failed", "federation", run->key, "error", err ? err->msg : "");
    fed_finish(run, rc, 0);
  }
  free(secret);
  certs_pair_free(&cc->ca);
  free(cc);
}

static void fed_ca_generated(int rc, certs_pair *pair, const kf_error *err, void *data) {
  fed_run *run = data;
  if (rc != 0) {
    KF_WARN("CA generation failed", "federation", run->key, "error", err ? err->msg : "");
    fed_finish(run, rc, 0);
    return;
  }
  fed_ca_create *cc = kf_calloc(1, sizeof(*cc));
  cc->run = run;
  cc->ca = *pair;
  char *name = fed_ca_secret_name(run);
  char *crt = kf_b64_encode(pair->cert_pem, strlen(pair->cert_pem));
  char *key = kf_b64_encode(pair->key_pem, strlen(pair->key_pem));
  json_object *s = json_object_new_object(), *meta = json_object_new_object(), *labels = json_object_new_object();
  json_object *owner = json_object_new_object(), *owners = json_object_new_array(), *d = json_object_new_object();
  json_object_object_add(s, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(s, "kind", json_object_new_string("Secret"));
  json_object_object_add(s, "type", json_object_new_string("kubernetes.io/tls"));
  json_object_object_add(meta, "name", json_object_new_string(name));
  json_object_object_add(meta, "namespace", json_object_new_string(run->ns));
  json_object_object_add(labels, FED_MANAGED_BY, json_object_new_string(FED_OPERATOR));
  json_object_object_add(labels, FED_LABEL, json_object_new_string(run->name));
  json_object_object_add(meta, "labels", labels);
  json_object_object_add(owner, "apiVersion", json_object_new_string("kubefed.dev/v1alpha1"));
  json_object_object_add(owner, "kind", json_object_new_string("Federation"));
  json_object_object_add(owner, "name", json_object_new_string(run->name));
  json_object_object_add(owner, "uid", json_object_new_string(kc_obj_str(run->fed, "metadata.uid")));
  json_object_object_add(owner, "controller", json_object_new_boolean(1));
  json_object_object_add(owner, "blockOwnerDeletion", json_object_new_boolean(1));
  json_object_array_add(owners, owner);
  json_object_object_add(meta, "ownerReferences", owners);
  json_object_object_add(s, "metadata", meta);
  json_object_object_add(d, "tls.crt", json_object_new_string(crt));
  json_object_object_add(d, "tls.key", json_object_new_string(key));
  json_object_object_add(s, "data", d);
  /* Create, not apply: a CA is never replaced behind the certificates it signed. */
  if (kc_create(run->f->c, &KC_SECRETS, run->ns, s, fed_ca_created, cc) != 0) {
    certs_pair_free(&cc->ca);
    free(cc);
    fed_finish(run, -EIO, 0);
  }
  /* The request holds its own copy of the body; wipe ours. */
  kf_free_secret(key, strlen(key));
  free(crt);
  free(name);
  json_object_put(s);
}

static void fed_user_ca_read(kc_client *c, int rc, json_object *secret, const kf_error *err, void *data) {
  fed_run *run = data;
  const char *name = kc_obj_str(run->fed, "spec.certificates.caSecretRef.name");
  certs_pair ca;
  (void)c;
  (void)err;
  if (rc == 0 && fed_read_ca(secret, &ca) == 0) {
    char *src = kf_asprintf("Secret %s (spec.certificates.caSecretRef)", name);
    fed_report_ca(run, &ca, "UserCA", src);
    free(src);
    certs_pair_free(&ca);
    return;
  }
  char *msg = rc == KC_ERR_NOTFOUND
                  ? kf_asprintf("spec.certificates.caSecretRef: Secret %s not found", name)
              : rc != 0 ? kf_asprintf("spec.certificates.caSecretRef: reading Secret %s failed: %s", name,
                                      err ? err->msg : "")
                        : kf_asprintf("spec.certificates.caSecretRef: Secret %s needs tls.crt and a matching tls.key "
                                      "(PEM)", name);
  fed_set_certificates(run, 0, "InvalidCASecret", msg, 0, FED_RETRY_MS);
  free(msg);
}

/* ---- reconcile ---- */

static void fed_reconcile(ctrl *c, const char *key, void *data) {
  fed_controller *f = data;
  fed_run *run = kf_calloc(1, sizeof(*run));
  (void)c;
  f->active++;
  run->f = f;
  run->key = kf_strdup(key);
  ctrl_split_key(key, &run->ns, &run->name);
  if (!fed_controller_synced(f)) {
    /* As controller-runtime: decide nothing from a cache that is still filling. */
    fed_finish(run, 0, 200);
    return;
  }
  run->fed = informer_get(f->feds, run->ns, run->name);
  if (!run->fed || kc_obj_get(run->fed, "metadata.deletionTimestamp")) {
    /* Gone or going: host-side children carry ownerReferences, the garbage collector removes them. */
    fed_finish(run, 0, 0);
    return;
  }
  if (kc_obj_get(run->fed, "spec.suspend") && json_object_get_boolean(kc_obj_get(run->fed, "spec.suspend"))) {
    fed_finish(run, 0, 0);
    return;
  }
  const char *user_ca = kc_obj_str(run->fed, "spec.certificates.caSecretRef.name");
  if (user_ca && user_ca[0]) {
    if (kc_get(f->c, &KC_SECRETS, run->ns, user_ca, fed_user_ca_read, run) != 0) fed_finish(run, -EIO, 0);
    return;
  }
  char *secret_name = fed_ca_secret_name(run);
  json_object *secret = informer_get(f->secrets, run->ns, secret_name);
  certs_pair ca;
  if (secret && fed_read_ca(secret, &ca) == 0) {
    char *src = kf_asprintf("Secret %s", secret_name);
    fed_report_ca(run, &ca, "CAReady", src);
    free(src);
    certs_pair_free(&ca);
  } else if (secret) {
    char *msg = kf_asprintf("Secret %s does not hold a valid tls.crt/tls.key pair; delete it to have a new CA "
                            "generated (every certificate it signed will be reissued)", secret_name);
    fed_set_certificates(run, 0, "InvalidCASecret", msg, 0, FED_RETRY_MS);
    free(msg);
  } else {
    char *cn = kf_asprintf("%s-ca", run->name);
    certs_request req = {.common_name = cn, .validity_s = FED_CA_VALIDITY_S};
    kf_error err;
    if (certs_issue_async(f->loop, NULL, &req, fed_ca_generated, run, &err) != 0) fed_finish(run, err.code, 0);
    free(cn);
  }
  if (secret) json_object_put(secret);
  free(secret_name);
}

/* Children are labelled with their Federation: map them back to its key. */
static char *fed_map_child(json_object *obj, void *data) {
  const char *ns = kc_obj_str(obj, "metadata.namespace");
  const char *owner = kc_obj_key_str(kc_obj_get(obj, "metadata.labels"), FED_LABEL);
  (void)data;
  return (ns && owner) ? kf_asprintf("%s/%s", ns, owner) : NULL;
}

fed_controller *fed_controller_new(uv_loop_t *loop, kc_client *c, const char *ns, kf_metrics *metrics,
                                   ev_recorder *events) {
  fed_controller *f = kf_calloc(1, sizeof(*f));
  f->loop = loop;
  f->c = c;
  f->metrics = metrics;
  f->events = events;
  ctrl_opts co = {.name = "federation", .reconcile = fed_reconcile, .data = f, .metrics = metrics};
  f->ctrl = ctrl_new(loop, &co);
  informer_handlers own = ctrl_handlers(f->ctrl, NULL, NULL);
  informer_opts fo = {.res = &FED_FEDERATIONS, .namespace_ = ns, .resync_ms = 10 * 60 * 1000};
  f->feds = informer_new(c, &fo, &own);
  informer_handlers children = ctrl_handlers(f->ctrl, fed_map_child, NULL);
  const char *idx[] = {FED_LABEL, NULL};
  informer_opts so = {.res = &KC_SECRETS, .namespace_ = ns, .label_selector = FED_MANAGED_BY "=" FED_OPERATOR,
                      .index_labels = idx};
  f->secrets = informer_new(c, &so, &children);
  informer_set_metrics(f->feds, metrics);
  informer_set_metrics(f->secrets, metrics);
  return f;
}

void fed_controller_start_informers(fed_controller *f) {
  informer_start(f->feds);
  informer_start(f->secrets);
}

int fed_controller_synced(const fed_controller *f) {
  return informer_has_synced(f->feds) && informer_has_synced(f->secrets);
}

void fed_controller_start(fed_controller *f) { ctrl_start(f->ctrl); }

void fed_controller_close(fed_controller *f) {
  if (!f || f->closing) return;
  f->closing = 1;
  informer_close(f->feds);
  informer_close(f->secrets);
  fed_maybe_free(f);
}
