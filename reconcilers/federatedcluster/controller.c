/* The FederatedCluster controller: its informers, what enqueues a FederatedCluster, the two cluster
 * registries (members; federation APIs) and the reconcile's entry.
 *
 *   frame      fc_requeue, fc_cond_set, fc_stop, fc_finish, fc_apply_opts
 *   clients    fc_member_client (kubeconfig Secret -> registry), fc_federation_client
 *   reconcile  fc_reconcile: gone -> forget; deleting -> unjoin; inputs missing -> status; else join
 *   events     fc_fed_update (only what members read), fc_map_secret, fc_on_member_change (drift)
 *   lifecycle  fc_controller_new / _start_informers / _synced / _start / _close */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/b64.h>
#include <kf/log.h>

#include "fc.h"

/* ---- frame ---- */

void fc_requeue(fc_run *run, uint64_t ms) {
  if (ms && (!run->requeue_ms || ms < run->requeue_ms)) run->requeue_ms = ms;
}

void fc_cond_set(fc_run *run, int which, const char *status, const char *reason, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cond_setv(&run->cond[which], status, reason, fmt, ap);
  va_end(ap);
}

void fc_stop(fc_run *run, int rc, int which, const char *reason, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  char *why = kf_strdup(reason); /* reason may be a condition's own, replaced below */
  steps_abort(&run->steps);
  fc_cond_set(run, which, "False", why, "%s", buf);
  /* An unjoin that stops is blocked, not undone: the member is still joined (and says why). */
  if (which != C_JOINED && !run->cond[C_JOINED].set && run->deleting)
    fc_cond_set(run, C_JOINED, "True", "UnjoinBlocked", "unjoin waits until this is resolved: %s", buf);
  else if (which != C_JOINED && !run->cond[C_JOINED].set) fc_cond_set(run, C_JOINED, "False", why, "%s", buf);
  ev_emit(run->f->events, run->fc, "Warning", why, run->deleting ? "Unjoin" : "Join", "%s", buf);
  free(why);
  run->rc = rc;
  if (rc == 0) fc_requeue(run, FC_RETRY_MS);
  fc_status(run);
}

/* Once no reconcile is left: the member registries close, the controller detaches from the
 * shared informers (ctrl_close) and reports that it is done. */
static void fc_maybe_free(fc_controller *f) {
  if (!f->closing || f->active) return;
  void (*closed)(void *) = f->closed;
  void *arg = f->closed_arg;
  clusters_close(f->members);
  clusters_close(f->feds_api);
  informer_remove_handlers(f->feds, f); /* the Federation handlers above; ctrl_close detaches its own */
  ctrl_close(f->ctrl);
  json_object_put(f->mirroring);
  free(f);
  if (closed) closed(arg);
}

static void fc_timer_closed(uv_handle_t *h) { free(h); }

void fc_finish(fc_run *run) {
  fc_controller *f = run->f;
  json_object_object_del(f->mirroring, run->key);
  ctrl_done(f->ctrl, run->key, run->rc, run->rc ? 0 : run->requeue_ms);
  free(run->key);
  free(run->ns);
  free(run->name);
  fc_names_free(&run->names);
  free(run->selector);
  free(run->dns_cm);
  free(run->version);
  free(run->region);
  if (run->zones) json_object_put(run->zones);
  if (run->token) kf_free_secret(run->token, strlen(run->token));
  if (run->timer) uv_close((uv_handle_t *)run->timer, fc_timer_closed);
  for (int i = 0; i < C_N; i++) cond_free(&run->cond[i]);
  if (run->fc) json_object_put(run->fc);
  if (run->fed) json_object_put(run->fed);
  free(run);
  f->active--;
  fc_maybe_free(f);
}

apply_opts fc_apply_opts(fc_run *run, kc_client *c, const kc_resource *res, int slot) {
  apply_opts o = {.client = c, .res = res, .owner_labels = run->owner};
  if (slot >= 0) o.cache = clusters_cache(run->f->members, run->key, (size_t)slot);
  return o;
}

/* ---- clients ---- */

/* data[key] of a cached Secret, decoded (the caller wipes it), or NULL. */
static char *fc_secret_value(fc_controller *f, const char *ns, const char *name, const char *key, size_t *n,
                             int *found) {
  json_object *secret = name ? informer_get(f->secrets, ns, name) : NULL;
  const char *b64 = secret ? kc_obj_key_str(kc_obj_get(secret, "data"), key) : NULL;
  char *text = NULL;
  *found = secret != NULL;
  if (b64 && kf_b64_decode(b64, strlen(b64), &text, n) != 0) text = NULL;
  if (secret) json_object_put(secret);
  return text;
}

char *fc_federation_key(const fc_run *run) {
  return kf_asprintf("%s/%s", run->ns, run->spec.fed_name ? run->spec.fed_name : "");
}

const informer *fc_federation_cache(fc_run *run, int slot) {
  char *key = fc_federation_key(run);
  const informer *cache = clusters_cache(run->f->feds_api, key, (size_t)slot);
  free(key);
  return cache;
}

kc_client *fc_federation_client(fc_run *run) {
  if (run->fapi || !run->fed) return run->fapi;
  const char *ref = kc_obj_str(run->fed, "status.kubeconfigSecretRef.name");
  const char *endpoint = kc_obj_str(run->fed, "status.endpoint");
  size_t n = 0;
  int found;
  char *text = fc_secret_value(run->f, run->ns, ref, "kubeconfig", &n, &found);
  if (!text) return NULL;
  char *key = fc_federation_key(run);
  char *server = run->f->access == FED_ACCESS_ENDPOINT && endpoint
                     ? kf_strdup(endpoint)
                     : kf_asprintf("https://%s-apiserver.%s.svc:443", run->spec.fed_name, run->ns);
  clusters_source src = {.kubeconfig = text, .len = n, .server = server};
  if (clusters_client(run->f->feds_api, key, &src, &run->fapi, NULL) != 0) run->fapi = NULL;
  if (run->fapi) {
    /* Unchanged options leave a running watch alone: this is cheap on every reconcile. */
    char *selector = kf_asprintf("%s=%s,%s=%s", API_LABEL_MANAGED_BY, API_OPERATOR, API_LABEL_FEDERATION,
                                 run->spec.fed_name);
    for (int i = 0; i < FW_N; i++) {
      informer_opts o;
      fc_federation_watch_opts(i, selector, &o);
      clusters_watch(run->f->feds_api, key, (size_t)i, &o);
    }
    free(selector);
  }
  kf_free_secret(text, n);
  free(server);
  free(key);
  return run->fapi;
}

/* The member's client from spec.kubeconfigSecretRef through the registry; CredentialsValid says
 * how it went. Returns 0 or -1 (the condition is set, the member's registry entry gone). */
static int fc_member_client(fc_run *run) {
  const fc_spec *s = &run->spec;
  size_t n = 0;
  int found, rc;
  kf_error err;
  kf_error_clear(&err);
  char *text = fc_secret_value(run->f, run->ns, s->secret_name, s->secret_key, &n, &found);
  clusters_source src = {.kubeconfig = text, .len = n, .context = s->context};
  if (!found) {
    fc_cond_set(run, C_CREDS, "False", "SecretNotFound",
                "spec.kubeconfigSecretRef: Secret %s not found in namespace %s", s->secret_name, run->ns);
  } else if (!text) {
    fc_cond_set(run, C_CREDS, "False", "KeyNotFound", "spec.kubeconfigSecretRef: Secret %s has no key %s",
                s->secret_name, s->secret_key);
  } else if ((rc = clusters_client(run->f->members, run->key, &src, &run->member, &err)) != 0) {
    fc_cond_set(run, C_CREDS, "False", rc == -ENOTSUP ? "UnsupportedCredentials" : "InvalidKubeconfig",
                "spec.kubeconfigSecretRef: Secret %s key %s: %s. Supply a kubeconfig with a token or a client "
                "certificate embedded (-data fields), e.g. a ServiceAccount token",
                s->secret_name, s->secret_key, err.msg);
  } else {
    const kcfg *cfg = kc_client_config(run->member);
    /* Service access: the operator runs in the host cluster, where a loopback server is its own pod. */
    int loopback = run->f->access == FED_ACCESS_SERVICE && fc_server_is_loopback(cfg->server);
    fc_cond_set(run, C_CREDS, "True", "Loaded", "kubeconfig from Secret %s, context %s, server %s%s", s->secret_name,
                cfg->context, cfg->server, loopback ? FC_LOOPBACK_SERVER_HINT : "");
  }
  if (text) kf_free_secret(text, n);
  if (run->member) return 0;
  /* Stale credentials are not used to probe or watch: the member is back when they are fixed. */
  clusters_remove(run->f->members, run->key);
  return -1;
}

/* Probe and watches follow the spec; the health entry carries its thresholds. */
static void fc_member_setup(fc_run *run) {
  fc_controller *f = run->f;
  const fc_spec *s = &run->spec;
  fc_health *h = clusters_data(f->members, run->key);
  if (!h) {
    h = kf_calloc(1, sizeof(*h));
    clusters_set_data(f->members, run->key, h, fc_health_free);
  }
  h->failure_threshold = s->failure_threshold;
  h->success_threshold = s->success_threshold;
  h->timeout_s = s->timeout_s;
  clusters_probe(f->members, run->key, (uint64_t)s->period_s * 1000, (uint64_t)s->timeout_s * 1000);
  for (int i = 0; i < W_DNS; i++) {
    informer_opts o;
    fc_watch_opts(s, i, run->selector, NULL, &o);
    clusters_watch(f->members, run->key, (size_t)i, &o);
  }
}

/* ---- reconcile ---- */

static int fc_federation_serving(json_object *fed) {
  return kf_streq(kc_obj_str(cond_find(fed, "APIServerReady"), "status"), "True");
}

/* Joined at this generation (the status says so) and not healthy now: the member is not asked
 * anything until it answers its probes again (the conditions the join set are kept). */
static int fc_probe_only(fc_run *run) {
  fc_health *h = clusters_data(run->f->members, run->key);
  json_object *og = kc_obj_get(run->fc, "status.observedGeneration");
  if (!h || (h->state != FC_HEALTH_NOT_READY && h->state != FC_HEALTH_OFFLINE)) return 0;
  return og && json_object_get_int64(og) == run->spec.generation &&
         kf_streq(kc_obj_str(cond_find(run->fc, "Joined"), "status"), "True") &&
         kf_streq(kc_obj_str(cond_find(run->fc, "Joined"), "reason"), "Joined");
}

static void fc_finalizer_added(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  if (rc == KC_ERR_CONFLICT) {
    /* The uid precondition failed: this FederatedCluster is gone (or replaced; its own event
     * reconciles the new one). Nothing was joined for it yet. */
    fc_finish(run);
  } else if (rc != 0) {
    KF_WARN("adding the finalizer failed", "federatedcluster", run->key, "error", err ? err->msg : "");
    run->rc = rc;
    fc_finish(run);
  } else {
    fc_join(run);
  }
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
  /* The informer holds JSON objects only, so decoding cannot fail; the spec borrows from run->fc. */
  if (!run->fc || fc_spec_decode(run->fc, &run->spec, NULL) != 0) {
    clusters_remove(f->members, key);
    fc_finish(run);
    return;
  }
  fc_names_of(&run->spec, &run->names);
  fc_owner_labels(run->spec.fed_name, run->owner);
  run->selector = fc_selector(run->spec.fed_name, run->name);
  run->fed = run->spec.fed_name ? informer_get(f->feds, run->ns, run->spec.fed_name) : NULL;
  run->deleting = run->spec.deleting;

  int creds = fc_member_client(run);
  if (run->deleting) {
    if (!kc_has_finalizer(run->fc, API_FINALIZER_UNJOIN)) {
      clusters_remove(f->members, key);
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
  fc_member_setup(run);
  if (!run->fed) {
    char *fed_key = kf_asprintf("%s/%s", run->ns, run->spec.fed_name ? run->spec.fed_name : "");
    clusters_remove(f->feds_api, fed_key); /* its federation API client, if one was made */
    free(fed_key);
    fc_stop(run, 0, C_JOINED, "FederationNotFound", "spec.federationRef: Federation %s not found in namespace %s",
            run->spec.fed_name, run->ns);
    return;
  }
  if (!fc_federation_serving(run->fed)) {
    fc_cond_set(run, C_JOINED, "False", "WaitingForFederation",
                "Federation %s is not serving yet (its APIServerReady condition is not True)", run->spec.fed_name);
    fc_status(run); /* the Federation's status change enqueues us again */
    return;
  }
  run->probe_only = fc_probe_only(run);
  if (!kc_has_finalizer(run->fc, API_FINALIZER_UNJOIN)) {
    int rc = kc_apply_finalizer(f->c, &API_FEDERATEDCLUSTERS, run->ns, run->name, kc_obj_str(run->fc, "metadata.uid"),
                                API_FINALIZER_UNJOIN, fc_finalizer_added, run);
    if (rc != 0) {
      run->rc = rc;
      fc_finish(run);
    }
    return;
  }
  fc_join(run);
}

/* ---- events ---- */

/* FederatedClusters are enqueued by their own events, their Federation's (when it changes what
 * they read of it), their kubeconfig Secrets' and their members' (drift). Referrers are found by
 * index, not by reading every FederatedCluster of the cache for each event. */
static void fc_enqueue_obj(json_object *fc, void *data) {
  fc_controller *f = data;
  char *key = informer_key_of(fc);
  if (key) ctrl_enqueue(f->ctrl, key);
  free(key);
}

static void fc_federation_changed(fc_controller *f, json_object *fed) {
  const char *ns = kc_obj_str(fed, "metadata.namespace"), *name = kc_obj_str(fed, "metadata.name");
  if (!ns || !name || f->closing) return;
  char *ref = kf_asprintf("%s/%s", ns, name);
  informer_by_index(f->fcs, FC_INDEX_FEDERATION, ref, fc_enqueue_obj, f);
  free(ref);
}

static void fc_fed_add(informer *inf, json_object *fed, void *data) {
  (void)inf;
  fc_federation_changed(data, fed);
}

/* Each join changes its Federation's status (joinedClusters): that must not reconcile every
 * member of the federation again, only a change of what members read does. A resync (old == new)
 * still does. */
static void fc_fed_update(informer *inf, json_object *old, json_object *fed, void *data) {
  (void)inf;
  char *a = old != fed ? fc_federation_inputs(old) : NULL, *b = old != fed ? fc_federation_inputs(fed) : NULL;
  if (old == fed || strcmp(a, b) != 0) fc_federation_changed(data, fed);
  free(a);
  free(b);
}

static void fc_fed_delete(informer *inf, json_object *fed, void *data) {
  (void)inf;
  fc_federation_changed(data, fed);
}

static char *fc_map_secret(json_object *secret, void *data) {
  fc_controller *f = data;
  const char *cluster = kc_obj_key_str(kc_obj_get(secret, "metadata.labels"), API_LABEL_CLUSTER);
  const char *ns = kc_obj_str(secret, "metadata.namespace"), *name = kc_obj_str(secret, "metadata.name");
  if (cluster && ns) return kf_asprintf("%s/%s", ns, cluster);
  if (!ns || !name) return NULL;
  char *ref = kf_asprintf("%s/%s", ns, name);
  informer_by_index(f->fcs, FC_INDEX_KUBECONFIG, ref, fc_enqueue_obj, f);
  free(ref);
  return NULL;
}

/* Something the join made in the member changed or went: reconcile its FederatedCluster. */
static void fc_on_member_change(clusters *cl, const char *key, json_object *obj, void *data) {
  fc_controller *f = data;
  (void)cl;
  (void)obj;
  if (!f->closing) ctrl_enqueue(f->ctrl, key);
}

/* ---- lifecycle ---- */

fc_controller *fc_controller_new(uv_loop_t *loop, kc_client *c, const fed_options *o) {
  fc_controller *f = kf_calloc(1, sizeof(*f));
  f->mirroring = json_object_new_object();
  f->loop = loop;
  f->c = c;
  f->access = o->access;
  f->metrics = o->metrics;
  f->events = o->events;
  ctrl_opts co = {
      .name = "federatedcluster", .reconcile = fc_reconcile, .data = f, .metrics = o->metrics, .workers = FC_WORKERS};
  f->ctrl = ctrl_new(loop, &co);
  clusters_opts mo = {.parent = c,
                      .metrics = o->metrics,
                      .target = "member",
                      .timeout_ms = FC_MEMBER_TIMEOUT_MS,
                      .max_attempts = FC_MEMBER_ATTEMPTS,
                      .on_change = fc_on_member_change,
                      .on_probe = fc_on_probe,
                      .data = f};
  f->members = clusters_new(&mo);
  clusters_opts fo = {
      .parent = c, .metrics = o->metrics, .target = "federation", .on_change = fc_on_federation_change, .data = f};
  f->feds_api = clusters_new(&fo);
  /* Federations and FederatedClusters are the Federation controller's informers too (shared). */
  informer_opts fco = {.res = &API_FEDERATEDCLUSTERS, .namespace_ = o->namespace_};
  f->fcs = informer_factory_get(o->informers, c, &fco, NULL);
  /* Before the factory starts it: the indexes are built as objects arrive. */
  informer_add_indexer(f->fcs, FC_INDEX_FEDERATION, fc_index_federation, NULL);
  informer_add_indexer(f->fcs, FC_INDEX_KUBECONFIG, fc_index_kubeconfig_secret, NULL);
  ctrl_watch(f->ctrl, f->fcs, NULL, NULL);
  informer_opts fdo = {.res = &API_FEDERATIONS, .namespace_ = o->namespace_};
  f->feds = informer_factory_get(o->informers, c, &fdo, NULL);
  informer_handlers fh = {fc_fed_add, fc_fed_update, fc_fed_delete, f};
  informer_add_handlers(f->feds, &fh);
  /* Member kubeconfig Secrets are the user's (unlabelled): watch the namespace's Secrets so a
   * rotated credential is picked up at once. */
  informer_opts so = {.res = &KC_SECRETS, .namespace_ = o->namespace_};
  f->secrets = informer_factory_get(o->informers, c, &so, NULL);
  ctrl_watch(f->ctrl, f->secrets, fc_map_secret, f);
  return f;
}

int fc_controller_synced(const fc_controller *f) {
  return informer_has_synced(f->fcs) && informer_has_synced(f->feds) && informer_has_synced(f->secrets);
}

void fc_controller_start(fc_controller *f) { ctrl_start(f->ctrl); }

void fc_controller_close(fc_controller *f, void (*closed)(void *arg), void *arg) {
  if (!f || f->closing) return;
  f->closing = 1;
  f->closed = closed;
  f->closed_arg = arg;
  clusters_quiesce(f->members);
  clusters_quiesce(f->feds_api); /* its watches too: a watch never ends by itself */
  fc_maybe_free(f);
}
