/* fed controller: the informers, the reconcile entry and its steps (FED_STEPS, the map of a
 * reconcile), the run's frame (conditions, stop, finish), the finalizer and the teardown.
 * The steps themselves are in inputs.c, pki.c, children.c and bootstrap.c; status in status.c. */
#include "federation_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/b64.h>
#include <kf/kj.h>
#include <kf/log.h>

const kc_resource *const fed_children[FED_NCHILDREN] = {&KC_SECRETS,         &KC_SERVICES, &KC_DEPLOYMENTS, &KC_PVCS,
                                                        &KC_SERVICEACCOUNTS, &KC_ROLES,    &KC_ROLEBINDINGS};

static void fed_step_finalizer(void *run);

/* Each part comes up on what the previous ones made: the CA signs the certificates, which carry
 * the Service's address; the Deployments mount the Secrets; the bootstrap needs a serving API. */
static const steps_step FED_STEPS[] = {
    {"finalizer", fed_step_finalizer},
    {"ca-secret-ref", fed_step_input_ca},
    {"dns-provider-config", fed_step_input_dns},
    {"token-auth-secret", fed_step_input_token},
    {"etcd-tls-secret", fed_step_input_etcd_tls},
    {"etcd-existing-claim", fed_step_input_claim},
    {"certificate-authority", fed_step_ca},
    {"service", fed_step_service},
    {"read-certificates", fed_step_read_certificates},
    {"serving-certificate", fed_step_issue_server},
    {"controller-manager-certificate", fed_step_issue_cm},
    {"admin-certificate", fed_step_issue_admin},
    {"service-account-key", fed_step_issue_sa},
    {"certificates-ready", fed_step_certificates_ready},
    {"credential-secrets", fed_step_credential_secrets},
    {"apiserver-credentials", fed_step_apiserver_credentials},
    {"controller-manager-kubeconfig", fed_step_cm_kubeconfig},
    {"admin-kubeconfig", fed_step_admin_kubeconfig},
    {"dns-provider", fed_step_dns_provider},
    {"etcd-claim", fed_step_etcd_claim},
    {"legacy-service-account", fed_step_legacy_service_account},
    {"legacy-role", fed_step_legacy_role},
    {"legacy-role-binding", fed_step_legacy_role_binding},
    {"apiserver", fed_step_apiserver},
    {"federation-api", fed_step_federation_api},
    {"readyz", fed_step_readyz},
    {"namespace-federation-system", fed_step_ns_federation_system},
    {"namespace-default", fed_step_ns_default},
    {"cluster-crd", fed_step_cluster_crd},
    {"serving", fed_step_serving},
    {"controller-manager", fed_step_controller_manager},
};

/* ---- the run ---- */

void fed_requeue(fed_run *run, uint64_t ms) {
  if (ms && (!run->requeue_ms || ms < run->requeue_ms)) run->requeue_ms = ms;
}

void fed_cond_set(fed_run *run, int which, const char *status, const char *reason, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cond_setv(&run->cond[which], status, reason, fmt, ap);
  va_end(ap);
}

void fed_stop(fed_run *run, int rc, int which, const char *reason, const char *fmt, ...) {
  va_list ap;
  char buf[1024];
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (which != FED_DEGRADED) fed_cond_set(run, which, "False", reason, "%s", buf);
  fed_cond_set(run, FED_DEGRADED, "True", reason, "%s", buf);
  run->rc = rc;
  if (rc == 0) fed_requeue(run, FED_RETRY_MS);
  fed_end(run);
}

int fed_api_rc(int rc) { return kc_err_terminal(rc) ? 0 : rc; }

void fed_end(fed_run *run) {
  steps_abort(&run->steps);
  fed_write_status(run);
}

void fed_next(fed_run *run, json_object *live) {
  (void)live;
  steps_next(&run->steps);
}

static void fed_steps_done(void *run) { fed_write_status(run); }

/* Once no reconcile is left: the controller detaches from the shared informers (ctrl_close)
 * and reports that it is done, so they may close after it. */
static void fed_maybe_free(fed_controller *f) {
  if (!f->closing || f->active) return;
  void (*closed)(void *) = f->closed;
  void *arg = f->closed_arg;
  ctrl_close(f->ctrl);
  free(f);
  if (closed) closed(arg);
}

void fed_finish(fed_run *run) {
  fed_controller *f = run->f;
  ctrl_done(f->ctrl, run->key, run->rc, run->rc ? 0 : run->requeue_ms);
  free(run->key);
  free(run->ns);
  free(run->name);
  for (int i = 0; i < IN_N; i++)
    if (run->in[i]) json_object_put(run->in[i]);
  certs_pair_free(&run->ca);
  for (int i = 0; i < CRED_N; i++) certs_pair_free(&run->cred[i]);
  free(run->ca_source);
  if (run->service) json_object_put(run->service);
  if (run->apiserver) json_object_put(run->apiserver);
  if (run->pvc) json_object_put(run->pvc);
  free(run->endpoint);
  fed_strv_free(run->san_dns);
  fed_strv_free(run->san_ip);
  fed_credential_secrets_free(&run->secrets);
  free(run->applying_name);
  if (run->fapi) kc_client_close(run->fapi);
  free(run->fapi_url);
  for (int i = 0; i < FED_NCOND; i++) cond_free(&run->cond[i]);
  if (run->fed) json_object_put(run->fed);
  free(run);
  f->active--;
  fed_maybe_free(f);
}

informer *fed_cache(fed_controller *f, const kc_resource *res) {
  for (size_t i = 0; i < FED_NCHILDREN; i++)
    if (fed_children[i] == res) return f->children[i];
  return NULL;
}

json_object *fed_cached(fed_run *run, const kc_resource *res, const char *suffix) {
  char *name = fed_child_name(&run->spec, suffix);
  json_object *o = informer_get(fed_cache(run->f, res), run->ns, name);
  free(name);
  return o;
}

char *fed_secret_value(json_object *secret, const char *key) {
  const char *b64 = kc_obj_key_str(kc_obj_get(secret, "data"), key);
  char *out = NULL;
  size_t n;
  if (!b64 || kf_b64_decode(b64, strlen(b64), &out, &n) != 0) return NULL;
  return out;
}

void fed_secret_value_free(char *v) {
  if (v) kf_free_secret(v, strlen(v));
}

/* ---- finalizer and teardown ---- */

/* The uid precondition failed (KC_ERR_CONFLICT): the Federation read is gone (deleted, or
 * replaced by a new one of the same name, which its own event reconciles). Nothing more to do. */
static int fed_finalizer_failed(fed_run *run, int rc, const kf_error *err) {
  if (rc == 0 || rc == KC_ERR_NOTFOUND) return 0;
  if (rc != KC_ERR_CONFLICT) {
    KF_WARN("finalizer update failed", "federation", run->key, "error", err ? err->msg : "");
    run->rc = rc;
  }
  steps_abort(&run->steps);
  fed_finish(run);
  return 1;
}

static void fed_finalizer_added(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  (void)obj;
  if (!fed_finalizer_failed(run, rc, err)) steps_next(&run->steps);
}

static void fed_step_finalizer(void *data) {
  fed_run *run = data;
  if (kc_has_finalizer(run->fed, API_FINALIZER_TEARDOWN)) {
    steps_next(&run->steps);
    return;
  }
  int rc = kc_apply_finalizer(run->f->c, &API_FEDERATIONS, run->ns, run->name, kc_obj_str(run->fed, "metadata.uid"),
                              API_FINALIZER_TEARDOWN, fed_finalizer_added, run);
  if (rc != 0) fed_finalizer_failed(run, rc, NULL);
}

static void fed_finalizer_removed(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  (void)obj;
  if (fed_finalizer_failed(run, rc, err)) return;
  KF_INFO("teardown complete; host children are garbage-collected", "federation", run->key);
  fed_finish(run);
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
    fed_cond_set(run, FED_READY, "False", "WaitingForClusters",
                 "deletion waits for %d FederatedCluster(s) of this Federation to be deleted (unjoined): %s", n.total,
                 n.names);
    fed_cond_set(run, FED_PROGRESSING, "True", "WaitingForClusters", "%s", run->cond[FED_READY].message);
    fed_write_status(run);
    return;
  }
  int rc = kc_apply_finalizer(run->f->c, &API_FEDERATIONS, run->ns, run->name, kc_obj_str(run->fed, "metadata.uid"),
                              NULL, fed_finalizer_removed, run);
  if (rc != 0) fed_finalizer_failed(run, rc, NULL);
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
    fed_stop(run, 0, FED_DEGRADED, "InvalidSpec", "%s", err.msg);
    return;
  }
  if (!run->spec.cm_image) run->spec.cm_image = f->cm_image;
  const char *owner[] = {API_LABEL_MANAGED_BY, API_OPERATOR, API_LABEL_FEDERATION, run->spec.name, NULL};
  memcpy(run->owner_labels, owner, sizeof(owner));
  if (kc_obj_get(run->fed, "metadata.deletionTimestamp")) {
    fed_teardown(run);
    return;
  }
  if (run->spec.suspend) {
    fed_finish(run);
    return;
  }
  steps_begin(&run->steps, FED_STEPS, STEPS_LEN(FED_STEPS), run, fed_steps_done);
}

/* ---- the controller ---- */

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

/* The Federation ("ns/name") of a FederatedCluster that has joined: status.joinedClusters is this
 * index's count, read on every status write (each join changes it) without parsing every member. */
static char *fed_index_joined(json_object *obj, void *data) {
  json_object *joined = cond_find(obj, "Joined");
  return joined && kf_streq(kc_obj_str(joined, "status"), "True") ? fed_map_cluster(obj, data) : NULL;
}

/* Every informer the controller reads, in one place: shared ones from the factory (the
 * FederatedCluster controller watches Federations and FederatedClusters too). */
static void fed_informers_new(fed_controller *f, kc_client *c, const fed_options *o) {
  informer_opts fo = {.res = &API_FEDERATIONS, .namespace_ = o->namespace_, .resync_ms = 10 * 60 * 1000};
  f->feds = informer_factory_get(o->informers, c, &fo, NULL);
  ctrl_watch(f->ctrl, f->feds, NULL, NULL);
  informer_opts co = {.res = &API_FEDERATEDCLUSTERS, .namespace_ = o->namespace_};
  f->clusters = informer_factory_get(o->informers, c, &co, NULL);
  ctrl_watch(f->ctrl, f->clusters, fed_map_cluster, NULL);
  informer_add_indexer(f->clusters, FED_INDEX_MEMBERS, fed_map_cluster, NULL);
  informer_add_indexer(f->clusters, FED_INDEX_JOINED, fed_index_joined, NULL);
  const char *idx[] = {API_LABEL_FEDERATION, NULL};
  for (size_t i = 0; i < FED_NCHILDREN; i++) {
    informer_opts so = {.res = fed_children[i],
                        .namespace_ = o->namespace_,
                        /* Member credential Secrets belong to the FederatedCluster controller. */
                        .label_selector = API_LABEL_MANAGED_BY "=" API_OPERATOR ",!" API_LABEL_CLUSTER,
                        .index_labels = idx};
    f->children[i] = informer_factory_get(o->informers, c, &so, NULL);
    ctrl_watch(f->ctrl, f->children[i], fed_map_child, NULL);
  }
}

fed_controller *fed_controller_new(uv_loop_t *loop, kc_client *c, const fed_options *o) {
  fed_controller *f = kf_calloc(1, sizeof(*f));
  f->loop = loop;
  f->c = c;
  f->access = o->access;
  f->metrics = o->metrics;
  f->events = o->events;
  f->cm_image = o->cm_image && o->cm_image[0] ? o->cm_image : NULL;
  ctrl_opts co = {.name = "federation", .reconcile = fed_reconcile, .data = f, .metrics = o->metrics};
  f->ctrl = ctrl_new(loop, &co);
  fed_informers_new(f, c, o);
  return f;
}

int fed_controller_synced(const fed_controller *f) {
  if (!informer_has_synced(f->feds) || !informer_has_synced(f->clusters)) return 0;
  for (size_t i = 0; i < FED_NCHILDREN; i++)
    if (!informer_has_synced(f->children[i])) return 0;
  return 1;
}

void fed_controller_start(fed_controller *f) { ctrl_start(f->ctrl); }

void fed_controller_close(fed_controller *f, void (*closed)(void *arg), void *arg) {
  if (!f || f->closing) return;
  f->closing = 1;
  f->closed = closed;
  f->closed_arg = arg;
  fed_maybe_free(f);
}
