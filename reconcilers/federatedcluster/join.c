/* The join, level-based: every reconcile makes each object true (apply_ensure writes only what
 * differs, reading the member's watch caches when they have the object), so drift a member watch
 * reports is undone by the same code that joined it.
 *
 *   JOIN             the steps table, in kubefed v1's order (member, host, federation API: the
 *                    credential Secret and the Cluster, then DNS)
 *   fc_applied       one callback for every apply: next step, or the condition that says why not
 *   token            read from the cache, else GET; polled briefly while the member fills it
 *   facts            the member's version, region and zones for status
 *   fc_join          a member that is not healthy keeps the join's conditions: probe only */
#include <stdlib.h>
#include <string.h>

#include <kf/b64.h>
#include <kf/log.h>

#include "fc.h"

static void fc_set_joined(fc_run *run) {
  fc_cond_set(run, C_JOINED, "True", "Joined",
              "joined to Federation %s: credentials in Secret %s, Cluster %s in the federation API", run->spec.fed_name,
              run->names.cred, run->name);
}

/* ---- applies ---- */

typedef struct fc_apply_ctx {
  fc_run *run;
  const char *kind;
  char *name; /* the desired object's, for the condition message */
} fc_apply_ctx;

static void fc_applied(const apply_result *r, void *data) {
  fc_apply_ctx x = *(fc_apply_ctx *)data;
  fc_run *run = x.run;
  free(data);
  if (r->rc == 0) {
    steps_next(&run->steps);
  } else if (r->rc == APPLY_ERR_NOT_OURS) {
    fc_stop(run, 0, C_JOINED, "NameConflict", "%s %s exists and is not managed by %s; delete or rename it", x.kind,
            x.name, API_OPERATOR);
  } else {
    int reading = kf_streq(r->step, "read");
    fc_stop(run, kc_err_terminal(r->rc) ? 0 : r->rc, C_JOINED, reading ? "ReadFailed" : "ApplyFailed",
            "%s %s %s failed: %s", reading ? "reading" : "writing", x.kind, x.name, cond_error_text(r->err, "failed"));
  }
  free(x.name);
}

/* Ensures desired (taken) with o, then the next step. */
static void fc_ensure(fc_run *run, const apply_opts *o, json_object *desired) {
  fc_apply_ctx *x = kf_calloc(1, sizeof(*x));
  x->run = run;
  x->kind = o->res->kind;
  const char *name = kc_obj_str(desired, "metadata.name");
  x->name = name ? kf_strdup(name) : NULL;
  int rc = apply_ensure(o, desired, fc_applied, x);
  if (rc != 0) {
    free(x->name);
    free(x);
    fc_stop(run, kc_err_terminal(rc) ? 0 : rc, C_JOINED, "ApplyFailed", "writing %s failed: could not start (%d)",
            o->res->kind, rc);
  }
}

/* ---- member objects ---- */

static void fc_namespace_read(kc_client *c, int rc, json_object *ns, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)ns;
  if (rc == 0) {
    steps_next(&run->steps);
  } else if (rc == KC_ERR_NOTFOUND) {
    /* Create only: an existing namespace (the user's, or ours) is used as it is. */
    apply_opts o = fc_apply_opts(run, run->member, &KC_NAMESPACES, -1);
    o.owner_labels = NULL;
    o.mode = APPLY_CREATE_ONLY;
    fc_ensure(run, &o, fc_desired_namespace(&run->spec));
  } else {
    int terminal = kc_err_terminal(rc);
    fc_cond_set(run, C_READY, "False", "Unreachable", "the member's API server: %s", cond_error_text(err, "failed"));
    fc_stop(run, terminal ? 0 : rc, C_CREDS, terminal ? "CredentialsRefused" : "MemberUnreachable",
            "reading namespace %s in the member with the supplied credentials failed: %s", run->spec.member_ns,
            cond_error_text(err, "failed"));
  }
}

/* A reconcile of a generation already joined (a drift event, a probe's verdict), or one whose
 * namespace and ServiceAccount this process applied (the join's next reconcile, once the token is
 * there), whose member's token Secret is in the watch cache with its token: the member's token
 * controller filled it for our ServiceAccount, and removes it when that ServiceAccount goes (a
 * namespace takes both with it), so the namespace and the ServiceAccount exist and the cache
 * answers for them. A reconcile while the join quietly waits for that token (its own status
 * write, an event of the member's watches) takes them as applied moments ago: the wait is short
 * (FC_TOKEN_QUIET_MS), and the pass after it asks the member again. A new generation (a spec
 * change) is a full join that asks the member. */
static int fc_sa_proven(fc_run *run) {
  json_object *og = kc_obj_get(run->fc, "status.observedGeneration");
  json_object *joined = cond_find(run->fc, "Joined");
  const fc_health *h = clusters_data(run->f->members, run->key);
  int applied_here = h && h->sa_generation == run->spec.generation;
  if (applied_here && h->token_wait_ms && uv_now(run->f->loop) - h->token_wait_ms < FC_TOKEN_QUIET_MS) return 1;
  if (!applied_here &&
      (!og || json_object_get_int64(og) != run->spec.generation || !kf_streq(kc_obj_str(joined, "status"), "True")))
    return 0;
  const informer *cache = clusters_cache(run->f->members, run->key, W_SECRETS);
  json_object *secret = cache ? informer_get(cache, run->spec.member_ns, run->names.token) : NULL;
  int proven = secret && kc_obj_key_str(kc_obj_get(secret, "data"), "token") && apply_is_ours(secret, run->owner);
  if (secret) json_object_put(secret);
  return proven;
}

/* The first pass of a first join in this process (no Joined condition yet): the member's
 * ServiceAccount, ClusterRole and binding are most likely absent, so they are created without a
 * read first (a 409 reads them then). Later passes read, or take the drift watches' caches. */
static int fc_first_pass(fc_run *run) {
  fc_health *h = clusters_data(run->f->members, run->key);
  if (!h || h->tried_generation == run->spec.generation) return 0;
  h->tried_generation = run->spec.generation;
  return cond_find(run->fc, "Joined") == NULL;
}

static void fc_step_namespace(void *ctx) {
  fc_run *run = ctx;
  run->assume_absent = fc_first_pass(run);
  if ((run->sa_proven = fc_sa_proven(run))) {
    steps_next(&run->steps);
    return;
  }
  int rc = kc_get(run->member, &KC_NAMESPACES, NULL, run->spec.member_ns, fc_namespace_read, run);
  if (rc != 0)
    fc_stop(run, rc, C_CREDS, "MemberUnreachable", "reading namespace %s could not start", run->spec.member_ns);
}

static void fc_step_sa(void *ctx) {
  fc_run *run = ctx;
  if (run->sa_proven) {
    steps_next(&run->steps);
    return;
  }
  apply_opts o = fc_apply_opts(run, run->member, &KC_SERVICEACCOUNTS, -1);
  o.assume_absent = run->assume_absent;
  fc_ensure(run, &o, fc_desired_service_account(&run->spec, &run->names));
}

static void fc_step_role(void *ctx) {
  fc_run *run = ctx;
  fc_health *h = clusters_data(run->f->members, run->key);
  if (h) h->sa_generation = run->spec.generation; /* the ServiceAccount step before this one succeeded */
  apply_opts o = fc_apply_opts(run, run->member, &KC_CLUSTERROLES, W_ROLES);
  o.assume_absent = run->assume_absent;
  fc_ensure(run, &o, fc_desired_role(&run->spec, &run->names));
}

static void fc_step_binding(void *ctx) {
  fc_run *run = ctx;
  apply_opts o = fc_apply_opts(run, run->member, &KC_CLUSTERROLEBINDINGS, W_BINDINGS);
  o.assume_absent = run->assume_absent;
  fc_ensure(run, &o, fc_desired_binding(&run->spec, &run->names));
}

static void fc_step_token_secret(void *ctx) {
  fc_run *run = ctx;
  apply_opts o = fc_apply_opts(run, run->member, &KC_SECRETS, W_SECRETS);
  o.mode = APPLY_CREATE_ONLY; /* the member's token controller fills it */
  fc_ensure(run, &o, fc_desired_token_secret(&run->spec, &run->names));
}

/* ---- token ---- */

static int fc_take_token(fc_run *run, json_object *secret) {
  const char *b64 = kc_obj_key_str(kc_obj_get(secret, "data"), "token");
  size_t n;
  if (!b64) return -ENOENT;
  if (run->token) kf_free_secret(run->token, strlen(run->token));
  run->token = NULL;
  return kf_b64_decode(b64, strlen(b64), &run->token, &n) == 0 ? 0 : -EINVAL;
}

/* The token is there: how long this process waited for the member's token controller. */
static void fc_token_taken(fc_run *run) {
  fc_health *h = clusters_data(run->f->members, run->key);
  if (h && h->token_wait_ms) {
    kf_metrics_observe(run->f->metrics, "member_token_wait_seconds",
                       "Time from a join's first look at its new token Secret to the token filled in", NULL,
                       (double)(uv_now(run->f->loop) - h->token_wait_ms) / 1000);
    h->token_wait_ms = 0;
  }
  if (h) h->token_read_ms = 0;
  steps_next(&run->steps);
}

/* The Secret watch has synced and the token is not in it yet: the watch event that brings it
 * enqueues this member again, so the join ends here, quietly (no status write, no worker held
 * while the member's token controller catches up), unless it has waited long enough to say so. */
static void fc_token_wait(fc_run *run) {
  fc_health *h = clusters_data(run->f->members, run->key);
  uint64_t now = uv_now(run->f->loop);
  steps_abort(&run->steps);
  if (h && now - h->token_wait_ms < FC_TOKEN_QUIET_MS) {
    fc_requeue(run, FC_TOKEN_RECHECK_MS); /* a fallback: the watch event comes first */
    fc_finish(run);
    return;
  }
  fc_cond_set(run, C_JOINED, "False", "WaitingForToken",
              "waiting for the member's token controller to fill Secret %s/%s", run->spec.member_ns, run->names.token);
  fc_requeue(run, FC_TOKEN_RECHECK_MS);
  fc_status(run);
}

static void fc_step_token(void *ctx);
static void fc_token_again(uv_timer_t *t) { fc_step_token(t->data); }

static void fc_token_read(kc_client *c, int rc, json_object *secret, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  int have = rc == 0 ? fc_take_token(run, secret) : -ENOENT;
  if (have == -EINVAL) {
    fc_stop(run, 0, C_JOINED, "InvalidToken", "the member token Secret %s/%s holds no valid token", run->spec.member_ns,
            run->names.token);
  } else if (have == 0) {
    fc_token_taken(run);
  } else if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    fc_stop(run, rc, C_JOINED, "ReadFailed", "reading the member token Secret failed: %s",
            cond_error_text(err, "failed"));
  } else if (run->token_cached) {
    fc_token_wait(run); /* read through a watch cache that lags: the wait goes on as above */
  } else if (run->token_polls++ < FC_TOKEN_POLLS) {
    /* The member's token controller fills it within milliseconds: look again shortly, in this
     * reconcile, before reporting a wait (and writing status) at all. */
    if (!run->timer) {
      run->timer = kf_calloc(1, sizeof(uv_timer_t));
      uv_timer_init(run->f->loop, run->timer);
      run->timer->data = run;
    }
    uv_timer_start(run->timer, fc_token_again, FC_TOKEN_POLL_MS, 0);
  } else {
    /* The Secret's watch enqueues us when the token arrives; the requeue is a fallback. */
    steps_abort(&run->steps);
    fc_cond_set(run, C_JOINED, "False", "WaitingForToken",
                "waiting for the member's token controller to fill Secret %s/%s", run->spec.member_ns,
                run->names.token);
    fc_requeue(run, 1000);
    fc_status(run);
  }
}

/* Whether to read the token Secret through (GET) although the cache has not shown the token: a
 * watch may be down while its cache stays (a credential allowed to list but not to watch, a member
 * that stopped answering), so after FC_TOKEN_TRUST_MS the cache is checked by a read, then again
 * at doubling intervals (3, 6, 12 s ...), not at every look. */
static int fc_token_read_through(fc_health *h, uint64_t now) {
  uint64_t waited = now - h->token_wait_ms;
  uint64_t since_read = h->token_read_ms ? now - h->token_read_ms : waited;
  if (waited < FC_TOKEN_TRUST_MS || since_read < waited / 2) return 0;
  h->token_read_ms = now;
  return 1;
}

static void fc_step_token(void *ctx) {
  fc_run *run = ctx;
  const informer *cache = clusters_cache(run->f->members, run->key, W_SECRETS);
  json_object *cached = cache ? informer_get(cache, run->spec.member_ns, run->names.token) : NULL;
  int have = cached ? fc_take_token(run, cached) : -ENOENT;
  if (cached) json_object_put(cached);
  if (have == 0) {
    fc_token_taken(run);
    return;
  }
  fc_health *h = clusters_data(run->f->members, run->key);
  uint64_t now = uv_now(run->f->loop);
  if (h && !h->token_wait_ms) h->token_wait_ms = now;
  run->token_cached = cache != NULL && h != NULL;
  if (run->token_cached && have != -EINVAL && !fc_token_read_through(h, now)) {
    fc_token_wait(run);
    return;
  }
  int rc = kc_get(run->member, &KC_SECRETS, run->spec.member_ns, run->names.token, fc_token_read, run);
  if (rc != 0) fc_stop(run, rc, C_JOINED, "ReadFailed", "reading the member token Secret could not start");
}

/* ---- host, federation API ---- */

static void fc_step_credential(void *ctx) {
  fc_run *run = ctx;
  if (!fc_federation_client(run)) {
    fc_stop(run, 0, C_JOINED, "WaitingForFederation",
            "the admin kubeconfig of Federation %s is not available yet (status.kubeconfigSecretRef)",
            run->spec.fed_name);
    return;
  }
  const kcfg *cfg = kc_client_config(run->member);
  apply_opts o = fc_apply_opts(run, run->f->c, &KC_SECRETS, -1);
  o.cache = run->f->secrets;
  fc_ensure(run, &o,
            fc_desired_credential_secret(&run->spec, &run->names, kc_obj_str(run->fc, "metadata.uid"), cfg->server,
                                         cfg->ca_pem, run->token));
}

/* The controller manager reads the member's credential in the federation API, not on the host:
 * the same kubeconfig, where the Cluster's spec.secretRef points (before the Cluster, so a
 * Cluster never names a Secret that is not there yet). */
static void fc_step_federation_credential(void *ctx) {
  fc_run *run = ctx;
  const kcfg *cfg = kc_client_config(run->member);
  apply_opts o = fc_apply_opts(run, run->fapi, &KC_SECRETS, -1);
  o.cache = fc_federation_cache(run, FW_SECRETS);
  fc_ensure(run, &o, fc_desired_federation_secret(&run->spec, &run->names, cfg->server, cfg->ca_pem, run->token));
}

static void fc_step_cluster(void *ctx) {
  fc_run *run = ctx;
  apply_opts o = fc_apply_opts(run, run->fapi, &API_CLUSTERS, -1);
  o.cache = fc_federation_cache(run, FW_CLUSTERS);
  fc_ensure(run, &o, fc_desired_cluster(&run->spec, &run->names, kc_client_config(run->member)->server));
}

/* ---- facts ---- */

static void fc_nodes(kc_client *c, int rc, json_object *list, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)err;
  if (rc == 0) fc_zones_of(list, &run->zones, &run->region);
  steps_next(&run->steps);
}

static void fc_version(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  fc_health *h = clusters_data(run->f->members, run->key);
  (void)err;
  if (rc == 0 && kc_obj_str(obj, "gitVersion")) run->version = kf_strdup(kc_obj_str(obj, "gitVersion"));
  if (rc == 0 && h) h->facts_ms = uv_now(run->f->loop);
  kc_list_opts o = {.limit = 500};
  if (kc_list(c, &KC_NODES, NULL, &o, fc_nodes, run) != 0) steps_next(&run->steps);
}

static void fc_step_facts(void *ctx) {
  fc_run *run = ctx;
  fc_health *h = clusters_data(run->f->members, run->key);
  /* Read at the join; a reconcile for drift soon after keeps what the status shows. */
  if (h && h->facts_ms && uv_now(run->f->loop) - h->facts_ms < FC_FACTS_REFRESH_MS &&
      kc_obj_str(run->fc, "status.kubernetesVersion")) {
    steps_next(&run->steps);
    return;
  }
  kc_request r = {.method = "GET", .path = "/version", .timeout_ms = 10000};
  if (kc_do(run->member, &r, fc_version, run) != 0) steps_next(&run->steps);
}

/* ---- the sequence ---- */

/* The member's ServiceAccount, RBAC and token, the host credential Secret and the Cluster exist:
 * a DNS problem from here on leaves the member joined. */
static void fc_step_joined(void *ctx) {
  fc_set_joined(ctx);
  steps_next(&((fc_run *)ctx)->steps);
}

static const steps_step JOIN[] = {
    {"member-namespace", fc_step_namespace},
    {"service-account", fc_step_sa},
    {"cluster-role", fc_step_role},
    {"cluster-role-binding", fc_step_binding},
    {"token-secret", fc_step_token_secret},
    {"token", fc_step_token},
    {"credential-secret", fc_step_credential},
    {"federation-credential-secret", fc_step_federation_credential},
    {"cluster", fc_step_cluster},
    {"joined", fc_step_joined},
    {"dns", fc_dns},
    {"facts", fc_step_facts},
};

static void fc_joined(void *ctx) { fc_status(ctx); }

/* The conditions the join set, as the object shows them. */
static void fc_keep_cond(fc_run *run, int which) {
  json_object *c = cond_find(run->fc, FC_COND[which]);
  const char *status = kc_obj_str(c, "status");
  if (!c || !status) return;
  cond_set(&run->cond[which],
           kf_streq(status, "True")    ? "True"
           : kf_streq(status, "False") ? "False"
                                       : "Unknown",
           kc_obj_str(c, "reason") ? kc_obj_str(c, "reason") : "", "%s",
           kc_obj_str(c, "message") ? kc_obj_str(c, "message") : "");
}

void fc_join(fc_run *run) {
  if (run->probe_only) {
    fc_keep_cond(run, C_JOINED);
    fc_keep_cond(run, C_DNS);
    fc_status(run);
    return;
  }
  steps_set_metrics(&run->steps, run->f->metrics, "controller=\"federatedcluster\",sequence=\"join\"");
  steps_begin(&run->steps, JOIN, STEPS_LEN(JOIN), run, fc_joined);
}
