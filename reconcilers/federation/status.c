/* fed status: what a run found, as .status. The summary (Ready, Progressing, Degraded from the
 * parts), the phase and the body are pure (objects.h); fed_write_status counts the members,
 * writes the status only when the live object differs, and ends the run. */
#include "federation_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/kj.h>
#include <kf/log.h>

const char *const fed_condition_types[FED_NCOND] = {
    "Ready", "Progressing", "Degraded", "CertificatesReady", "EtcdReady", "APIServerReady", "ControllerManagerReady"};

/* ---- pure: the summary and the body ---- */

void fed_summarize(cond conds[FED_NCOND], const char *serving_at) {
  static const int parts[] = {FED_CERTS, FED_ETCD, FED_APISERVER, FED_CM};
  const size_t nparts = sizeof(parts) / sizeof(parts[0]);
  for (size_t i = 0; i < nparts; i++)
    if (!conds[parts[i]].set)
      cond_set(&conds[parts[i]], "Unknown", "Pending", "not checked yet: an earlier step has not completed");
  if (!conds[FED_DEGRADED].set) cond_set(&conds[FED_DEGRADED], "False", "AsExpected", "no problem found");
  const cond *blocking = NULL;
  for (size_t i = 0; i < nparts && !blocking; i++)
    if (strcmp(conds[parts[i]].status, "True") != 0) blocking = &conds[parts[i]];
  int degraded = strcmp(conds[FED_DEGRADED].status, "True") == 0;
  if (!conds[FED_READY].set) {
    if (!blocking)
      cond_set(&conds[FED_READY], "True", "Ready", "the federation control plane is serving at %s",
               serving_at ? serving_at : "");
    else cond_set(&conds[FED_READY], "False", blocking->reason, "%s", blocking->message);
  }
  if (!conds[FED_PROGRESSING].set) {
    if (!blocking) cond_set(&conds[FED_PROGRESSING], "False", "Complete", "every part is up to date");
    else if (degraded) cond_set(&conds[FED_PROGRESSING], "False", "Degraded", "stopped: see the Degraded condition");
    else cond_set(&conds[FED_PROGRESSING], "True", blocking->reason, "%s", blocking->message);
  }
}

int fed_deployment_failure(json_object *deployment, const char **reason, char *buf, size_t size) {
  json_object *conds = kc_obj_get(deployment, "status.conditions");
  size_t n = json_object_is_type(conds, json_type_array) ? json_object_array_length(conds) : 0;
  for (int pass = 0; pass < 2; pass++) /* ReplicaFailure first: it says more than a deadline */
    for (size_t i = 0; i < n; i++) {
      json_object *c = json_object_array_get_idx(conds, i);
      const char *type = kc_obj_str(c, "type"), *status = kc_obj_str(c, "status"), *why = kc_obj_str(c, "reason");
      int failed = pass == 0 ? kf_streq(type, "ReplicaFailure") && kf_streq(status, "True")
                             : kf_streq(type, "Progressing") && kf_streq(status, "False") &&
                                   kf_streq(why, "ProgressDeadlineExceeded");
      if (!failed) continue;
      *reason = pass == 0 ? "ReplicaFailure" : "ProgressDeadlineExceeded";
      const char *msg = kc_obj_str(c, "message") ? kc_obj_str(c, "message") : "", *close;
      /* 'pods "F-apiserver-5d8f-x2k9q" is forbidden: ...' names a new pod at each retry: without
       * the name the condition message stays the same, and so does the status. */
      static const char pods[] = "pods \"", forbidden[] = "\" is forbidden";
      if (!strncmp(msg, pods, sizeof(pods) - 1) && (close = strchr(msg + sizeof(pods) - 1, '"')) &&
          !strncmp(close, forbidden, sizeof(forbidden) - 1))
        snprintf(buf, size, "%s: pods are forbidden%s", why ? why : *reason, close + sizeof(forbidden) - 1);
      else snprintf(buf, size, "%s: %s", why ? why : *reason, msg);
      return 1;
    }
  return 0;
}

const char *fed_phase(int deleting, const cond conds[FED_NCOND]) {
  if (deleting) return "Terminating";
  if (kf_streq(conds[FED_READY].status, "True")) return "Ready";
  if (kf_streq(conds[FED_DEGRADED].status, "True")) return "Degraded";
  return "Progressing";
}

json_object *fed_status_body(json_object *fed, const fed_status_facts *facts) {
  int changed = 0; /* fed_status_changed decides, on the whole body */
  json_object *st = kj_obj();
  kj_int(st, "observedGeneration", facts->generation);
  kj_str(st, "phase", fed_phase(kc_obj_get(fed, "metadata.deletionTimestamp") != NULL, facts->conds));
  json_object *conds = cond_array(fed, fed_condition_types, facts->conds, FED_NCOND, facts->generation, &changed);
  if (facts->dns && facts->dns->set) {
    static const char *const dns_type[] = {"DNSReady"};
    json_object *dns = cond_array(fed, dns_type, facts->dns, 1, facts->generation, &changed);
    kj_push(conds, json_object_get(json_object_array_get_idx(dns, 0)));
    json_object_put(dns);
  }
  kj_set(st, "conditions", conds);
  kj_int(st, "joinedClusters", facts->joined_clusters);
  if (facts->endpoint) kj_str(st, "endpoint", facts->endpoint);
  if (facts->kubeconfig_secret)
    kj_set(st, "kubeconfigSecretRef", kj_str(kj_str(kj_obj(), "name", facts->kubeconfig_secret), "key", "kubeconfig"));
  if (facts->not_after) {
    char *na = cond_rfc3339(facts->not_after);
    kj_str(st, "certificatesNotAfter", na);
    free(na);
  }
  return st;
}

/* The extraArgs value of controllers, "a=true, b=false", turns services off. */
static int services_off(json_object *extra_args) {
  const char *v = kc_obj_key_str(extra_args, "controllers");
  if (!v) return 0;
  char *copy = kf_strdup(v), *save = NULL;
  int off = 0;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == ' ') t[--n] = '\0';
    /* The last word wins, as the controller manager reads a repeated key. */
    if (strcmp(t, "services=false") == 0) off = 1;
    else if (strcmp(t, "services=true") == 0) off = 0;
  }
  free(copy);
  return off;
}

void fed_dns_condition(const fed_spec *s, cond *c) {
  if (!s->dns_provider || strcmp(s->dns_provider, "coredns") == 0 || services_off(s->cm_extra_args)) return;
  cond_set(c, "False", "ProviderUnsupported",
           "spec.dns.provider %s cannot publish the DNS records of federated Services in this version (only coredns "
           "can): the controller manager runs with service-dns off; to say so, turn services off "
           "(spec.controllerManager.extraArgs: {controllers: services=false})",
           s->dns_provider);
}

int fed_status_changed(json_object *fed, json_object *status) {
  json_object *live = kc_obj_get(fed, "status");
  /* An endpoint that is gone (the Service changed type) must be cleared. The references and the
   * expiry stay as last written while a run stops before it knows them. */
  return !kj_subset(status, live) || (!kc_obj_get(status, "endpoint") && kc_obj_get(live, "endpoint"));
}

/* ---- the members ---- */

static void fed_count_cluster(json_object *fc, void *data) {
  fed_count *n = data;
  n->total++;
  size_t used = strlen(n->names);
  const char *name = kc_obj_str(fc, "metadata.name");
  if (name && used + strlen(name) + 3 < sizeof(n->names))
    snprintf(n->names + used, sizeof(n->names) - used, "%s%s", used ? ", " : "", name);
}

void fed_count_clusters(fed_run *run, fed_count *n) {
  memset(n, 0, sizeof(*n));
  informer_by_index(run->f->clusters, FED_INDEX_MEMBERS, run->key, fed_count_cluster, n);
}

/* ---- the write ---- */

static void fed_status_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  (void)c;
  if (rc != 0 && rc != KC_ERR_NOTFOUND) {
    KF_WARN("status write failed", "federation", run->key, "error", err ? err->msg : "");
    if (!run->rc) run->rc = rc;
  }
  /* A reconcile of this key may start before the watch brings this write: it must see it. */
  if (rc == 0 && obj) informer_update_cache(run->f->feds, obj);
  fed_finish(run);
}

void fed_write_status(fed_run *run) {
  fed_summarize(run->cond, run->endpoint ? run->endpoint : run->fapi_url);
  char *admin = run->secrets.admin_kubeconfig_text ? fed_child_name(&run->spec, "admin-kubeconfig") : NULL;
  fed_status_facts facts = {.generation = run->spec.generation,
                            .conds = run->cond,
                            .endpoint = run->endpoint,
                            .kubeconfig_secret = admin,
                            .not_after = run->not_after,
                            .joined_clusters = (int)informer_index_count(run->f->clusters, FED_INDEX_JOINED, run->key)};
  cond dns = {0};
  fed_dns_condition(&run->spec, &dns);
  facts.dns = &dns;
  json_object *st = fed_status_body(run->fed, &facts);
  cond_free(&dns);
  free(admin);
  if (strcmp(run->cond[FED_DEGRADED].status, "True") == 0)
    ev_emit(run->f->events, run->fed, "Warning", run->cond[FED_DEGRADED].reason, "Reconcile", "%s",
            run->cond[FED_DEGRADED].message);
  if (!fed_status_changed(run->fed, st)) {
    json_object_put(st);
    fed_finish(run);
    return;
  }
  json_object *body = kj_obj();
  kj_str(body, "apiVersion", API_GROUP_VERSION);
  kj_str(body, "kind", "Federation");
  kj_set(body, "metadata", kj_str(kj_str(kj_obj(), "name", run->name), "namespace", run->ns));
  kj_set(body, "status", st);
  int rc = kc_apply(run->f->c, &API_FEDERATIONS, body, "status", fed_status_written, run);
  json_object_put(body);
  if (rc != 0) fed_status_written(run->f->c, rc, NULL, NULL, run);
}
