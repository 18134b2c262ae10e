#include "federatedcluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kf/b64.h>
#include <kf/cond.h>
#include <kf/ctrl.h>
#include "clusterdns/clusterdns.h"
#include "federation/objects.h"
#include <kf/informer.h>
#include <kf/kj.h>
#include <kf/log.h>

#define FC_RESYNC_MS (10 * 60 * 1000)                 /* full join again, catching member drift */
#define FC_RETRY_MS 15000
#define FC_DNS_NS "kube-system"
#define FC_TOKEN_POLLS 20                             /* x FC_TOKEN_POLL_MS: 2 s */
#define FC_TOKEN_POLL_MS 100
#define FC_WORKERS 64                                 /* joins in flight: each mostly waits on I/O */
/* A member request that hangs (a black hole, an overloaded apiserver) holds a worker and delays
 * the condition saying so: each attempt is cut at FC_MEMBER_TIMEOUT_MS and retried once, so one
 * join step gives up within about 2 x 10 s (instead of 6 x 30 s), and the join stops there. */
#define FC_MEMBER_TIMEOUT_MS 10000
#define FC_MEMBER_ATTEMPTS 2

enum { C_JOINED, C_READY, C_OFFLINE, C_CREDS, C_DNS, C_N };
static const char *const FC_COND[C_N] = {"Joined", "Ready", "Offline", "CredentialsValid", "DNSConfigured"};

/* What the controller remembers of a member between reconciles (not in any cache). */
typedef struct fc_member {
  struct fc_member *next;
  char *key;
  char *fingerprint;   /* inputs of the last complete join */
  uint64_t joined_ms;
  /* Joined and DNSConfigured as that join set them: the probe-only reconciles repeat these, not
   * what the informer's copy of the status says, which may predate the join's own status write
   * (e.g. still the Pending of a join cut short by a crash) and would be written back. */
  cond joined, dns;
  int successes, failures;
  int ready, offline, probed;
  char *probe_error;
  char *version, *region;
  json_object *zones;              /* sorted, distinct zone names of the member's nodes */
  json_object *written;            /* our last status write as the API server returned it, until
                                      the informer's copy is as new (fc_read_own_write) */
} fc_member;

struct fc_controller {
  uv_loop_t *loop;
  kc_client *c;
  fed_access access;
  kf_metrics *metrics;
  ev_recorder *events;
  informer *fcs, *feds, *secrets;
  ctrl *ctrl;
  fc_member *members;
  int active, closing;
};

typedef struct fc_run fc_run;
typedef void (*fc_step)(fc_run *run);

struct fc_run {
  fc_controller *f;
  char *key, *ns, *name;
  json_object *fc, *fed;
  fc_spec spec;               /* borrows from fc */
  fc_member *m;
  const char *fed_name, *member_ns, *dns_mode;
  char *cred_name, *sa_name, *role_name, *token_name;
  int period_s, timeout_s, failure_threshold, success_threshold;
  int64_t generation;
  kcfg *member_cfg;
  kc_client *member, *fapi;
  char *fingerprint;
  char *token;
  int ns_ours;
  int deleting, force;
  char leftovers[512];
  cond cond[C_N];
  int rc;
  uint64_t requeue_ms;
  /* the step in flight and what comes after it */
  fc_step next;
  const kc_resource *res;
  char *obj_ns, *obj_name;
  json_object *desired;
  json_object *status_body;   /* the status apply, kept until it is sent */
  kc_client *target;
  int create_only;
  uv_timer_t *timer;          /* token polling; closed (and freed) by fc_finish */
  int ns_kind;                /* unjoin: which kind of namespace content is being listed */
  int token_polls;
};

static void fc_status(fc_run *run);
static void fc_probe(fc_run *run);
static int fc_federation_client(fc_run *run);

/* ---- helpers ---- */

static void fc_requeue(fc_run *run, uint64_t ms) {
  if (ms && (!run->requeue_ms || ms < run->requeue_ms)) run->requeue_ms = ms;
}

static void fc_cond_set(fc_run *run, int which, const char *status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fc_cond_set(fc_run *run, int which, const char *status, const char *reason, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cond_setv(&run->cond[which], status, reason, fmt, ap);
  va_end(ap);
}

static fc_member *fc_member_get(fc_controller *f, const char *key) {
  for (fc_member *m = f->members; m; m = m->next)
    if (strcmp(m->key, key) == 0) return m;
  fc_member *m = kf_calloc(1, sizeof(*m));
  m->key = kf_strdup(key);
  m->next = f->members;
  f->members = m;
  return m;
}

static void fc_member_free(fc_member *m) {
  cond_free(&m->joined);
  cond_free(&m->dns);
  free(m->key);
  free(m->fingerprint);
  free(m->probe_error);
  free(m->version);
  free(m->region);
  if (m->zones) json_object_put(m->zones);
  if (m->written) json_object_put(m->written);
  free(m);
}

static void fc_member_forget(fc_controller *f, const char *key) {
  for (fc_member **p = &f->members; *p; p = &(*p)->next) {
    if (strcmp((*p)->key, key) == 0) {
      fc_member *m = *p;
      *p = m->next;
      fc_member_free(m);
      return;
    }
  }
}

static void fc_maybe_free(fc_controller *f) {
  if (!f->closing || f->active) return;
  informer_close(f->fcs);
  informer_close(f->feds);
  informer_close(f->secrets);
  ctrl_close(f->ctrl);
  while (f->members) {
    fc_member *m = f->members;
    f->members = m->next;
    fc_member_free(m);
  }
  free(f);
}

static void fc_timer_closed(uv_handle_t *h) { free(h); }

static void fc_finish(fc_run *run) {
  fc_controller *f = run->f;
  ctrl_done(f->ctrl, run->key, run->rc, run->rc ? 0 : run->requeue_ms);
  free(run->key);
  free(run->ns);
  free(run->name);
  free(run->cred_name);
  free(run->sa_name);
  free(run->role_name);
  free(run->token_name);
  free(run->fingerprint);
  free(run->obj_ns);
  free(run->obj_name);
  if (run->token) kf_free_secret(run->token, strlen(run->token));
  kj_put_wiped(run->desired);  /* the credential and token Secrets pass through here */
  if (run->status_body) json_object_put(run->status_body);
  if (run->member_cfg) kcfg_free(run->member_cfg);
  if (run->timer) uv_close((uv_handle_t *)run->timer, fc_timer_closed);
  if (run->member) kc_client_close(run->member);
  if (run->fapi) kc_client_close(run->fapi);
  for (int i = 0; i < C_N; i++) cond_free(&run->cond[i]);
  if (run->fc) json_object_put(run->fc);
  if (run->fed) json_object_put(run->fed);
  free(run);
  f->active--;
  fc_maybe_free(f);
}

/* Stops the join at a problem; the condition says what, a Warning event too. */
static void fc_stop(fc_run *run, int rc, int which, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fc_stop(fc_run *run, int rc, int which, const char *reason, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  char *why = kf_strdup(reason);   /* reason may be a condition's own, replaced below */
  fc_cond_set(run, which, "False", why, "%s", buf);
  /* An unjoin that stops is blocked, not undone: the member is still joined (and says why). */
  if (which != C_JOINED && !run->cond[C_JOINED].set && run->deleting)
    fc_cond_set(run, C_JOINED, "True", "UnjoinBlocked", "unjoin waits until this is resolved: %s", buf);
  else if (which != C_JOINED && !run->cond[C_JOINED].set)
    fc_cond_set(run, C_JOINED, "False", why, "%s", buf);
  ev_emit(run->f->events, run->fc, "Warning", why, run->deleting ? "Unjoin" : "Join", "%s", buf);
  free(why);
  run->rc = rc;
  if (rc == 0) fc_requeue(run, FC_RETRY_MS);
  fc_status(run);
}

/* The member's ServiceAccount, RBAC and token, the host credential Secret and the Cluster exist. */
static void fc_set_joined(fc_run *run) {
  fc_cond_set(run, C_JOINED, "True", "Joined",
              "joined to Federation %s: credentials in Secret %s, Cluster %s in the federation API", run->fed_name,
              run->cred_name, run->name);
}

static json_object *fc_labels(const fc_run *run) {
  json_object *l = kj_obj();
  kj_str(l, API_LABEL_MANAGED_BY, API_OPERATOR);
  kj_str(l, API_LABEL_FEDERATION, run->fed_name);
  kj_str(l, API_LABEL_CLUSTER, run->name);
  return l;
}

static json_object *fc_object(const fc_run *run, const char *api_version, const char *kind, const char *ns,
                              const char *name) {
  json_object *o = kj_obj(), *meta = kj_obj();
  kj_str(o, "apiVersion", api_version);
  kj_str(o, "kind", kind);
  kj_str(meta, "name", name);
  if (ns) kj_str(meta, "namespace", ns);
  kj_set(meta, "labels", fc_labels(run));
  kj_set(o, "metadata", meta);
  return o;
}

static int fc_is_ours(json_object *obj, const fc_run *run) {
  json_object *l = kc_obj_get(obj, "metadata.labels");
  return kf_streq(kc_obj_key_str(l, API_LABEL_MANAGED_BY), API_OPERATOR) &&
         kf_streq(kc_obj_key_str(l, API_LABEL_FEDERATION), run->fed_name);
}

/* ---- ensure on any cluster: GET, then create or apply only what differs ---- */

static void fc_ensure_applied(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0 && !(rc == KC_ERR_EXISTS && run->create_only)) {
    fc_stop(run, rc == KC_ERR_INVALID || rc == KC_ERR_FORBIDDEN ? 0 : rc, C_JOINED, "ApplyFailed",
            "writing %s %s failed: %s", run->res->kind, run->obj_name, cond_error_text(err, "failed"));
    return;
  }
  kj_put_wiped(run->desired);
  run->desired = NULL;
  run->next(run);
}

static void fc_ensure_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  if (rc == 0 && kj_subset(run->desired, obj)) {
    kj_put_wiped(run->desired);
    run->desired = NULL;
    run->next(run);
    return;
  }
  if (rc == 0 && !fc_is_ours(obj, run) && strcmp(run->res->kind, "Namespace") != 0) {
    fc_stop(run, 0, C_JOINED, "NameConflict", "%s %s exists and is not managed by kubefed-operator; delete or rename it",
            run->res->kind, run->obj_name);
    return;
  }
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    fc_stop(run, rc, C_JOINED, "ReadFailed", "reading %s %s failed: %s", run->res->kind, run->obj_name, cond_error_text(err, "failed"));
    return;
  }
  if (run->create_only && rc == 0) {
    kj_put_wiped(run->desired);
    run->desired = NULL;
    run->next(run);
    return;
  }
  kc_apply(c, run->res, run->desired, NULL, fc_ensure_applied, run);
}

/* Makes desired (owned) exist on target, then runs next. create_only: an existing object is left as is. */
static void fc_ensure(fc_run *run, kc_client *target, const kc_resource *res, json_object *desired, int create_only,
                      fc_step next) {
  free(run->obj_ns);
  free(run->obj_name);
  const char *ns = kc_obj_str(desired, "metadata.namespace");
  run->obj_ns = ns ? kf_strdup(ns) : NULL;
  run->obj_name = kf_strdup(kc_obj_str(desired, "metadata.name"));
  run->res = res;
  run->desired = desired;
  run->next = next;
  run->target = target;
  run->create_only = create_only;
  kc_get(target, res, run->obj_ns, run->obj_name, fc_ensure_read, run);
}

/* ---- status ---- */

static void fc_fill_health(fc_run *run) {
  fc_member *m = run->m;
  if (!run->cond[C_READY].set) {
    if (!m->probed)
      fc_cond_set(run, C_READY, "Unknown", "NotProbed", "the member has not been probed yet");
    else if (m->ready)
      fc_cond_set(run, C_READY, "True", "Healthy", "the member's API server answers /readyz");
    else
      fc_cond_set(run, C_READY, "False", m->offline ? "Offline" : "NotReady", "the member's API server: %s",
                  m->probe_error ? m->probe_error : "not ready");
  }
  if (!run->cond[C_OFFLINE].set) {
    if (m->offline)
      /* Not the running count of failures: a message that changes at every probe is a status
       * write per probe, and each write an informer event that starts the next probe at once
       * (a probe storm instead of one per period). */
      fc_cond_set(run, C_OFFLINE, "True", "ProbeFailed", "failureThreshold (%d) consecutive probes failed: %s",
                  run->failure_threshold, m->probe_error ? m->probe_error : "");
    else
      fc_cond_set(run, C_OFFLINE, "False", "Reachable", "the member answers its health probes");
  }
  for (int i = 0; i < C_N; i++)
    if (!run->cond[i].set) fc_cond_set(run, i, "Unknown", "Pending", "not reached yet: an earlier step has not completed");
}

static void fc_status_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  if (rc == 0 && obj) {
    if (run->m->written) json_object_put(run->m->written);
    run->m->written = json_object_get(obj);
  }
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    KF_WARN("status write failed", "federatedcluster", run->key, "error", err ? err->msg : "");
    if (!run->rc) run->rc = rc;
  }
  fc_finish(run);
}

static void fc_write_own_status(fc_run *run) {
  kc_apply(run->f->c, &API_FEDERATEDCLUSTERS, run->status_body, "status", fc_status_written, run);
}

/* Ready/Offline mirrored onto the federation API's Cluster status (best effort), then our own. */
static void fc_cluster_status_done(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) KF_WARN("Cluster status not mirrored", "federatedcluster", run->key, "error", cond_error_text(err, "failed"));
  fc_write_own_status(run);
}

static void fc_status(fc_run *run) {
  fc_fill_health(run);
  json_object *fc = run->fc;
  fc_member *m = run->m;
  int changed = 0;
  json_object *list = cond_array(fc, FC_COND, run->cond, C_N, run->generation, &changed);
  json_object *old_og = kc_obj_get(fc, "status.observedGeneration");
  if (!old_og || json_object_get_int64(old_og) != run->generation ||
      (m->version && !kf_streq(m->version, kc_obj_str(fc, "status.kubernetesVersion"))) ||
      (m->region && !kf_streq(m->region, kc_obj_str(fc, "status.region"))) ||
      (m->zones && !kj_subset(m->zones, kc_obj_get(fc, "status.zones"))) ||
      (run->cred_name && !kf_streq(run->cred_name, kc_obj_str(fc, "status.credentialSecretRef.name"))))
    changed = 1;
  /* While deleting, status is reached only when the unjoin stopped at a problem: it is written,
   * so the user sees why the FederatedCluster stays. */
  if (!changed) {
    json_object_put(list);
    fc_finish(run);
    return;
  }
  json_object *st = kj_obj(), *body = kj_obj();
  char *now = cond_rfc3339(time(NULL));
  kj_int(st, "observedGeneration", run->generation);
  kj_set(st, "conditions", list);
  kj_str(st, "kubernetesVersion", m->version);
  kj_str(st, "region", m->region);
  kj_copy(st, "zones", m->zones);
  /* lastProbeTime is written with other changes only: a timestamp per probe would be a write per period. */
  if (m->probed) kj_str(st, "lastProbeTime", now);
  if (run->cred_name) kj_set(st, "credentialSecretRef", kj_str(kj_obj(), "name", run->cred_name));
  kj_str(body, "apiVersion", API_GROUP_VERSION);
  kj_str(body, "kind", "FederatedCluster");
  kj_set(body, "metadata", kj_str(kj_str(kj_obj(), "name", run->name), "namespace", run->ns));
  kj_set(body, "status", st);
  if (!run->fapi && run->fed) fc_federation_client(run);
  if (run->fapi) {
    json_object *cl = kj_obj(), *cst = kj_obj(), *conds = kj_arr();
    for (int i = C_READY; i <= C_OFFLINE; i++) {
      json_object *cj = kj_obj();
      kj_str(cj, "type", FC_COND[i]);
      kj_str(cj, "status", run->cond[i].status);
      kj_str(cj, "reason", run->cond[i].reason);
      kj_str(cj, "message", run->cond[i].message);
      kj_str(cj, "lastProbeTime", now);
      kj_push(conds, cj);
    }
    kj_set(cst, "conditions", conds);
    kj_str(cst, "region", m->region);
    kj_copy(cst, "zones", m->zones);
    kj_str(cl, "apiVersion", API_CLUSTER_GROUP_VERSION);
    kj_str(cl, "kind", "Cluster");
    kj_set(cl, "metadata", kj_str(kj_obj(), "name", run->name));
    kj_set(cl, "status", cst);
    run->status_body = body;
    kc_apply(run->fapi, &API_CLUSTERS, cl, "status", fc_cluster_status_done, run);
    json_object_put(cl);
    free(now);
    return;
  }
  free(now);
  run->status_body = body;
  fc_write_own_status(run);
}

/* ---- health ---- */

static void fc_probe_done(fc_run *run, int ok, const char *why) {
  fc_member *m = run->m;
  char labels[384];
  /* Per member, so a user (and the fault tests) can see each member keeps its probe period. */
  snprintf(labels, sizeof(labels), "federatedcluster=\"%s\",result=\"%s\"", run->key, ok ? "success" : "failure");
  kf_metrics_add(run->f->metrics, "member_probes_total", "Health probes of member API servers by result",
                 labels, 1);
  m->probed = 1;
  if (ok) {
    m->failures = 0;
    if (++m->successes >= run->success_threshold) {
      m->ready = 1;
      m->offline = 0;
    }
    free(m->probe_error);
    m->probe_error = NULL;
  } else {
    m->successes = 0;
    m->ready = 0;
    if (++m->failures >= run->failure_threshold) m->offline = 1;
    free(m->probe_error);
    m->probe_error = kf_strdup(why);
  }
  fc_requeue(run, (uint64_t)run->period_s * 1000);
  fc_status(run);
}

/* What a failed probe says in Ready/Offline: which limit it hit, in words that stay the same from
 * one probe to the next (a changing message would be a status write per period). */
static void fc_probe_failed(fc_run *run, int rc, const kf_error *err) {
  char why[640];
  if (rc == KC_ERR_TIMEOUT && (!err || !err->http_status))
    snprintf(why, sizeof(why), "no answer within spec.health.timeoutSeconds (%ds): timed out", run->timeout_s);
  else if (rc == KC_ERR_THROTTLED)
    snprintf(why, sizeof(why), "throttled by the member (HTTP 429): %s", cond_error_text(err, "429"));
  else
    snprintf(why, sizeof(why), "%s", cond_error_text(err, "failed"));
  fc_probe_done(run, 0, why);
}

static void fc_healthz(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  if (rc == 0 && !kf_streq(json_object_get_string(obj), "ok")) {
    fc_probe_done(run, 0, "/healthz did not answer ok");
    return;
  }
  if (rc != 0) fc_probe_failed(run, rc, err);
  else fc_probe_done(run, 1, NULL);
}

static void fc_readyz(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  if (rc == KC_ERR_NOTFOUND) {  /* older API servers: /healthz */
    kc_request r = {.method = "GET", .path = "/healthz", .timeout_ms = (uint64_t)run->timeout_s * 1000, .no_retry = 1};
    kc_do(c, &r, fc_healthz, run);
    return;
  }
  (void)obj;
  if (rc != 0) fc_probe_failed(run, rc, err);
  else fc_probe_done(run, 1, NULL);
}

static void fc_probe(fc_run *run) {
  kc_request r = {.method = "GET", .path = "/readyz", .timeout_ms = (uint64_t)run->timeout_s * 1000, .no_retry = 1};
  kc_do(run->member, &r, fc_readyz, run);
}

/* ---- join: the member's version, nodes, then health ---- */

static int fc_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void fc_nodes(kc_client *c, int rc, json_object *list, const kf_error *err, void *data) {
  fc_run *run = data;
  fc_member *m = run->m;
  (void)c;
  (void)err;
  if (rc == 0) {
    json_object *items = kc_obj_get(list, "items");
    size_t n = items ? json_object_array_length(items) : 0, k = 0;
    char **zones = kf_calloc(n + 1, sizeof(char *));
    free(m->region);
    m->region = NULL;
    for (size_t i = 0; i < n; i++) {
      json_object *labels = kc_obj_get(json_object_array_get_idx(items, i), "metadata.labels");
      const char *z = kc_obj_key_str(labels, "topology.kubernetes.io/zone");
      const char *r = kc_obj_key_str(labels, "topology.kubernetes.io/region");
      if (r && !m->region) m->region = kf_strdup(r);
      int dup = 0;
      for (size_t j = 0; z && j < k; j++) dup |= strcmp(zones[j], z) == 0;
      if (z && !dup) zones[k++] = (char *)z;
    }
    qsort(zones, k, sizeof(char *), fc_cmp_str);
    if (m->zones) json_object_put(m->zones);
    m->zones = kj_arr();
    for (size_t i = 0; i < k; i++) kj_push_str(m->zones, zones[i]);
    free(zones);
  }
  fc_set_joined(run);
  free(run->m->fingerprint);
  run->m->fingerprint = kf_strdup(run->fingerprint);
  run->m->joined_ms = uv_now(run->f->loop);
  cond_set(&m->joined, run->cond[C_JOINED].status, run->cond[C_JOINED].reason, "%s", run->cond[C_JOINED].message);
  if (run->cond[C_DNS].set)
    cond_set(&m->dns, run->cond[C_DNS].status, run->cond[C_DNS].reason, "%s", run->cond[C_DNS].message);
  else
    cond_free(&m->dns);
  fc_probe(run);
}

static void fc_version(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)err;
  if (rc == 0 && kc_obj_str(obj, "gitVersion")) {
    free(run->m->version);
    run->m->version = kf_strdup(kc_obj_str(obj, "gitVersion"));
  }
  kc_list_opts o = {.limit = 500};
  kc_list(c, &KC_NODES, NULL, &o, fc_nodes, run);
}

static void fc_member_facts(fc_run *run) {
  kc_request r = {.method = "GET", .path = "/version", .timeout_ms = 10000};
  kc_do(run->member, &r, fc_version, run);
}

/* ---- join: member DNS ---- */

static void fc_dns_entry(fc_run *run, clusterdns_entry *e, const char **ns_buf, size_t max) {
  json_object *nss = kc_obj_get(run->fed, "spec.dns.corednsNameservers");
  size_t n = 0;
  const char *provider = kc_obj_str(run->fed, "spec.dns.provider");
  for (size_t i = 0; nss && kf_streq(provider, "coredns") && i < json_object_array_length(nss) && n + 1 < max; i++)
    ns_buf[n++] = json_object_get_string(json_object_array_get_idx(nss, i));
  ns_buf[n] = NULL;
  e->federation = run->fed_name;
  e->zone = kc_obj_str(run->fed, "spec.dns.zoneName");
  e->nameservers = ns_buf;
}

/* Whether a kube-dns value is what it was before us, up to JSON formatting for stubDomains. */
static int fc_same_value(const char *key, const char *before, const char *now) {
  if (!now) return 0;
  if (strcmp(key, "stubDomains") != 0) return strcmp(before, now) == 0;
  json_object *a = json_tokener_parse(before), *b = json_tokener_parse(now);
  int same = a && b && json_object_equal(a, b);
  if (a) json_object_put(a);
  if (b) json_object_put(b);
  return same;
}

static void fc_dns_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0) {
    /* Forbidden (RBAC removed) is no transient error: no fast retry, a reason that says it. */
    fc_stop(run, rc == KC_ERR_FORBIDDEN ? 0 : rc, C_DNS, rc == KC_ERR_FORBIDDEN ? "DNSUpdateForbidden" : "DNSUpdateFailed",
            "updating the member's DNS ConfigMap failed (nothing was changed): %s", cond_error_text(err, "failed"));
    return;
  }
  if (run->deleting) {
    run->next(run);
    return;
  }
  fc_cond_set(run, C_DNS, "True", "Configured", "the member's cluster DNS forwards %s",
              kc_obj_str(run->fed, "spec.dns.zoneName"));
  fc_member_facts(run);
}

static void fc_dns_ok(fc_run *run, const char *what) {
  if (run->deleting) {
    run->next(run);
    return;
  }
  fc_cond_set(run, C_DNS, "True", "Configured", "%s", what);
  fc_member_facts(run);
}

/* Edits the CoreDNS Corefile (a marked block) or kube-dns keys; unjoin reverts exactly. */
static void fc_dns_configmap(kc_client *c, int rc, json_object *cm, const kf_error *err, void *data) {
  fc_run *run = data;
  const char *which = run->obj_name;
  int coredns = strcmp(which, "coredns") == 0;
  clusterdns_entry e;
  const char *nss[DNS_MAX_NAMESERVERS + 1];
  kf_error derr;
  fc_dns_entry(run, &e, nss, DNS_MAX_NAMESERVERS + 1);
  if (rc == KC_ERR_NOTFOUND && coredns && kf_streq(run->dns_mode, "Auto")) {
    free(run->obj_name);
    run->obj_name = kf_strdup("kube-dns");
    kc_get(c, &KC_CONFIGMAPS, FC_DNS_NS, "kube-dns", fc_dns_configmap, run);
    return;
  }
  if (rc == KC_ERR_NOTFOUND) {
    if (run->deleting) {
      run->next(run);
      return;
    }
    if (kf_streq(run->dns_mode, "Auto")) {
      fc_cond_set(run, C_DNS, "False", "NoClusterDNS",
                  "found neither ConfigMap kube-system/coredns nor kube-system/kube-dns in the member; set spec.dns.mode "
                  "to None to skip DNS");
      fc_member_facts(run);
      return;
    }
    fc_stop(run, 0, C_DNS, "DNSConfigMapMissing", "spec.dns.mode is %s but ConfigMap kube-system/%s does not exist",
            run->dns_mode, which);
    return;
  }
  if (rc != 0) {
    fc_stop(run, rc, C_DNS, "ReadFailed", "reading ConfigMap kube-system/%s failed: %s", which, cond_error_text(err, "failed"));
    return;
  }
  json_object *data_obj = kc_obj_get(cm, "data");
  if (coredns) {
    const char *corefile = kc_obj_key_str(data_obj, "Corefile");
    char *out = NULL;
    if (!corefile && !run->deleting) {
      /* A Corefile of only our block would break the member's cluster DNS. */
      fc_stop(run, 0, C_DNS, "CorefileMissing",
              "ConfigMap kube-system/coredns in the member has no Corefile key; left unchanged");
      return;
    }
    int r = run->deleting ? clusterdns_corefile_remove(corefile ? corefile : "", run->fed_name, &out, &derr)
                          : clusterdns_corefile_add(corefile ? corefile : "", &e, &out, &derr);
    if (r != 0) {
      fc_stop(run, 0, C_DNS, "CorefileConflict", "the member's Corefile was left unchanged: %s", derr.msg);
      return;
    }
    if (kf_streq(out, corefile)) {
      free(out);
      fc_dns_ok(run, "the member's CoreDNS Corefile forwards the federation zone");
      return;
    }
    /* An update with the resourceVersion read: a concurrent edit is a conflict, retried, never lost. */
    json_object *upd = json_object_get(cm);
    json_object *d = kc_obj_get(upd, "data");
    if (!d) kj_set(upd, "data", d = kj_obj());
    kj_str(d, "Corefile", out);
    free(out);
    kc_update(c, &KC_CONFIGMAPS, FC_DNS_NS, upd, NULL, fc_dns_written, run);
    json_object_put(upd);
    return;
  }
  char *created_key = kf_asprintf(API_ANNOTATION_CREATED_KEYS "%s", run->fed_name);
  char *original_key = kf_asprintf(API_ANNOTATION_ORIGINAL_KEYS "%s", run->fed_name);
  const char *created = kc_obj_key_str(kc_obj_get(cm, "metadata.annotations"), created_key);
  const char *original = kc_obj_key_str(kc_obj_get(cm, "metadata.annotations"), original_key);
  json_object *out = NULL;
  int r;
  if (run->deleting) {
    char *copy = kf_strdup(created ? created : ""), *save = NULL;
    const char *keys[4] = {NULL};
    int n = 0;
    for (char *k = strtok_r(copy, ",", &save); k && n < 3; k = strtok_r(NULL, ",", &save)) keys[n++] = k;
    r = clusterdns_kubedns_remove(data_obj, &e, keys, &out, &derr);
    free(copy);
  } else {
    r = clusterdns_kubedns_has(data_obj, &e) ? (out = NULL, 1) : clusterdns_kubedns_add(data_obj, &e, &out, &derr);
  }
  if (r < 0) {
    free(created_key);
    free(original_key);
    fc_stop(run, 0, C_DNS, "KubeDNSConflict", "the member's kube-dns ConfigMap was left unchanged: %s", derr.msg);
    return;
  }
  if (!out || json_object_object_length(out) == 0) {
    free(created_key);
    free(original_key);
    if (out) json_object_put(out);
    fc_dns_ok(run, "the member's kube-dns ConfigMap has the federation's entries");
    return;
  }
  /* Remember which keys did not exist before us (unjoin removes exactly those) and the exact
   * text of those that did (unjoin puts it back byte for byte when nothing else changed). */
  json_object *ann = kj_obj();
  if (!run->deleting && !created) {
    char keys[64] = "";
    json_object *orig = kj_obj();
    json_object_object_foreach(out, k, v) {
      (void)v;
      const char *before = kc_obj_key_str(data_obj, k);
      if (!before) snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s", keys[0] ? "," : "", k);
      else kj_str(orig, k, before);
    }
    kj_str(ann, created_key, keys);
    kj_str(ann, original_key, json_object_to_json_string_ext(orig, KC_JSON_FLAGS));
    json_object_put(orig);
  } else if (run->deleting) {
    kj_set(ann, created_key, NULL);
    kj_set(ann, original_key, NULL);
    json_object *orig = original ? json_tokener_parse(original) : NULL;
    json_object_object_foreach(out, k, v) {
      const char *before = kc_obj_key_str(orig, k);
      if (before && fc_same_value(k, before, json_object_get_string(v))) kj_str(out, k, before);
    }
    if (orig) json_object_put(orig);
  }
  free(original_key);
  json_object *patch = kj_obj();
  kj_set(patch, "metadata", kj_set(kj_obj(), "annotations", ann));
  kj_set(patch, "data", out);
  free(created_key);
  kc_patch(c, &KC_CONFIGMAPS, FC_DNS_NS, "kube-dns", KC_PATCH_MERGE, patch, NULL, fc_dns_written, run);
  json_object_put(patch);
}

static void fc_dns(fc_run *run) {
  if (!run->deleting) fc_set_joined(run);   /* a DNS problem from here on leaves it joined */
  if (kf_streq(run->dns_mode, "None")) {
    fc_dns_ok(run, "spec.dns.mode is None: the member's DNS is left alone");
    return;
  }
  free(run->obj_name);
  run->obj_name = kf_strdup(kf_streq(run->dns_mode, "KubeDNS") ? "kube-dns" : "coredns");
  kc_get(run->member, &KC_CONFIGMAPS, FC_DNS_NS, run->obj_name, fc_dns_configmap, run);
}

/* ---- join: the Cluster object in the federation API ---- */

static void fc_cluster(fc_run *run) {
  json_object *cl = kj_obj(), *meta = kj_obj(), *spec = kj_obj(), *addr = kj_obj();
  kj_str(cl, "apiVersion", API_CLUSTER_GROUP_VERSION);
  kj_str(cl, "kind", "Cluster");
  kj_str(meta, "name", run->name);
  kj_set(meta, "labels", fc_labels(run));
  kj_set(cl, "metadata", meta);
  kj_str(addr, "clientCIDR", "0.0.0.0/0");
  kj_str(addr, "serverAddress", run->member_cfg->server);
  kj_set(spec, "serverAddressByClientCIDRs", kj_push(kj_arr(), addr));
  kj_set(spec, "secretRef", kj_str(kj_obj(), "name", run->cred_name));
  kj_set(cl, "spec", spec);
  fc_ensure(run, run->fapi, &API_CLUSTERS, cl, 0, fc_dns);
}

/* A client for the federation API, from the Federation's admin kubeconfig. */
static int fc_federation_client(fc_run *run) {
  const char *ref = kc_obj_str(run->fed, "status.kubeconfigSecretRef.name");
  const char *endpoint = kc_obj_str(run->fed, "status.endpoint");
  json_object *secret = ref ? informer_get(run->f->secrets, run->ns, ref) : NULL;
  const char *b64 = secret ? kc_obj_key_str(kc_obj_get(secret, "data"), "kubeconfig") : NULL;
  char *text = NULL;
  size_t n;
  kcfg *cfg = NULL;
  int rc = -ENOENT;
  if (b64 && kf_b64_decode(b64, strlen(b64), &text, &n) == 0 &&
      kcfg_load_data(text, n, NULL, NULL, &cfg, NULL) == 0) {
    free(cfg->server);
    cfg->server = run->f->access == FED_ACCESS_ENDPOINT && endpoint
                      ? kf_strdup(endpoint)
                      : kf_asprintf("https://%s-apiserver.%s.svc:443", run->fed_name, run->ns);
    run->fapi = kc_client_derive(run->f->c, cfg, NULL);
    rc = run->fapi ? 0 : -EINVAL;
    if (run->fapi) kc_client_set_metrics(run->fapi, run->f->metrics);
    kcfg_free(cfg);
  }
  if (text) kf_free_secret(text, strlen(text));
  if (secret) json_object_put(secret);
  return rc;
}

/* ---- join: the host credential Secret ---- */

static void fc_host_secret(fc_run *run) {
  /* A minified kubeconfig: the member's server and CA, the federation's own token. */
  char *kubeconfig = fed_kubeconfig(run->name, run->sa_name, run->name, run->member_cfg->server,
                                    run->member_cfg->ca_pem, NULL, NULL, run->token);
  char *b64 = kf_b64_encode(kubeconfig, strlen(kubeconfig));
  kf_free_secret(kubeconfig, strlen(kubeconfig));
  json_object *s = fc_object(run, "v1", "Secret", run->ns, run->cred_name);
  json_object *owner = kj_obj();
  kj_str(owner, "apiVersion", API_GROUP_VERSION);
  kj_str(owner, "kind", "FederatedCluster");
  kj_str(owner, "name", run->name);
  kj_str(owner, "uid", kc_obj_str(run->fc, "metadata.uid"));
  kj_bool(owner, "controller", 1);
  kj_set(kc_obj_get(s, "metadata"), "ownerReferences", kj_push(kj_arr(), owner));
  kj_str(s, "type", "Opaque");
  kj_set(s, "data", kj_str(kj_obj(), "kubeconfig", b64));
  kf_free_secret(b64, strlen(b64));
  if (fc_federation_client(run) != 0) {
    kj_put_wiped(s);
    fc_stop(run, 0, C_JOINED, "WaitingForFederation",
            "the admin kubeconfig of Federation %s is not available yet (status.kubeconfigSecretRef)", run->fed_name);
    return;
  }
  fc_ensure(run, run->f->c, &KC_SECRETS, s, 0, fc_cluster);
}

/* ---- join: member ServiceAccount, RBAC and token ---- */

static void fc_token(fc_run *run);
static void fc_token_again(uv_timer_t *t);

static void fc_token_read(kc_client *c, int rc, json_object *secret, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  const char *b64 = rc == 0 ? kc_obj_key_str(kc_obj_get(secret, "data"), "token") : NULL;
  size_t n;
  if (!b64) {
    if (rc != 0 && rc != KC_ERR_NOTFOUND) {
      fc_stop(run, rc, C_JOINED, "ReadFailed", "reading the member token Secret failed: %s", cond_error_text(err, "failed"));
      return;
    }
    /* The member's token controller fills it within milliseconds: look again shortly, in
     * this reconcile, before reporting a wait (and writing status) at all. */
    if (run->token_polls++ < FC_TOKEN_POLLS) {
      if (!run->timer) {
        run->timer = kf_calloc(1, sizeof(uv_timer_t));
        uv_timer_init(run->f->loop, run->timer);
        run->timer->data = run;
      }
      uv_timer_start(run->timer, fc_token_again, FC_TOKEN_POLL_MS, 0);
      return;
    }
    fc_cond_set(run, C_JOINED, "False", "WaitingForToken",
                "waiting for the member's token controller to fill Secret %s/%s", run->member_ns, run->token_name);
    fc_requeue(run, 1000);
    fc_status(run);
    return;
  }
  if (kf_b64_decode(b64, strlen(b64), &run->token, &n) != 0) {
    fc_stop(run, 0, C_JOINED, "InvalidToken", "the member token Secret %s/%s holds no valid token", run->member_ns,
            run->token_name);
    return;
  }
  fc_host_secret(run);
}

static void fc_token(fc_run *run) {
  kc_get(run->member, &KC_SECRETS, run->member_ns, run->token_name, fc_token_read, run);
}

static void fc_token_again(uv_timer_t *t) { fc_token(t->data); }

static void fc_token_secret(fc_run *run) {
  /* Since 1.24 no token Secret is made for a ServiceAccount: ask for one explicitly. */
  json_object *s = fc_object(run, "v1", "Secret", run->member_ns, run->token_name);
  kj_set(kc_obj_get(s, "metadata"), "annotations", kj_str(kj_obj(), "kubernetes.io/service-account.name", run->sa_name));
  kj_str(s, "type", "kubernetes.io/service-account-token");
  fc_ensure(run, run->member, &KC_SECRETS, s, 1, fc_token);
}

json_object *fc_member_rules(void) {
  /* What the federation controller manager reads and writes in members, and nothing else. */
  static const char *const rules[][3] = {
      {"", "namespaces,configmaps,secrets,services,serviceaccounts", "get,list,watch,create,update,patch,delete"},
      {"", "events", "get,list,watch,create,patch"},
      {"", "nodes,pods", "get,list,watch"},
      {"apps", "deployments,replicasets,daemonsets,statefulsets", "get,list,watch,create,update,patch,delete"},
      {"batch", "jobs", "get,list,watch,create,update,patch,delete"},
      {"networking.k8s.io", "ingresses", "get,list,watch,create,update,patch,delete"},
      {"autoscaling", "horizontalpodautoscalers", "get,list,watch,create,update,patch,delete"},
  };
  json_object *arr = kj_arr();
  for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
    json_object *r = kj_obj();
    const char *names[3] = {"apiGroups", "resources", "verbs"};
    for (int k = 0; k < 3; k++) {
      json_object *list = kj_arr();
      char *copy = kf_strdup(rules[i][k]), *save = NULL;
      if (k == 0) kj_push_str(list, copy);
      else
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) kj_push_str(list, t);
      free(copy);
      kj_set(r, names[k], list);
    }
    kj_push(arr, r);
  }
  return arr;
}

static void fc_binding(fc_run *run) {
  json_object *b = fc_object(run, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", NULL, run->role_name);
  json_object *ref = kj_obj(), *subj = kj_obj();
  kj_str(ref, "apiGroup", "rbac.authorization.k8s.io");
  kj_str(ref, "kind", "ClusterRole");
  kj_str(ref, "name", run->role_name);
  kj_str(subj, "kind", "ServiceAccount");
  kj_str(subj, "name", run->sa_name);
  kj_str(subj, "namespace", run->member_ns);
  kj_set(b, "roleRef", ref);
  kj_set(b, "subjects", kj_push(kj_arr(), subj));
  fc_ensure(run, run->member, &KC_CLUSTERROLEBINDINGS, b, 0, fc_token_secret);
}

static void fc_role(fc_run *run) {
  json_object *r = fc_object(run, "rbac.authorization.k8s.io/v1", "ClusterRole", NULL, run->role_name);
  kj_set(r, "rules", fc_member_rules());
  fc_ensure(run, run->member, &KC_CLUSTERROLES, r, 0, fc_binding);
}

static void fc_service_account(fc_run *run) {
  fc_ensure(run, run->member, &KC_SERVICEACCOUNTS, fc_object(run, "v1", "ServiceAccount", run->member_ns, run->sa_name),
            0, fc_role);
}

static void fc_namespace_read(kc_client *c, int rc, json_object *ns, const kf_error *err, void *data) {
  fc_run *run = data;
  if (rc == 0) {
    run->ns_ours = fc_is_ours(ns, run);
    fc_service_account(run);
  } else if (rc == KC_ERR_NOTFOUND) {
    /* Created by us (labelled so): unjoin may remove it, if it holds nothing else. */
    json_object *o = fc_object(run, "v1", "Namespace", NULL, run->member_ns);
    run->ns_ours = 1;
    fc_ensure(run, c, &KC_NAMESPACES, o, 1, fc_service_account);
  } else {
    fc_cond_set(run, C_READY, "False", "Unreachable", "the member's API server: %s", cond_error_text(err, "failed"));
    fc_stop(run, rc == KC_ERR_FORBIDDEN || rc == KC_ERR_UNAUTHORIZED ? 0 : rc, C_CREDS,
            rc == KC_ERR_FORBIDDEN || rc == KC_ERR_UNAUTHORIZED ? "CredentialsRefused" : "MemberUnreachable",
            "reading namespace %s in the member with the supplied credentials failed: %s", run->member_ns, cond_error_text(err, "failed"));
  }
}

static void fc_join(fc_run *run) {
  kc_get(run->member, &KC_NAMESPACES, NULL, run->member_ns, fc_namespace_read, run);
}

/* ---- unjoin ---- */

static void fc_note_left(fc_run *run, const char *what) {
  size_t used = strlen(run->leftovers);
  snprintf(run->leftovers + used, sizeof(run->leftovers) - used, "%s%s", used ? ", " : "", what);
}

static void fc_finalizer_removed(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  /* Conflict: the uid precondition failed, so the object unjoined here is gone already (this
   * was a second pass from a cache that had not seen the first one's removal yet). */
  if (rc != 0 && rc != KC_ERR_NOTFOUND && rc != KC_ERR_CONFLICT) {
    KF_WARN("finalizer removal failed", "federatedcluster", run->key, "error", err ? err->msg : "");
    run->rc = rc;
  } else {
    fc_member_forget(run->f, run->key);
    run->m = NULL;
    KF_INFO("unjoined", "federatedcluster", run->key);
  }
  fc_finish(run);
}

static void fc_set_finalizer(fc_run *run, int present, kc_cb done) {
  kc_apply_finalizer(run->f->c, &API_FEDERATEDCLUSTERS, run->ns, run->name, kc_obj_str(run->fc, "metadata.uid"),
                     present ? API_FINALIZER_UNJOIN : NULL, done, run);
}

static void fc_unjoin_host(fc_run *run);

static void fc_deleted(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    char *what = kf_asprintf("%s %s (%s)", run->res->kind, run->obj_name, cond_error_text(err, "failed"));
    fc_note_left(run, what);
    free(what);
  }
  run->next(run);
}

/* Deletes an object only if it carries our labels, with a UID precondition. */
static void fc_delete_if_ours_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  if (rc == KC_ERR_NOTFOUND || (rc == 0 && !fc_is_ours(obj, run))) {
    run->next(run);
    return;
  }
  if (rc != 0) {
    fc_deleted(c, rc, NULL, err, run);
    return;
  }
  kc_delete_opts o = {.precondition_uid = kc_obj_str(obj, "metadata.uid"), .propagation_policy = "Background"};
  kc_delete(c, run->res, run->obj_ns, run->obj_name, &o, fc_deleted, run);
}

static void fc_delete_ours(fc_run *run, kc_client *target, const kc_resource *res, const char *ns, const char *name,
                           fc_step next) {
  free(run->obj_ns);
  free(run->obj_name);
  run->obj_ns = ns ? kf_strdup(ns) : NULL;
  run->obj_name = kf_strdup(name);
  run->res = res;
  run->next = next;
  kc_get(target, res, ns, name, fc_delete_if_ours_read, run);
}

static void fc_unjoin_host_done(fc_run *run) {
  if (run->leftovers[0]) {
    ev_emit(run->f->events, run->fc, "Warning", "ForcedUnjoin", "Unjoin",
            "unjoined with %s: left behind in the member or federation API: %s", API_ANNOTATION_FORCE_UNJOIN, run->leftovers);
  }
  fc_set_finalizer(run, 0, fc_finalizer_removed);
}

static void fc_unjoin_host(fc_run *run) {
  fc_delete_ours(run, run->f->c, &KC_SECRETS, run->ns, run->cred_name, fc_unjoin_host_done);
}

/* What Kubernetes itself puts in every namespace; anything else is somebody's and keeps it. */
static int fc_ns_default_object(const kc_resource *res, const char *name) {
  return (res == &KC_CONFIGMAPS && kf_streq(name, "kube-root-ca.crt")) ||
         (res == &KC_SERVICEACCOUNTS && kf_streq(name, "default"));
}

static const kc_resource *const FC_NS_CONTENT[] = {&KC_CONFIGMAPS, &KC_SECRETS,     &KC_SERVICEACCOUNTS,
                                                   &KC_SERVICES,   &KC_DEPLOYMENTS, &KC_PVCS};
#define FC_NS_KINDS (int)(sizeof(FC_NS_CONTENT) / sizeof(FC_NS_CONTENT[0]))

static void fc_ns_content(kc_client *c, int rc, json_object *list, const kf_error *err, void *data);

static void fc_ns_deleted_next(fc_run *run) { fc_unjoin_host(run); }

static void fc_ns_list_next(fc_run *run) {
  if (run->ns_kind == FC_NS_KINDS) {
    /* Nothing but Kubernetes' defaults: the namespace goes, if we created it (labelled ours). */
    fc_delete_ours(run, run->member, &KC_NAMESPACES, NULL, run->member_ns, fc_ns_deleted_next);
    return;
  }
  kc_list_opts o = {.limit = 20};
  kc_list(run->member, FC_NS_CONTENT[run->ns_kind], run->member_ns, &o, fc_ns_content, run);
}

/* The member namespace goes only if it holds nothing but what Kubernetes puts there. */
static void fc_unjoin_namespace(fc_run *run) {
  if (!run->member) {
    fc_unjoin_host(run);
    return;
  }
  run->ns_kind = 0;
  fc_ns_list_next(run);
}

static void fc_ns_content(kc_client *c, int rc, json_object *list, const kf_error *err, void *data) {
  fc_run *run = data;
  int others = 0;
  (void)c;
  (void)err;
  json_object *items = rc == 0 ? kc_obj_get(list, "items") : NULL;
  for (size_t i = 0; items && i < json_object_array_length(items); i++) {
    json_object *o = json_object_array_get_idx(items, i);
    const char *name = kc_obj_str(o, "metadata.name");
    /* Service-account token Secrets of the default account come and go with it. */
    if (!fc_ns_default_object(FC_NS_CONTENT[run->ns_kind], name) &&
        !kf_streq(kc_obj_str(o, "type"), "kubernetes.io/service-account-token"))
      others++;
  }
  if (rc != 0 || others) {
    fc_unjoin_host(run);   /* somebody's objects live there: keep the namespace */
    return;
  }
  run->ns_kind++;
  fc_ns_list_next(run);
}

static void fc_unjoin_sa(fc_run *run) {
  if (!run->member) {
    fc_unjoin_host(run);
    return;
  }
  fc_delete_ours(run, run->member, &KC_SERVICEACCOUNTS, run->member_ns, run->sa_name, fc_unjoin_namespace);
}
static void fc_unjoin_token(fc_run *run) {
  fc_delete_ours(run, run->member, &KC_SECRETS, run->member_ns, run->token_name, fc_unjoin_sa);
}
static void fc_unjoin_crb(fc_run *run) {
  fc_delete_ours(run, run->member, &KC_CLUSTERROLEBINDINGS, NULL, run->role_name, fc_unjoin_token);
}
static void fc_unjoin_cr(fc_run *run) {
  fc_delete_ours(run, run->member, &KC_CLUSTERROLES, NULL, run->role_name, fc_unjoin_crb);
}

static void fc_unjoin_member(fc_run *run) {
  if (!run->member) {
    fc_note_left(run, "everything in the member (unreachable)");
    fc_unjoin_host(run);
    return;
  }
  run->next = fc_unjoin_cr;
  fc_dns(run);
}

static void fc_unjoin_member_check(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0 && !run->force) {
    fc_cond_set(run, C_JOINED, "True", "UnjoinBlocked",
                "unjoin waits for the member to be reachable (%s); set the annotation %s: \"true\" to finish on the "
                "host side only",
                cond_error_text(err, "failed"), API_ANNOTATION_FORCE_UNJOIN);
    ev_emit(run->f->events, run->fc, "Warning", "UnjoinBlocked", "Unjoin", "%s", run->cond[C_JOINED].message);
    fc_requeue(run, FC_RETRY_MS);
    run->deleting = 0;   /* so status is written */
    fc_status(run);
    return;
  }
  if (rc != 0) {
    kc_client_close(run->member);
    run->member = NULL;
  }
  fc_unjoin_member(run);
}

static void fc_unjoin_cluster(fc_run *run) {
  kc_request r = {.method = "GET", .path = "/readyz", .timeout_ms = 5000, .no_retry = 1};
  if (!run->member) {
    fc_unjoin_member_check(NULL, -EINVAL, NULL, NULL, run);
    return;
  }
  kc_do(run->member, &r, fc_unjoin_member_check, run);
}

static void fc_unjoin(fc_run *run) {
  if (run->fed && fc_federation_client(run) == 0) {
    fc_delete_ours(run, run->fapi, &API_CLUSTERS, NULL, run->name, fc_unjoin_cluster);
    return;
  }
  fc_unjoin_cluster(run);
}

/* ---- reconcile ---- */

static void fc_finalizer_added(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  if (rc == KC_ERR_CONFLICT) {
    /* The uid precondition failed: this FederatedCluster is gone (or replaced; its own event
     * reconciles the new one). Nothing was joined for it yet. */
    fc_finish(run);
    return;
  }
  if (rc != 0) {
    KF_WARN("adding the finalizer failed", "federatedcluster", run->key, "error", err ? err->msg : "");
    run->rc = rc;
    fc_finish(run);
    return;
  }
  fc_join(run);
}

/* A resourceVersion as a number (etcd's revision, in practice), or 0 when it is not one; compared
 * only to order our own write against the informer's copy, as client-go's MutationCache does. */
static unsigned long long fc_rv(json_object *o) {
  const char *rv = kc_obj_str(o, "metadata.resourceVersion");
  char *end = NULL;
  unsigned long long n = rv && rv[0] ? strtoull(rv, &end, 10) : 0;
  return end && *end == '\0' ? n : 0;
}

/* Read-after-write for our own status writes. The informer sees a write only when its watch
 * event arrives; a reconcile of the member starting before that (a probe requeued while the
 * write was in flight) would compare against the old status and write the same status again.
 * So while the cache is older than what our last write returned, that object stands in for it. */
static void fc_read_own_write(fc_run *run) {
  fc_member *m = run->m;
  if (!m->written) return;
  unsigned long long w = fc_rv(m->written), cached = fc_rv(run->fc);
  json_object *copy = NULL;
  if (w && cached && w > cached &&
      kf_streq(kc_obj_str(m->written, "metadata.uid"), kc_obj_str(run->fc, "metadata.uid")) &&
      json_object_deep_copy(m->written, &copy, NULL) == 0) {
    json_object_put(run->fc);
    run->fc = copy;
    return;
  }
  json_object_put(m->written);  /* the cache has caught up (or moved on): trust it again */
  m->written = NULL;
}

/* Loads the member kubeconfig; 0 or a condition already set. */
static int fc_member_credentials(fc_run *run) {
  const char *secret_name = run->spec.secret_name, *key = run->spec.secret_key;
  json_object *secret = informer_get(run->f->secrets, run->ns, secret_name);
  const char *b64 = secret ? kc_obj_key_str(kc_obj_get(secret, "data"), key) : NULL;
  char *text = NULL;
  size_t n;
  kf_error err;
  int rc = -EINVAL;
  if (!secret) {
    fc_cond_set(run, C_CREDS, "False", "SecretNotFound", "spec.kubeconfigSecretRef: Secret %s not found in namespace %s",
                secret_name, run->ns);
  } else if (!b64 || kf_b64_decode(b64, strlen(b64), &text, &n) != 0) {
    fc_cond_set(run, C_CREDS, "False", "KeyNotFound", "spec.kubeconfigSecretRef: Secret %s has no key %s", secret_name,
                key);
  } else if ((rc = kcfg_load_data(text, n, NULL, run->spec.context, &run->member_cfg, &err)) != 0) {
    fc_cond_set(run, C_CREDS, "False", rc == -ENOTSUP ? "UnsupportedCredentials" : "InvalidKubeconfig",
                "spec.kubeconfigSecretRef: Secret %s key %s: %s. Supply a kubeconfig with a token or a client "
                "certificate embedded (-data fields), e.g. a ServiceAccount token",
                secret_name, key, err.msg);
  } else {
    fc_cond_set(run, C_CREDS, "True", "Loaded", "kubeconfig from Secret %s, context %s, server %s", secret_name,
                run->member_cfg->context, run->member_cfg->server);
    run->member = kc_client_derive(run->f->c, run->member_cfg, &err);
    if (run->member) {
      kc_client_set_metrics(run->member, run->f->metrics);
      kc_client_set_limits(run->member, FC_MEMBER_TIMEOUT_MS, FC_MEMBER_ATTEMPTS);
    }
    if (!run->member) {
      fc_cond_set(run, C_CREDS, "False", "InvalidKubeconfig", "spec.kubeconfigSecretRef: Secret %s: %s", secret_name,
                  err.msg);
      rc = -EINVAL;
    }
  }
  /* What a join depends on: a change to any of these runs the full join again. */
  const char *cred_rv = NULL;
  json_object *cred = informer_get(run->f->secrets, run->ns, run->cred_name);
  if (cred) cred_rv = kc_obj_str(cred, "metadata.resourceVersion");
  /* metadata.generation is a JSON number: read as a string it was always "-", so a Federation
   * change (DNS zone, nameservers) reached joined members only at the 10-minute resync. */
  json_object *fed_gen = kc_obj_get(run->fed, "metadata.generation");
  run->fingerprint = kf_asprintf("%lld/%s/%s/%lld/%s", (long long)run->generation,
                                 secret ? kc_obj_str(secret, "metadata.resourceVersion") : "-",
                                 cred_rv ? cred_rv : "-", fed_gen ? (long long)json_object_get_int64(fed_gen) : -1LL,
                                 kc_obj_str(run->fed, "status.endpoint") ? kc_obj_str(run->fed, "status.endpoint") : "-");
  if (cred) json_object_put(cred);
  if (text) kf_free_secret(text, n);
  if (secret) json_object_put(secret);
  return rc;
}

static int fc_federation_serving(json_object *fed) {
  json_object *conds = kc_obj_get(fed, "status.conditions");
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (kf_streq(kc_obj_str(c, "type"), "APIServerReady")) return kf_streq(kc_obj_str(c, "status"), "True");
  }
  return 0;
}

static void fc_reconcile(ctrl *c, const char *key, void *data) {
  fc_controller *f = data;
  fc_run *run = kf_calloc(1, sizeof(*run));
  (void)c;
  f->active++;
  run->f = f;
  run->key = kf_strdup(key);
  ctrl_split_key(key, &run->ns, &run->name);
  if (f->closing || !fc_controller_synced(f)) {
    run->requeue_ms = f->closing ? 0 : 200;
    fc_finish(run);
    return;
  }
  run->fc = informer_get(f->fcs, run->ns, run->name);
  if (!run->fc) {
    fc_member_forget(f, key);
    fc_finish(run);
    return;
  }
  run->m = fc_member_get(f, key);
  fc_read_own_write(run);  /* may replace run->fc: decode after it */
  /* The informer holds JSON objects only, so this cannot fail; the spec borrows from run->fc. */
  if (fc_spec_decode(run->fc, &run->spec, NULL) != 0) {
    fc_finish(run);
    return;
  }
  run->fed_name = run->spec.fed_name;
  run->member_ns = run->spec.member_ns;
  run->dns_mode = run->spec.dns_mode;
  run->period_s = run->spec.period_s;
  run->timeout_s = run->spec.timeout_s;
  run->failure_threshold = run->spec.failure_threshold;
  run->success_threshold = run->spec.success_threshold;
  run->generation = run->spec.generation;
  run->cred_name = run->spec.cred_secret ? kf_strdup(run->spec.cred_secret) : kf_asprintf("%s-credentials", run->name);
  /* Per federation and member name: one member may join several federations, or one
   * federation twice under two names, and each unjoin removes only its own objects. */
  const char *fed_name = run->fed_name ? run->fed_name : "";
  run->sa_name = kf_asprintf("kubefed-%s-%s", fed_name, run->name);
  run->role_name = kf_asprintf("kubefed.dev:%s:%s", fed_name, run->name);
  run->token_name = kf_asprintf("kubefed-%s-%s-token", fed_name, run->name);
  run->fed = run->fed_name ? informer_get(f->feds, run->ns, run->fed_name) : NULL;
  run->deleting = run->spec.deleting;
  run->force = run->spec.force;

  int creds = fc_member_credentials(run);
  if (run->deleting) {
    if (!kc_has_finalizer(run->fc, API_FINALIZER_UNJOIN)) {
      fc_finish(run);
      return;
    }
    fc_unjoin(run);
    return;
  }
  if (creds != 0) {
    fc_stop(run, 0, C_CREDS, run->cond[C_CREDS].reason, "%s", run->cond[C_CREDS].message);
    return;
  }
  if (!run->fed) {
    fc_stop(run, 0, C_JOINED, "FederationNotFound", "spec.federationRef: Federation %s not found in namespace %s",
            run->fed_name, run->ns);
    return;
  }
  if (!fc_federation_serving(run->fed)) {
    fc_cond_set(run, C_JOINED, "False", "WaitingForFederation",
                "Federation %s is not serving yet (its APIServerReady condition is not True)", run->fed_name);
    fc_status(run);  /* the Federation's status change enqueues us again */
    return;
  }
  if (!kc_has_finalizer(run->fc, API_FINALIZER_UNJOIN)) {
    fc_set_finalizer(run, 1, fc_finalizer_added);
    return;
  }
  fc_member *m = run->m;
  if (m->fingerprint && strcmp(m->fingerprint, run->fingerprint) == 0 &&
      uv_now(f->loop) - m->joined_ms < FC_RESYNC_MS) {
    /* Joined with these inputs: keep the conditions that join set, and just probe. */
    fc_cond_set(run, C_JOINED, m->joined.status, m->joined.reason, "%s", m->joined.message);
    if (m->dns.set) fc_cond_set(run, C_DNS, m->dns.status, m->dns.reason, "%s", m->dns.message);
    fc_probe(run);
    return;
  }
  fc_join(run);
}

/* FederatedClusters are enqueued by their own events, their Federation's and their Secrets'. */
typedef struct fc_map_ctx {
  fc_controller *f;
  const char *ns, *name;
  int by_fed;
} fc_map_ctx;

static void fc_enqueue_matching(json_object *fc, void *data) {
  fc_map_ctx *x = data;
  const char *ns = kc_obj_str(fc, "metadata.namespace");
  const char *ref = x->by_fed ? kc_obj_str(fc, "spec.federationRef.name") : kc_obj_str(fc, "spec.kubeconfigSecretRef.name");
  if (!kf_streq(ns, x->ns) || !kf_streq(ref, x->name)) return;
  char *key = informer_key_of(fc);
  ctrl_enqueue(x->f->ctrl, key);
  free(key);
}

static char *fc_map_federation(json_object *fed, void *data) {
  fc_map_ctx x = {data, kc_obj_str(fed, "metadata.namespace"), kc_obj_str(fed, "metadata.name"), 1};
  informer_foreach(x.f->fcs, fc_enqueue_matching, &x);
  return NULL;
}

static char *fc_map_secret(json_object *secret, void *data) {
  fc_controller *f = data;
  const char *cluster = kc_obj_key_str(kc_obj_get(secret, "metadata.labels"), API_LABEL_CLUSTER);
  const char *ns = kc_obj_str(secret, "metadata.namespace");
  if (cluster && ns) return kf_asprintf("%s/%s", ns, cluster);
  fc_map_ctx x = {f, ns, kc_obj_str(secret, "metadata.name"), 0};
  informer_foreach(f->fcs, fc_enqueue_matching, &x);
  return NULL;
}

fc_controller *fc_controller_new(uv_loop_t *loop, kc_client *c, const fed_options *o) {
  fc_controller *f = kf_calloc(1, sizeof(*f));
  f->loop = loop;
  f->c = c;
  f->access = o->access;
  f->metrics = o->metrics;
  f->events = o->events;
  ctrl_opts co = {.name = "federatedcluster", .reconcile = fc_reconcile, .data = f, .metrics = o->metrics,
                  .workers = FC_WORKERS};
  f->ctrl = ctrl_new(loop, &co);
  informer_handlers own = ctrl_handlers(f->ctrl, NULL, NULL);
  informer_opts fo = {.res = &API_FEDERATEDCLUSTERS, .namespace_ = o->namespace_, .resync_ms = FC_RESYNC_MS};
  f->fcs = informer_new(c, &fo, &own);
  informer_handlers feds = ctrl_handlers(f->ctrl, fc_map_federation, f);
  informer_opts fdo = {.res = &API_FEDERATIONS, .namespace_ = o->namespace_};
  f->feds = informer_new(c, &fdo, &feds);
  /* Member kubeconfig Secrets are the user's (unlabelled): watch the namespace's Secrets so a
   * rotated credential is picked up at once. */
  informer_handlers secrets = ctrl_handlers(f->ctrl, fc_map_secret, f);
  informer_opts so = {.res = &KC_SECRETS, .namespace_ = o->namespace_};
  f->secrets = informer_new(c, &so, &secrets);
  informer_set_metrics(f->fcs, o->metrics);
  informer_set_metrics(f->feds, o->metrics);
  informer_set_metrics(f->secrets, o->metrics);
  return f;
}

void fc_controller_start_informers(fc_controller *f) {
  informer_start(f->fcs);
  informer_start(f->feds);
  informer_start(f->secrets);
}

int fc_controller_synced(const fc_controller *f) {
  return informer_has_synced(f->fcs) && informer_has_synced(f->feds) && informer_has_synced(f->secrets);
}

void fc_controller_start(fc_controller *f) { ctrl_start(f->ctrl); }

void fc_controller_close(fc_controller *f) {
  if (!f || f->closing) return;
  f->closing = 1;
  fc_maybe_free(f);
}
