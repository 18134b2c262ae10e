#include "federation.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kf/b64.h>
#include "certs/certs.h"
#include <kf/cond.h>
#include <kf/ctrl.h>
#include <kf/informer.h>
#include <kf/kj.h>
#include <kf/log.h>
#include "objects.h"
#include <kf/yaml.h>



#define FED_RETRY_MS 30000          /* bad input: look again later (and on every change) */
#define FED_API_RETRY_MS 5000       /* the federation API is not answering yet */
#define FED_MAX_REQUEUE_MS (6ull * 3600 * 1000)
/* The CA outlives the certificates it signs, which rotate within its lifetime. */
#define FED_CA_VALIDITY_S (10ull * 365 * 24 * 3600)

/* Host children we watch (label managed-by=kubefed-operator) to restore drift within seconds. */
static const kc_resource *const FED_CHILDREN[] = {&KC_SECRETS,         &KC_SERVICES, &KC_DEPLOYMENTS, &KC_PVCS,
                                                  &KC_SERVICEACCOUNTS, &KC_ROLES,    &KC_ROLEBINDINGS};
#define FED_NCHILDREN (sizeof(FED_CHILDREN) / sizeof(FED_CHILDREN[0]))

enum { C_READY, C_PROGRESSING, C_DEGRADED, C_CERTS, C_ETCD, C_APISERVER, C_CM, C_N };
static const char *const FED_COND[C_N] = {"Ready",      "Progressing",    "Degraded",
                                          "CertificatesReady", "EtcdReady", "APIServerReady",
                                          "ControllerManagerReady"};

struct fed_controller {
  uv_loop_t *loop;
  kc_client *c;
  fed_access access;
  kf_metrics *metrics;
  ev_recorder *events;
  informer *feds, *clusters, *children[FED_NCHILDREN];
  ctrl *ctrl;
  int active;
  int closing;
};

/* User-owned inputs the spec names; read (never watched, never written) on each reconcile. */
enum { IN_CA, IN_DNS, IN_TOKEN, IN_ETCD_TLS, IN_CLAIM, IN_N };

/* One reconcile: owns the Federation it read and everything it allocates. */
typedef struct fed_run {
  fed_controller *f;
  char *key, *ns, *name;
  json_object *fed;
  fed_spec spec;
  json_object *in[IN_N];
  int in_next;
  certs_pair ca;
  const char *ca_source_reason;
  char *ca_source;
  json_object *service;             /* the Service as applied or cached */
  char *endpoint;                   /* status.endpoint; NULL while pending */
  const char *endpoint_pending;
  char **san_dns, **san_ip;
  certs_pair server, cm, admin, sa; /* current or newly issued */
  int need[4];                      /* which of server, cm, admin, sa to issue */
  int issue_next;
  int issued;
  time_t not_after;                 /* earliest leaf expiry */
  time_t renew_at;                  /* earliest renewal moment */
  char *admin_kubeconfig;           /* text; holds a private key */
  char *cred_hash, *cm_hash;        /* of the credential and kubeconfig Secrets' data, for pod rollouts */
  json_object *todo[12];
  int n_todo, todo_next;
  json_object *apiserver, *cm_deploy, *pvc;  /* as applied or cached */
  kc_client *fapi;                  /* the federation API, during the bootstrap */
  char *fapi_url;
  int boot_step;
  cond cond[C_N];
  int rc;
  uint64_t requeue_ms;
} fed_run;

typedef void (*fed_next_fn)(fed_run *run, json_object *live);

static void fed_write_status(fed_run *run);
static void fed_after_ca(fed_run *run);

/* ---- small helpers ---- */

static void fed_requeue(fed_run *run, uint64_t ms) {
  if (ms && (!run->requeue_ms || ms < run->requeue_ms)) run->requeue_ms = ms;
}

static void fed_cond_set(fed_run *run, int which, const char *status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fed_cond_set(fed_run *run, int which, const char *status, const char *reason, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cond_setv(&run->cond[which], status, reason, fmt, ap);
  va_end(ap);
}

/* Stops this reconcile at a problem the user (or time) must fix: Degraded says what and why.
 * rc < 0 retries with backoff (API failures); 0 waits for a change or FED_RETRY_MS. */
static void fed_stop(fed_run *run, int rc, int which, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fed_stop(fed_run *run, int rc, int which, const char *reason, const char *fmt, ...) {
  va_list ap;
  char buf[1024];
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (which != C_DEGRADED) fed_cond_set(run, which, "False", reason, "%s", buf);
  fed_cond_set(run, C_DEGRADED, "True", reason, "%s", buf);
  run->rc = rc;
  if (rc == 0) fed_requeue(run, FED_RETRY_MS);
  fed_write_status(run);
}

/* Informers close only when no reconcile is left that could read them. */
static void fed_maybe_free(fed_controller *f) {
  if (!f->closing || f->active) return;
  informer_close(f->feds);
  informer_close(f->clusters);
  for (size_t i = 0; i < FED_NCHILDREN; i++) informer_close(f->children[i]);
  ctrl_close(f->ctrl);
  free(f);
}

static void fed_finish(fed_run *run) {
  fed_controller *f = run->f;
  ctrl_done(f->ctrl, run->key, run->rc, run->rc ? 0 : run->requeue_ms);
  free(run->key);
  free(run->ns);
  free(run->name);
  for (int i = 0; i < IN_N; i++)
    if (run->in[i]) json_object_put(run->in[i]);
  certs_pair_free(&run->ca);
  certs_pair_free(&run->server);
  certs_pair_free(&run->cm);
  certs_pair_free(&run->admin);
  certs_pair_free(&run->sa);
  free(run->ca_source);
  if (run->service) json_object_put(run->service);
  if (run->apiserver) json_object_put(run->apiserver);
  if (run->cm_deploy) json_object_put(run->cm_deploy);
  if (run->pvc) json_object_put(run->pvc);
  free(run->endpoint);
  fed_strv_free(run->san_dns);
  fed_strv_free(run->san_ip);
  if (run->admin_kubeconfig) kf_free_secret(run->admin_kubeconfig, strlen(run->admin_kubeconfig));
  free(run->cred_hash);
  free(run->cm_hash);
  for (int i = run->todo_next; i < run->n_todo; i++) kj_put_wiped(run->todo[i]);
  if (run->fapi) kc_client_close(run->fapi);
  free(run->fapi_url);
  for (int i = 0; i < C_N; i++) cond_free(&run->cond[i]);
  if (run->fed) json_object_put(run->fed);
  free(run);
  f->active--;
  fed_maybe_free(f);
}

static informer *fed_cache(fed_controller *f, const kc_resource *res) {
  for (size_t i = 0; i < FED_NCHILDREN; i++)
    if (FED_CHILDREN[i] == res) return f->children[i];
  return NULL;
}

static json_object *fed_cached(fed_run *run, const kc_resource *res, const char *suffix) {
  char *name = fed_child_name(&run->spec, suffix);
  json_object *o = informer_get(fed_cache(run->f, res), run->ns, name);
  free(name);
  return o;
}

static int fed_is_ours(json_object *obj, const char *federation) {
  json_object *labels = kc_obj_get(obj, "metadata.labels");
  const char *by = kc_obj_key_str(labels, API_LABEL_MANAGED_BY), *of = kc_obj_key_str(labels, API_LABEL_FEDERATION);
  return by && of && strcmp(by, API_OPERATOR) == 0 && strcmp(of, federation) == 0;
}

/* Decodes Secret data[key] (base64) into a NUL-terminated buffer, or NULL. */
static char *fed_secret_value(json_object *secret, const char *key) {
  const char *b64 = kc_obj_key_str(kc_obj_get(secret, "data"), key);
  char *out = NULL;
  size_t n;
  if (!b64 || kf_b64_decode(b64, strlen(b64), &out, &n) != 0) return NULL;
  return out;
}

static void fed_secret_value_free(char *v) {
  if (v) kf_free_secret(v, strlen(v));
}

/* ---- ensure: write a child only when the cache says it differs ---- */

typedef struct fed_ensure_op {
  fed_run *run;
  const kc_resource *res;
  json_object *desired;
  fed_next_fn next;
} fed_ensure_op;

/* Desired children include the Secrets with the federation's keys: wiped as they go. */
static void fed_ensure_op_free(fed_ensure_op *op) {
  kj_put_wiped(op->desired);
  free(op);
}

static void fed_ensure_end(fed_ensure_op *op, json_object *live) {
  fed_run *run = op->run;
  fed_next_fn next = op->next;
  fed_ensure_op_free(op);
  next(run, live);
}

static void fed_applied(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_ensure_op *op = data;
  (void)c;
  if (rc != 0) {
    fed_run *run = op->run;
    fed_stop(run, rc == KC_ERR_INVALID ? 0 : rc, C_DEGRADED, "ApplyFailed", "applying %s %s failed: %s",
             op->res->kind, kc_obj_str(op->desired, "metadata.name"), err ? err->msg : "unknown error");
    fed_ensure_op_free(op);
    return;
  }
  KF_DEBUG("applied", "federation", op->run->key, "kind", op->res->kind, "name",
          kc_obj_str(op->desired, "metadata.name"));
  fed_ensure_end(op, obj);
}

static void fed_apply(fed_ensure_op *op) {
  /* Any failure reaches fed_applied (desired objects always carry a name). */
  kc_apply(op->run->f->c, op->res, op->desired, NULL, fed_applied, op);
}

static void fed_existing_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_ensure_op *op = data;
  fed_run *run = op->run;
  (void)c;
  if (rc == KC_ERR_NOTFOUND || (rc == 0 && fed_is_ours(obj, run->name))) {
    fed_apply(op);
  } else if (rc == 0) {
    /* Never take over an object somebody else made under our name. */
    fed_stop(run, 0, C_DEGRADED, "NameConflict",
             "%s %s/%s exists and is not managed by kubefed-operator for this Federation; delete or rename it",
             op->res->kind, run->ns, kc_obj_str(op->desired, "metadata.name"));
    fed_ensure_op_free(op);
  } else {
    fed_stop(run, rc, C_DEGRADED, "ReadFailed", "reading %s %s failed: %s", op->res->kind,
             kc_obj_str(op->desired, "metadata.name"), err ? err->msg : "");
    fed_ensure_op_free(op);
  }
}

/* Makes the child `desired` (owned) exist as given, then calls next with the live object. */
static void fed_ensure(fed_run *run, const kc_resource *res, json_object *desired, fed_next_fn next) {
  fed_ensure_op *op = kf_calloc(1, sizeof(*op));
  const char *name = kc_obj_str(desired, "metadata.name");
  json_object *cached = informer_get(fed_cache(run->f, res), run->ns, name);
  op->run = run;
  op->res = res;
  op->desired = desired;
  op->next = next;
  if (cached && kj_subset(desired, cached)) {
    fed_ensure_end(op, cached);
  } else if (cached) {
    char why[256];
    kj_subset_why(desired, cached, why, sizeof(why));
    KF_INFO("child differs from the spec; applying", "federation", run->key, "kind", res->kind, "name", name,
            "field", why);
    fed_apply(op);
  } else {
    /* Not in our cache: new, or somebody else's under our name (fed_existing_read decides). */
    kc_get(run->f->c, res, run->ns, name, fed_existing_read, op);
  }
  if (cached) json_object_put(cached);
}

/* ---- status ---- */

static void fed_summarize(fed_run *run) {
  static const int parts[] = {C_CERTS, C_ETCD, C_APISERVER, C_CM};
  for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
    if (!run->cond[parts[i]].set)
      fed_cond_set(run, parts[i], "Unknown", "Pending", "not checked yet: an earlier step has not completed");
  }
  if (!run->cond[C_DEGRADED].set) fed_cond_set(run, C_DEGRADED, "False", "AsExpected", "no problem found");
  const cond *blocking = NULL;
  for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && !blocking; i++)
    if (strcmp(run->cond[parts[i]].status, "True") != 0) blocking = &run->cond[parts[i]];
  int degraded = strcmp(run->cond[C_DEGRADED].status, "True") == 0;
  if (!run->cond[C_READY].set) {
    if (!blocking) {
      char *ep = run->endpoint ? run->endpoint : run->fapi_url;
      fed_cond_set(run, C_READY, "True", "Ready", "the federation control plane is serving at %s", ep ? ep : "");
    } else {
      fed_cond_set(run, C_READY, "False", blocking->reason, "%s", blocking->message);
    }
  }
  if (!run->cond[C_PROGRESSING].set) {
    if (!blocking) fed_cond_set(run, C_PROGRESSING, "False", "Complete", "every part is up to date");
    else if (degraded) fed_cond_set(run, C_PROGRESSING, "False", "Degraded", "stopped: see the Degraded condition");
    else fed_cond_set(run, C_PROGRESSING, "True", blocking->reason, "%s", blocking->message);
  }
}

static const char *fed_phase(fed_run *run) {
  if (kc_obj_get(run->fed, "metadata.deletionTimestamp")) return "Terminating";
  if (strcmp(run->cond[C_READY].status, "True") == 0) return "Ready";
  if (strcmp(run->cond[C_DEGRADED].status, "True") == 0) return "Degraded";
  return "Progressing";
}

typedef struct fed_count {
  const char *federation;
  int joined, total;
  char names[256];
} fed_count;

static void fed_count_cluster(json_object *fc, void *data) {
  fed_count *n = data;
  const char *ref = kc_obj_str(fc, "spec.federationRef.name");
  if (!ref || strcmp(ref, n->federation) != 0) return;
  n->total++;
  size_t used = strlen(n->names);
  const char *name = kc_obj_str(fc, "metadata.name");
  if (name && used + strlen(name) + 3 < sizeof(n->names))
    snprintf(n->names + used, sizeof(n->names) - used, "%s%s", used ? ", " : "", name);
  json_object *conds = kc_obj_get(fc, "status.conditions");
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (kf_streq(kc_obj_str(c, "type"), "Joined") && kf_streq(kc_obj_str(c, "status"), "True")) n->joined++;
  }
}

static void fed_count_clusters(fed_run *run, fed_count *n) {
  memset(n, 0, sizeof(*n));
  n->federation = run->name;
  informer_foreach(run->f->clusters, fed_count_cluster, n);
}

static void fed_status_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    KF_WARN("status write failed", "federation", run->key, "error", err ? err->msg : "");
    if (!run->rc) run->rc = rc;
  }
  fed_finish(run);
}

/* Writes status unless it already says exactly this. */
static void fed_write_status(fed_run *run) {
  json_object *fed = run->fed;
  int64_t gen = run->spec.generation;
  fed_count clusters;
  fed_summarize(run);
  fed_count_clusters(run, &clusters);
  char *na = run->not_after ? cond_rfc3339(run->not_after) : NULL;
  char *admin = fed_child_name(&run->spec, "admin-kubeconfig");
  const char *phase = fed_phase(run);

  int changed = 0;
  json_object *st = kj_obj(), *list = cond_array(fed, FED_COND, run->cond, C_N, gen, &changed);
  kj_int(st, "observedGeneration", gen);
  kj_str(st, "phase", phase);
  kj_set(st, "conditions", list);
  kj_int(st, "joinedClusters", clusters.joined);
  if (run->endpoint) kj_str(st, "endpoint", run->endpoint);
  if (run->admin_kubeconfig) kj_set(st, "kubeconfigSecretRef", kj_str(kj_str(kj_obj(), "name", admin), "key", "kubeconfig"));
  if (na) kj_str(st, "certificatesNotAfter", na);

  json_object *old_og = kc_obj_get(fed, "status.observedGeneration");
  json_object *old_jc = kc_obj_get(fed, "status.joinedClusters");
  if (!old_og || json_object_get_int64(old_og) != gen || !kf_streq(kc_obj_str(fed, "status.phase"), phase) ||
      (!run->endpoint != !kc_obj_str(fed, "status.endpoint")) ||
      (run->endpoint && !kf_streq(run->endpoint, kc_obj_str(fed, "status.endpoint"))) ||
      (run->admin_kubeconfig && !kf_streq(kc_obj_str(fed, "status.kubeconfigSecretRef.name"), admin)) ||
      (na && !kf_streq(na, kc_obj_str(fed, "status.certificatesNotAfter"))) ||
      (old_jc ? json_object_get_int64(old_jc) : 0) != clusters.joined)
    changed = 1;
  free(na);
  free(admin);
  if (strcmp(run->cond[C_DEGRADED].status, "True") == 0)
    ev_emit(run->f->events, fed, "Warning", run->cond[C_DEGRADED].reason, "Reconcile", "%s",
            run->cond[C_DEGRADED].message);
  if (!changed) {
    json_object_put(st);
    fed_finish(run);
    return;
  }
  json_object *body = kj_obj();
  kj_str(body, "apiVersion", API_GROUP_VERSION);
  kj_str(body, "kind", "Federation");
  kj_set(body, "metadata", kj_str(kj_str(kj_obj(), "name", run->name), "namespace", run->ns));
  kj_set(body, "status", st);
  kc_apply(run->f->c, &API_FEDERATIONS, body, "status", fed_status_written, run);
  json_object_put(body);
}

/* ---- step 7: the controller manager, after the federation API is bootstrapped ---- */

static void fed_cm_done(fed_run *run, json_object *live) {
  json_object *avail = kc_obj_get(live, "status.availableReplicas");
  int64_t available = avail ? json_object_get_int64(avail) : 0;
  if (run->spec.cm_replicas == 0)
    fed_cond_set(run, C_CM, "True", "ScaledToZero", "spec.controllerManager.replicas is 0");
  else if (available >= run->spec.cm_replicas)
    fed_cond_set(run, C_CM, "True", "Available", "Deployment %s-controller-manager has %lld/%d available replicas",
                 run->name, (long long)available, run->spec.cm_replicas);
  else
    fed_cond_set(run, C_CM, "False", "DeploymentUnavailable",
                 "Deployment %s-controller-manager has %lld/%d available replicas", run->name, (long long)available,
                 run->spec.cm_replicas);
  fed_write_status(run);
}

static void fed_controller_manager(fed_run *run) {
  fed_ensure(run, &KC_DEPLOYMENTS, fed_desired_controller_manager(&run->spec, run->cm_hash), fed_cm_done);
}

/* ---- step 6: the federation API bootstrap ---- */

static void fed_boot_next(fed_run *run);

static void fed_boot_failed(fed_run *run, const char *what, const kf_error *err) {
  fed_cond_set(run, C_APISERVER, "False", "FederationAPIUnreachable", "the federation API at %s: %s: %s",
               run->fapi_url, what, cond_error_text(err, "failed"));
  fed_requeue(run, FED_API_RETRY_MS);
  fed_write_status(run);
}

static json_object *fed_namespace_object(const char *name) {
  json_object *o = kj_obj();
  kj_str(o, "apiVersion", "v1");
  kj_str(o, "kind", "Namespace");
  kj_set(o, "metadata", kj_str(kj_obj(), "name", name));
  return o;
}

static void fed_boot_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0 && rc != KC_ERR_EXISTS) {
    fed_boot_failed(run, "bootstrap write", err);
    return;
  }
  run->boot_step++;
  fed_boot_next(run);
}

static json_object *fed_cluster_crd(void) {
  json_object *crd = NULL;
  kf_error err;
  if (kf_yaml_to_json_one(api_cluster_crd_yaml, api_cluster_crd_yaml_len, &crd, &err) != 0) {
    KF_ERROR("the embedded Cluster CRD does not parse", "error", err.msg);
    return NULL;
  }
  return crd;
}

static void fed_boot_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  int crd_step = run->boot_step == 3;
  if (rc == 0 && !crd_step) {
    run->boot_step++;
    fed_boot_next(run);
    return;
  }
  if (rc == 0 || rc == KC_ERR_NOTFOUND) {
    json_object *want = crd_step ? fed_cluster_crd() : fed_namespace_object(run->boot_step == 1 ? "federation-system"
                                                                                                 : "default");
    if (!want) {
      fed_stop(run, 0, C_APISERVER, "BootstrapFailed", "the embedded Cluster CRD is invalid (a build problem)");
      return;
    }
    if (rc == 0 && kj_subset(kc_obj_get(want, "spec"), kc_obj_get(obj, "spec"))) {
      json_object_put(want);
      run->boot_step++;
      fed_boot_next(run);
      return;
    }
    if (crd_step) kc_apply(c, &KC_CRDS, want, NULL, fed_boot_written, run);
    else kc_create(c, &KC_NAMESPACES, NULL, want, fed_boot_written, run);
    json_object_put(want);
    return;
  }
  fed_boot_failed(run, "bootstrap read", err);
}

static void fed_boot_next(fed_run *run) {
  switch (run->boot_step) {
    case 1:
      kc_get(run->fapi, &KC_NAMESPACES, NULL, "federation-system", fed_boot_read, run);
      return;
    case 2:
      /* kubefed v1 left `default` out of the federation API; create it when missing. */
      kc_get(run->fapi, &KC_NAMESPACES, NULL, "default", fed_boot_read, run);
      return;
    case 3:
      kc_get(run->fapi, &KC_CRDS, NULL, "clusters.federation.kubefed.dev", fed_boot_read, run);
      return;
    default:
      fed_cond_set(run, C_APISERVER, "True", "Serving",
                   "the federation API at %s answers /readyz; namespaces federation-system and default and the "
                   "Cluster CRD are installed",
                   run->fapi_url);
      fed_controller_manager(run);
  }
}

static void fed_readyz(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0) {
    fed_boot_failed(run, "GET /readyz", err);
    return;
  }
  run->boot_step = 1;
  fed_boot_next(run);
}

static void fed_bootstrap(fed_run *run, json_object *live) {
  json_object *avail = kc_obj_get(live, "status.availableReplicas");
  if (run->apiserver) json_object_put(run->apiserver);
  run->apiserver = json_object_get(live);
  if (!avail || json_object_get_int64(avail) < 1) {
    fed_cond_set(run, C_APISERVER, "False", "DeploymentUnavailable",
                 "Deployment %s-apiserver has no available replica yet", run->name);
    fed_write_status(run);
    return;
  }
  if (run->f->access == FED_ACCESS_ENDPOINT) {
    char *svc = fed_service_url(&run->spec);
    int internal = !run->endpoint || strcmp(run->endpoint, svc) == 0;
    free(svc);
    if (internal) {
      /* From outside the host cluster only a published endpoint can be reached. */
      fed_cond_set(run, C_APISERVER, "False", "EndpointPending",
                   "the operator reaches federation API servers through their published endpoint "
                   "(--federation-api-access=endpoint) and this one has none yet: %s",
                   run->endpoint_pending ? run->endpoint_pending
                                         : "a ClusterIP Service (or NodePort without spec.apiServer.advertiseAddress) "
                                           "is only reachable inside the host cluster");
      fed_write_status(run);
      return;
    }
  }
  run->fapi_url = run->f->access == FED_ACCESS_ENDPOINT ? kf_strdup(run->endpoint) : fed_service_url(&run->spec);
  kcfg *cfg = NULL;
  kf_error err;
  if (kcfg_load_data(run->admin_kubeconfig, strlen(run->admin_kubeconfig), NULL, NULL, &cfg, &err) != 0) {
    fed_stop(run, 0, C_APISERVER, "BootstrapFailed", "the admin kubeconfig does not load: %s", err.msg);
    return;
  }
  free(cfg->server);
  cfg->server = kf_strdup(run->fapi_url);
  run->fapi = kc_client_derive(run->f->c, cfg, &err);
  kcfg_free(cfg);
  if (run->fapi) kc_client_set_metrics(run->fapi, run->f->metrics);
  if (!run->fapi) {
    fed_stop(run, 0, C_APISERVER, "BootstrapFailed", "cannot build a client for the federation API: %s", err.msg);
    return;
  }
  kc_request r = {.method = "GET", .path = "/readyz", .timeout_ms = 5000, .no_retry = 1};
  kc_do(run->fapi, &r, fed_readyz, run);
}

/* ---- step 5: the children, in order ---- */

static void fed_apply_next(fed_run *run, json_object *live);

static void fed_etcd_condition(fed_run *run) {
  const fed_spec *s = &run->spec;
  if (!s->etcd_local) {
    fed_cond_set(run, C_ETCD, "True", "ExternalEtcd", "the federation API server uses the external etcd at %s",
                 json_object_get_string(json_object_array_get_idx(s->etcd_endpoints, 0)));
  } else if (s->etcd_emptydir) {
    fed_cond_set(run, C_ETCD, "True", "EmptyDir",
                 "etcd keeps its data in an emptyDir (spec.etcd.local.storage.type): it is lost with the pod");
  } else {
    json_object *pvc = s->etcd_existing_claim ? run->in[IN_CLAIM] : run->pvc;
    const char *phase = kc_obj_str(pvc, "status.phase");
    char *claim = fed_etcd_claim_name(s);
    if (phase && strcmp(phase, "Bound") == 0)
      fed_cond_set(run, C_ETCD, "True", "ClaimBound", "PersistentVolumeClaim %s is Bound", claim);
    else
      fed_cond_set(run, C_ETCD, "False", "ClaimPending",
                   "PersistentVolumeClaim %s is %s: no PersistentVolume matches its size and storage class yet",
                   claim, phase ? phase : "not created yet");
    free(claim);
  }
}

static void fed_apply_next(fed_run *run, json_object *live) {
  if (live && kf_streq(kc_obj_str(live, "kind"), "PersistentVolumeClaim")) {
    if (run->pvc) json_object_put(run->pvc);
    run->pvc = json_object_get(live);
  }
  if (run->todo_next < run->n_todo) {
    json_object *desired = run->todo[run->todo_next];
    const char *kind = kc_obj_str(desired, "kind");
    const kc_resource *res = NULL;
    for (size_t i = 0; i < FED_NCHILDREN; i++)
      if (strcmp(FED_CHILDREN[i]->kind, kind) == 0) res = FED_CHILDREN[i];
    run->todo[run->todo_next++] = NULL;
    fed_ensure(run, res, desired, fed_apply_next);
    return;
  }
  fed_etcd_condition(run);
  fed_ensure(run, &KC_DEPLOYMENTS, fed_desired_apiserver(&run->spec, run->cred_hash), fed_bootstrap);
}

static void fed_todo(fed_run *run, json_object *obj) {
  if (obj) run->todo[run->n_todo++] = obj;
}

static json_object *fed_kv(const char *k1, const char *v1) {
  json_object *d = kj_obj();
  if (v1) kj_str(d, k1, v1);
  return d;
}

static void fed_b64_put(json_object *data, const char *key, const char *value) {
  char *b = kf_b64_encode(value, strlen(value));
  kj_str(data, key, b);
  kf_free_secret(b, strlen(b));
}

static void fed_apply_children(fed_run *run) {
  const fed_spec *s = &run->spec;
  char *name;

  /* F-apiserver-credentials, with kubefed v1's keys. Type Opaque, not kubernetes.io/tls: that
   * type requires the keys tls.crt and tls.key, and kubefed v1's consumers (and users' scripts)
   * read ca.crt, server.crt and server.key; adding tls.* copies would put the serving key in the
   * Secret twice for a type label. The CA Secret (tls.crt, tls.key) is kubernetes.io/tls, the
   * member token Secret kubernetes.io/service-account-token; kubeconfigs have no Secret type of
   * their own (Opaque). security.secrets checks each type and that every key is used. */
  json_object *data = kj_obj(), *ann = NULL;
  fed_b64_put(data, "ca.crt", run->ca.cert_pem);
  fed_b64_put(data, "server.crt", run->server.cert_pem);
  fed_b64_put(data, "server.key", run->server.key_pem);
  fed_b64_put(data, "sa.key", run->sa.key_pem);
  fed_b64_put(data, "sa.pub", run->sa.cert_pem);
  if (run->in[IN_TOKEN]) kj_str(data, "token.csv", kc_obj_key_str(kc_obj_get(run->in[IN_TOKEN], "data"), s->token_key));
  if (s->rotate_request) ann = fed_kv(API_ANNOTATION_ROTATED_FOR, s->rotate_request);
  name = fed_child_name(s, "apiserver-credentials");
  fed_todo(run, fed_desired_secret(s, name, "Opaque", data, ann));
  /* The pods roll when what they mount changes: hash what we apply, not a cache that may lag. */
  run->cred_hash = fed_data_hash(data);
  free(name);
  kj_put_wiped(data);
  if (ann) json_object_put(ann);

  /* The two kubeconfigs. */
  char *cluster_url = kf_asprintf("https://%s-apiserver", run->name);
  char *cm_context = kf_asprintf("federation-controller-manager@%s", run->name);
  char *kc = fed_kubeconfig(run->name, "federation-controller-manager", cm_context, cluster_url, run->ca.cert_pem,
                            run->cm.cert_pem, run->cm.key_pem, NULL);
  data = kj_obj();
  fed_b64_put(data, "kubeconfig", kc);
  kf_free_secret(kc, strlen(kc));
  name = fed_child_name(s, "controller-manager-kubeconfig");
  fed_todo(run, fed_desired_secret(s, name, "Opaque", data, NULL));
  run->cm_hash = fed_data_hash(data);
  free(name);
  kj_put_wiped(data);
  free(cluster_url);
  free(cm_context);

  char *svc = fed_service_url(s);
  run->admin_kubeconfig = fed_kubeconfig(run->name, run->name, run->name, run->endpoint ? run->endpoint : svc,
                                         run->ca.cert_pem, run->admin.cert_pem, run->admin.key_pem, NULL);
  free(svc);
  data = kj_obj();
  fed_b64_put(data, "kubeconfig", run->admin_kubeconfig);
  name = fed_child_name(s, "admin-kubeconfig");
  fed_todo(run, fed_desired_secret(s, name, "Opaque", data, NULL));
  free(name);
  kj_put_wiped(data);

  if (run->in[IN_DNS]) {
    data = fed_kv(FED_DNS_KEY, kc_obj_key_str(kc_obj_get(run->in[IN_DNS], "data"), s->dns_config_key));
    name = fed_child_name(s, "dns-provider");
    fed_todo(run, fed_desired_secret(s, name, "Opaque", data, NULL));
    free(name);
    kj_put_wiped(data);
  }
  fed_todo(run, fed_desired_pvc(s));
  fed_todo(run, fed_desired_service_account(s));
  fed_todo(run, fed_desired_role(s));
  fed_todo(run, fed_desired_role_binding(s));
  fed_apply_next(run, NULL);
}

/* ---- step 4: credentials (certificates off the loop) ---- */

enum { CRED_SERVER, CRED_CM, CRED_ADMIN, CRED_SA, CRED_N };

static certs_pair *fed_cred(fed_run *run, int which) {
  certs_pair *p[CRED_N] = {&run->server, &run->cm, &run->admin, &run->sa};
  return p[which];
}

/* 1 when the pair is usable as it is; sets its renewal moment. */
static int fed_leaf_ok(fed_run *run, const certs_pair *p, int serving) {
  time_t nb, na, now = time(NULL);
  if (!p->cert_pem || !p->key_pem || !certs_key_matches(p->cert_pem, p->key_pem) ||
      !certs_signed_by(p->cert_pem, run->ca.cert_pem) || certs_validity(p->cert_pem, &nb, &na, NULL) != 0)
    return 0;
  if (serving && !certs_covers(p->cert_pem, (const char *const *)run->san_dns, (const char *const *)run->san_ip))
    return 0;
  uint64_t lifetime = na > nb ? (uint64_t)(na - nb) : 0;
  /* A renewBefore at or beyond the spec's validity would reissue every new certificate
   * at once, forever: then renew at 2/3 of the lifetime instead, as cert-manager does. */
  time_t renew = run->spec.renew_before_s < run->spec.validity_s ? na - (time_t)run->spec.renew_before_s
                                                                  : nb + (time_t)(lifetime * 2 / 3);
  if (now >= renew) return 0;
  if (!run->not_after || na < run->not_after) run->not_after = na;
  if (!run->renew_at || renew < run->renew_at) run->renew_at = renew;
  return 1;
}

static void fed_issue_next(fed_run *run);

static void fed_issued(int rc, certs_pair *pair, const kf_error *err, void *data) {
  fed_run *run = data;
  if (rc != 0) {
    fed_stop(run, rc, C_CERTS, "IssueFailed", "issuing a certificate failed: %s", err ? err->msg : "");
    return;
  }
  certs_pair *slot = fed_cred(run, run->issue_next);
  certs_pair_free(slot);
  *slot = *pair;
  if (run->issue_next != CRED_SA) fed_leaf_ok(run, slot, run->issue_next == CRED_SERVER);
  run->issued++;
  run->issue_next++;
  fed_issue_next(run);
}

static void fed_issue_next(fed_run *run) {
  static const char *const masters[] = {"system:masters", NULL};
  while (run->issue_next < CRED_N && !run->need[run->issue_next]) run->issue_next++;
  if (run->issue_next == CRED_N) {
    if (run->issued)
      ev_emit(run->f->events, run->fed, "Normal", "CertificatesIssued", "Issue",
              "issued %d certificate(s) or key(s) signed by the federation CA", run->issued);
    char *na = cond_rfc3339(run->not_after);
    fed_cond_set(run, C_CERTS, "True", run->ca_source_reason,
                 "certificate authority from %s; serving and client certificates valid until %s", run->ca_source, na);
    free(na);
    time_t now = time(NULL);
    if (run->renew_at > now) {
      uint64_t ms = (uint64_t)(run->renew_at - now) * 1000 + 1000;
      fed_requeue(run, ms < FED_MAX_REQUEUE_MS ? ms : FED_MAX_REQUEUE_MS);
    }
    fed_apply_children(run);
    return;
  }
  certs_request req = {.validity_s = run->spec.validity_s, .key_type = CERTS_KEY_ECDSA_P256};
  switch (run->issue_next) {
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
    default:
      req.key_only = 1;
  }
  kf_error err;
  if (certs_issue_async(run->f->loop, &run->ca, &req, fed_issued, run, &err) != 0)
    fed_stop(run, err.code, C_CERTS, "IssueFailed", "%s", err.msg);
}

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

static void fed_credentials(fed_run *run) {
  json_object *cred = fed_cached(run, &KC_SECRETS, "apiserver-credentials");
  json_object *cmk = fed_cached(run, &KC_SECRETS, "controller-manager-kubeconfig");
  json_object *adk = fed_cached(run, &KC_SECRETS, "admin-kubeconfig");
  if (cred) {
    run->server.cert_pem = fed_secret_value(cred, "server.crt");
    run->server.key_pem = fed_secret_value(cred, "server.key");
    run->sa.cert_pem = fed_secret_value(cred, "sa.pub");
    run->sa.key_pem = fed_secret_value(cred, "sa.key");
  }
  fed_read_kubeconfig_cert(cmk, &run->cm);
  fed_read_kubeconfig_cert(adk, &run->admin);
  const char *rotated = cred ? kc_obj_key_str(kc_obj_get(cred, "metadata.annotations"), API_ANNOTATION_ROTATED_FOR) : NULL;
  int rotate = run->spec.rotate_request && !kf_streq(rotated, run->spec.rotate_request);
  run->need[CRED_SERVER] = rotate || !fed_leaf_ok(run, &run->server, 1);
  run->need[CRED_CM] = rotate || !fed_leaf_ok(run, &run->cm, 0);
  run->need[CRED_ADMIN] = rotate || !fed_leaf_ok(run, &run->admin, 0);
  run->need[CRED_SA] = !run->sa.cert_pem || !run->sa.key_pem ||
                       !certs_public_key_matches(run->sa.cert_pem, run->sa.key_pem);
  if (rotate) {
    run->not_after = run->renew_at = 0;
    ev_emit(run->f->events, run->fed, "Normal", "RotatingCertificates", "Rotate",
            "reissuing the serving and client certificates (annotation %s)", API_ANNOTATION_ROTATE);
  }
  if (cred) json_object_put(cred);
  if (cmk) json_object_put(cmk);
  if (adk) json_object_put(adk);
  fed_issue_next(run);
}

/* ---- step 3: the Service, whose address the certificates and kubeconfigs need ---- */

static void fed_service_done(fed_run *run, json_object *live) {
  run->service = json_object_get(live);
  run->endpoint = fed_endpoint(&run->spec, live, &run->endpoint_pending);
  fed_serving_sans(&run->spec, kc_obj_get(live, "status.loadBalancer.ingress"), &run->san_dns, &run->san_ip);
  fed_credentials(run);
}

/* ---- step 2: the certificate authority ---- */

/* 0 and a parsed pair when secret holds a tls.crt / tls.key CA that can issue now
 * (certs_ca_check; err says what is wrong, may be NULL). */
static int fed_read_ca(json_object *secret, certs_pair *out, kf_error *err) {
  out->cert_pem = fed_secret_value(secret, "tls.crt");
  out->key_pem = fed_secret_value(secret, "tls.key");
  int rc = !out->cert_pem || !out->key_pem ? kf_error_set(err, -EINVAL, "tls.crt or tls.key is missing")
                                           : certs_ca_check(out->cert_pem, out->key_pem, err);
  if (rc != 0) certs_pair_free(out);
  return rc;
}

static void fed_after_ca(fed_run *run) {
  fed_ensure(run, &KC_SERVICES, fed_desired_service(&run->spec), fed_service_done);
}

static void fed_existing_ca_read(kc_client *c, int rc, json_object *secret, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  if (rc != 0) {
    fed_stop(run, rc, C_CERTS, "ReadFailed", "reading Secret %s-ca failed: %s", run->name, err ? err->msg : "");
  } else if (fed_is_ours(secret, run->name) && fed_read_ca(secret, &run->ca, NULL) == 0) {
    fed_after_ca(run);
  } else {
    fed_stop(run, 0, C_CERTS, "CASecretConflict",
             "Secret %s-ca exists and is not managed by kubefed-operator; delete or rename it, or name it in "
             "spec.certificates.caSecretRef",
             run->name);
  }
}

static void fed_ca_created(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  (void)obj;
  if (rc == 0) {
    ev_emit(run->f->events, run->fed, "Normal", "CreatedCA", "Create", "created certificate authority Secret %s-ca",
            run->name);
    fed_after_ca(run);
  } else if (rc == KC_ERR_EXISTS) {
    /* Our cache may lag our own earlier create: look at what is there. */
    certs_pair_free(&run->ca);
    char *name = fed_child_name(&run->spec, "ca");
    kc_get(run->f->c, &KC_SECRETS, run->ns, name, fed_existing_ca_read, run);
    free(name);
  } else {
    fed_stop(run, rc, C_CERTS, "CreateFailed", "creating Secret %s-ca failed: %s", run->name, err ? err->msg : "");
  }
}

static void fed_ca_generated(int rc, certs_pair *pair, const kf_error *err, void *data) {
  fed_run *run = data;
  if (rc != 0) {
    fed_stop(run, rc, C_CERTS, "IssueFailed", "generating the CA failed: %s", err ? err->msg : "");
    return;
  }
  run->ca = *pair;
  json_object *d = kj_obj();
  fed_b64_put(d, "tls.crt", pair->cert_pem);
  fed_b64_put(d, "tls.key", pair->key_pem);
  char *name = fed_child_name(&run->spec, "ca");
  json_object *s = fed_desired_secret(&run->spec, name, "kubernetes.io/tls", d, NULL);
  /* Create, not apply: a CA is never replaced behind the certificates it signed. */
  kc_create(run->f->c, &KC_SECRETS, run->ns, s, fed_ca_created, run);
  kj_put_wiped(s);
  kj_put_wiped(d);
  free(name);
}

static void fed_ca(fed_run *run) {
  if (run->in[IN_CA]) {
    kf_error err;
    kf_error_clear(&err);
    if (fed_read_ca(run->in[IN_CA], &run->ca, &err) != 0) {
      fed_stop(run, 0, C_CERTS, "InvalidCASecret",
               "spec.certificates.caSecretRef: Secret %s needs tls.crt and a matching tls.key (PEM) of a CA "
               "that is valid now: %s",
               run->spec.ca_secret, err.msg);
      return;
    }
    run->ca_source_reason = "UserCA";
    run->ca_source = kf_asprintf("Secret %s (spec.certificates.caSecretRef)", run->spec.ca_secret);
    fed_after_ca(run);
    return;
  }
  run->ca_source_reason = "CAReady";
  run->ca_source = kf_asprintf("Secret %s-ca", run->name);
  json_object *secret = fed_cached(run, &KC_SECRETS, "ca");
  kf_error ca_err;
  kf_error_clear(&ca_err);
  if (secret && fed_read_ca(secret, &run->ca, &ca_err) == 0) {
    json_object_put(secret);
    fed_after_ca(run);
  } else if (secret) {
    json_object_put(secret);
    fed_stop(run, 0, C_CERTS, "InvalidCASecret",
             "Secret %s-ca does not hold a valid tls.crt/tls.key pair (%s); delete it to have a new CA generated "
             "(every certificate it signed will be reissued)",
             run->name, ca_err.msg);
  } else {
    char *cn = kf_asprintf("%s-ca", run->name);
    certs_request req = {.common_name = cn, .validity_s = FED_CA_VALIDITY_S};
    kf_error err;
    if (certs_issue_async(run->f->loop, NULL, &req, fed_ca_generated, run, &err) != 0)
      fed_stop(run, err.code, C_CERTS, "IssueFailed", "%s", err.msg);
    free(cn);
  }
}

/* ---- step 1: the user's inputs ---- */

typedef struct fed_input {
  const kc_resource *res;
  const char *name;
  const char *field;          /* the spec field that names it */
  const char *keys[3];        /* data keys it must hold */
  int which;                  /* condition that fails when it is wrong */
} fed_input;

static void fed_read_inputs(fed_run *run);

static int fed_input_describe(const fed_run *run, int i, fed_input *in) {
  const fed_spec *s = &run->spec;
  memset(in, 0, sizeof(*in));
  switch (i) {
    case IN_CA:
      /* Its keys are checked by fed_ca, with the CA's own reasons. */
      *in = (fed_input){&KC_SECRETS, s->ca_secret, "spec.certificates.caSecretRef", {NULL}, C_CERTS};
      break;
    case IN_DNS:
      *in = (fed_input){&KC_SECRETS, s->dns_config_secret, "spec.dns.providerConfigSecretRef", {s->dns_config_key},
                        C_CM};
      break;
    case IN_TOKEN:
      *in = (fed_input){&KC_SECRETS, s->token_secret, "spec.apiServer.tokenAuthSecretRef", {s->token_key}, C_APISERVER};
      break;
    case IN_ETCD_TLS:
      *in = (fed_input){&KC_SECRETS, s->etcd_tls_secret, "spec.etcd.external.tlsSecretRef",
                        {"ca.crt", "tls.crt", "tls.key"}, C_ETCD};
      break;
    case IN_CLAIM:
      *in = (fed_input){&KC_PVCS, s->etcd_existing_claim, "spec.etcd.local.storage.existingClaim", {NULL}, C_ETCD};
      break;
  }
  return in->name != NULL;
}

static void fed_input_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  fed_input in;
  (void)c;
  fed_input_describe(run, run->in_next, &in);
  if (rc == KC_ERR_NOTFOUND) {
    if (run->in_next == IN_CA) {
      fed_stop(run, 0, C_CERTS, "InvalidCASecret", "%s: Secret %s not found", in.field, in.name);
      return;
    }
    fed_stop(run, 0, in.which, "InputNotFound", "%s: %s %s not found in namespace %s", in.field, in.res->kind,
             in.name, run->ns);
    return;
  }
  if (rc != 0) {
    fed_stop(run, rc, in.which, "ReadFailed", "%s: reading %s %s failed: %s", in.field, in.res->kind, in.name,
             err ? err->msg : "");
    return;
  }
  for (int k = 0; k < 3 && in.keys[k]; k++) {
    if (!kc_obj_key_str(kc_obj_get(obj, "data"), in.keys[k])) {
      fed_stop(run, 0, in.which, "InputInvalid", "%s: Secret %s has no key %s", in.field, in.name, in.keys[k]);
      return;
    }
  }
  run->in[run->in_next++] = json_object_get(obj);
  fed_read_inputs(run);
}

static void fed_read_inputs(fed_run *run) {
  fed_input in;
  while (run->in_next < IN_N && !fed_input_describe(run, run->in_next, &in)) run->in_next++;
  if (run->in_next == IN_N) {
    fed_ca(run);
    return;
  }
  kc_get(run->f->c, in.res, run->ns, in.name, fed_input_read, run);
}

/* ---- finalizer and teardown ---- */

static void fed_finalizer_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  (void)obj;
  if (rc == KC_ERR_CONFLICT) {
    /* The uid precondition failed: the Federation read is gone (deleted, or replaced by a new
     * one of the same name, which its own event reconciles). Nothing more to do for this one. */
    fed_finish(run);
    return;
  }
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    KF_WARN("finalizer update failed", "federation", run->key, "error", err ? err->msg : "");
    run->rc = rc;
    fed_finish(run);
    return;
  }
  if (kc_obj_get(run->fed, "metadata.deletionTimestamp")) {
    KF_INFO("teardown complete; host children are garbage-collected", "federation", run->key);
    fed_finish(run);
    return;
  }
  fed_read_inputs(run);
}

static void fed_set_finalizer(fed_run *run, int present) {
  kc_apply_finalizer(run->f->c, &API_FEDERATIONS, run->ns, run->name, kc_obj_str(run->fed, "metadata.uid"),
                     present ? API_FINALIZER_TEARDOWN : NULL, fed_finalizer_written, run);
}

static void fed_teardown(fed_run *run) {
  if (!kc_has_finalizer(run->fed, API_FINALIZER_TEARDOWN)) {
    fed_finish(run);
    return;
  }
  fed_count n;
  fed_count_clusters(run, &n);
  if (n.total > 0) {
    /* Members hold credentials and DNS entries that only their unjoin removes. */
    fed_cond_set(run, C_READY, "False", "WaitingForClusters",
                 "deletion waits for %d FederatedCluster(s) of this Federation to be deleted (unjoined): %s", n.total,
                 n.names);
    fed_cond_set(run, C_PROGRESSING, "True", "WaitingForClusters", "%s", run->cond[C_READY].message);
    fed_write_status(run);
    return;
  }
  fed_set_finalizer(run, 0);
}

/* ---- reconcile ---- */

static void fed_reconcile(ctrl *c, const char *key, void *data) {
  fed_controller *f = data;
  fed_run *run = kf_calloc(1, sizeof(*run));
  kf_error err;
  (void)c;
  f->active++;
  run->f = f;
  run->key = kf_strdup(key);
  ctrl_split_key(key, &run->ns, &run->name);
  if (f->closing) {
    fed_finish(run);
    return;
  }
  if (!fed_controller_synced(f)) {
    /* As controller-runtime: decide nothing from a cache that is still filling. */
    run->requeue_ms = 200;
    fed_finish(run);
    return;
  }
  run->fed = informer_get(f->feds, run->ns, run->name);
  if (!run->fed) {
    fed_finish(run);
    return;
  }
  if (fed_spec_decode(run->fed, &run->spec, &err) != 0) {
    if (!run->spec.name || !run->spec.uid) {
      fed_finish(run);
      return;
    }
    fed_stop(run, 0, C_DEGRADED, "InvalidSpec", "%s", err.msg);
    return;
  }
  if (kc_obj_get(run->fed, "metadata.deletionTimestamp")) {
    fed_teardown(run);
    return;
  }
  if (run->spec.suspend) {
    fed_finish(run);
    return;
  }
  if (!kc_has_finalizer(run->fed, API_FINALIZER_TEARDOWN)) {
    fed_set_finalizer(run, 1);
    return;
  }
  fed_read_inputs(run);
}

/* Children are labelled with their Federation; FederatedClusters name it. */
static char *fed_map_child(json_object *obj, void *data) {
  const char *ns = kc_obj_str(obj, "metadata.namespace");
  const char *owner = kc_obj_key_str(kc_obj_get(obj, "metadata.labels"), API_LABEL_FEDERATION);
  (void)data;
  return (ns && owner) ? kf_asprintf("%s/%s", ns, owner) : NULL;
}

static char *fed_map_cluster(json_object *obj, void *data) {
  const char *ns = kc_obj_str(obj, "metadata.namespace");
  const char *fed = kc_obj_str(obj, "spec.federationRef.name");
  (void)data;
  return (ns && fed) ? kf_asprintf("%s/%s", ns, fed) : NULL;
}

fed_controller *fed_controller_new(uv_loop_t *loop, kc_client *c, const fed_options *o) {
  fed_controller *f = kf_calloc(1, sizeof(*f));
  f->loop = loop;
  f->c = c;
  f->access = o->access;
  f->metrics = o->metrics;
  f->events = o->events;
  ctrl_opts co = {.name = "federation", .reconcile = fed_reconcile, .data = f, .metrics = o->metrics};
  f->ctrl = ctrl_new(loop, &co);
  informer_handlers own = ctrl_handlers(f->ctrl, NULL, NULL);
  informer_opts fo = {.res = &API_FEDERATIONS, .namespace_ = o->namespace_, .resync_ms = 10 * 60 * 1000};
  f->feds = informer_new(c, &fo, &own);
  informer_set_metrics(f->feds, o->metrics);
  informer_handlers clusters = ctrl_handlers(f->ctrl, fed_map_cluster, NULL);
  informer_opts co2 = {.res = &API_FEDERATEDCLUSTERS, .namespace_ = o->namespace_};
  f->clusters = informer_new(c, &co2, &clusters);
  informer_set_metrics(f->clusters, o->metrics);
  const char *idx[] = {API_LABEL_FEDERATION, NULL};
  for (size_t i = 0; i < FED_NCHILDREN; i++) {
    informer_handlers children = ctrl_handlers(f->ctrl, fed_map_child, NULL);
    informer_opts so = {.res = FED_CHILDREN[i], .namespace_ = o->namespace_,
                        /* Member credential Secrets belong to the FederatedCluster controller. */
                        .label_selector = API_LABEL_MANAGED_BY "=" API_OPERATOR ",!kubefed.dev/cluster",
                        .index_labels = idx};
    f->children[i] = informer_new(c, &so, &children);
    informer_set_metrics(f->children[i], o->metrics);
  }
  return f;
}

void fed_controller_start_informers(fed_controller *f) {
  informer_start(f->feds);
  informer_start(f->clusters);
  for (size_t i = 0; i < FED_NCHILDREN; i++) informer_start(f->children[i]);
}

int fed_controller_synced(const fed_controller *f) {
  if (!informer_has_synced(f->feds) || !informer_has_synced(f->clusters)) return 0;
  for (size_t i = 0; i < FED_NCHILDREN; i++)
    if (!informer_has_synced(f->children[i])) return 0;
  return 1;
}

void fed_controller_start(fed_controller *f) { ctrl_start(f->ctrl); }

void fed_controller_close(fed_controller *f) {
  if (!f || f->closing) return;
  f->closing = 1;
  fed_maybe_free(f);
}
