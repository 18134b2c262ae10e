/* The propagated types as one table, and the pure decisions about one object: whether it is
 * propagated at all, its member copy, what the member cache keeps, the status annotation.
 *
 *   table     TYPES, prop_type_of
 *   skip      prop_skip (system namespaces and what servers make by themselves)
 *   copy      prop_desired (+ the copy's hash), prop_transform
 *   status    prop_status_text */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/kj.h>

#include "propagation.h"
#include "servicedns/servicedns.h"

static const char *const NO_FIELDS[] = {NULL};
static const char *const CONFIGMAP_FIELDS[] = {"data", "binaryData", "immutable", NULL};
static const char *const SECRET_FIELDS[] = {"type", "data", "immutable", NULL};
/* Not `secrets`: each member's token controller keeps its own (KubeFed v2 retains it too). */
static const char *const SERVICEACCOUNT_FIELDS[] = {"automountServiceAccountToken", "imagePullSecrets", NULL};
static const char *const SPEC_FIELDS[] = {"spec", NULL};

/* A federated Service lives in a plain kube-apiserver, which allocated it a cluster IP and, for
 * NodePort and LoadBalancer, node ports and a health check node port (v1's federation-apiserver
 * allocated none). Those are the federation API's, not valid in any member: each member allocates
 * its own, and keeps it, since our apply never sets them. A headless Service's "None" is a choice,
 * not an allocation: it stays. */
void prop_service_copy(json_object *d) {
  json_object *spec = kc_obj_get(d, "spec");
  if (!spec || !json_object_is_type(spec, json_type_object)) return;
  const char *ip = kc_obj_str(spec, "clusterIP");
  if (!ip || strcmp(ip, "None") != 0) {
    json_object_object_del(spec, "clusterIP");
    json_object_object_del(spec, "clusterIPs");
  }
  json_object_object_del(spec, "healthCheckNodePort");
  json_object *ports = kc_obj_get(spec, "ports");
  size_t n = json_object_is_type(ports, json_type_array) ? json_object_array_length(ports) : 0;
  for (size_t i = 0; i < n; i++) {
    json_object *p = json_object_array_get_idx(ports, i);
    if (json_object_is_type(p, json_type_object)) json_object_object_del(p, "nodePort");
  }
}

/* A namespace's spec is its finalizers, which each member's apiserver sets itself. */
static const prop_type TYPES[] = {
    {CM_NAMESPACES, &KC_NAMESPACES, NO_FIELDS, 0},
    {CM_CONFIGMAPS, &KC_CONFIGMAPS, CONFIGMAP_FIELDS, 0},
    {CM_SECRETS, &KC_SECRETS, SECRET_FIELDS, 0},
    {CM_SERVICEACCOUNTS, &KC_SERVICEACCOUNTS, SERVICEACCOUNT_FIELDS, 0},
    {CM_DAEMONSETS, &API_DAEMONSETS, SPEC_FIELDS, 0},
    {CM_INGRESSES, &API_INGRESSES, SPEC_FIELDS, 1},
    {CM_SERVICES, &KC_SERVICES, SPEC_FIELDS, 1},
    {CM_DEPLOYMENTS, &KC_DEPLOYMENTS, SPEC_FIELDS, 0},
    {CM_REPLICASETS, &API_REPLICASETS, SPEC_FIELDS, 0},
    {CM_STATEFULSETS, &API_STATEFULSETS, SPEC_FIELDS, 0},
    {CM_JOBS, &API_JOBS, SPEC_FIELDS, 0},
    {CM_HPAS, &API_HPAS, SPEC_FIELDS, 0},
};

/* StatefulSets are divided with the Deployment annotation (the issue; v1 had no StatefulSets). */
static const prop_sched SCHEDULED[] = {
    {CM_DEPLOYMENTS, SCHED_ANN_DEPLOYMENT, SCHED_KIND_DEPLOYMENT},
    {CM_REPLICASETS, SCHED_ANN_REPLICASET, SCHED_KIND_REPLICASET},
    {CM_STATEFULSETS, SCHED_ANN_DEPLOYMENT, SCHED_KIND_STATEFULSET},
    {CM_JOBS, SCHED_ANN_JOB, SCHED_KIND_JOB},
};

const prop_sched *prop_sched_of(const prop_type *t) {
  for (size_t i = 0; t && i < sizeof(SCHEDULED) / sizeof(SCHEDULED[0]); i++)
    if (SCHEDULED[i].id == t->id) return &SCHEDULED[i];
  return NULL;
}

const prop_type *prop_type_of(cm_controller id) {
  for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
    if (TYPES[i].id == id) return &TYPES[i];
  return NULL;
}

/* ---- skip ---- */

static int system_namespace(const char *ns) {
  return ns && (strncmp(ns, "kube-", 5) == 0 || strcmp(ns, API_FEDERATION_SYSTEM) == 0);
}

int prop_skip(const prop_type *t, json_object *obj) {
  const char *name = kc_obj_str(obj, "metadata.name"), *ns = kc_obj_str(obj, "metadata.namespace");
  if (!name) return 1;
  if (t->res == &KC_NAMESPACES) return strcmp(name, "default") == 0 || system_namespace(name);
  if (system_namespace(ns)) return 1;
  /* What an apiserver or a member's controllers make in every namespace: each member has its own. */
  if (t->res == &KC_SERVICES) return ns && strcmp(ns, "default") == 0 && strcmp(name, "kubernetes") == 0;
  if (t->res == &KC_CONFIGMAPS) return strcmp(name, "kube-root-ca.crt") == 0;
  if (t->res == &KC_SERVICEACCOUNTS) return strcmp(name, "default") == 0;
  if (t->res == &KC_SECRETS) {
    const char *type = kc_obj_str(obj, "type");
    return type && strcmp(type, "kubernetes.io/service-account-token") == 0;
  }
  return 0;
}

/* ---- copy ---- */

static json_object *copy_map(json_object *src, const char *skip) {
  json_object *out = kj_obj();
  if (!src || !json_object_is_type(src, json_type_object)) return out;
  json_object_object_foreach (src, k, v) {
    if (skip && strcmp(k, skip) == 0) continue;
    kj_copy(out, k, v);
  }
  return out;
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 14695981039346656037ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

void prop_set_kind(json_object *obj, void *type) {
  const prop_type *t = type;
  char *api_version = t->res->group[0] ? kf_asprintf("%s/%s", t->res->group, t->res->version) : NULL;
  kj_str(obj, "apiVersion", api_version ? api_version : t->res->version);
  kj_str(obj, "kind", t->res->kind);
  free(api_version);
}

json_object *prop_desired(const prop_type *t, json_object *obj, const char *uid) {
  const kc_resource *r = t->res;
  json_object *d = kj_obj(), *meta = kj_obj();
  prop_set_kind(d, (void *)t);
  kj_str(meta, "name", kc_obj_str(obj, "metadata.name"));
  if (r->namespaced) kj_str(meta, "namespace", kc_obj_str(obj, "metadata.namespace"));
  json_object *labels = copy_map(kc_obj_get(obj, "metadata.labels"), NULL);
  kj_str(labels, PROP_LABEL_PROPAGATED_BY, uid);
  kj_set(meta, "labels", labels);
  json_object *ann = copy_map(kc_obj_get(obj, "metadata.annotations"), PROP_ANNOTATION_STATUS);
  /* Written on the federated Service from the members' state: never theirs. */
  json_object_object_del(ann, SERVICEDNS_ANNOTATION);
  kj_set(d, "metadata", meta);
  for (const char *const *f = t->fields; *f; f++) kj_copy(d, *f, kc_obj_get(obj, *f));
  if (r == &KC_SERVICES) prop_service_copy(d);

  /* A field removed from the federated object is not missing from a subset comparison with the
   * member copy; its hash is. The hash changes with anything we would apply, so the apply that
   * follows (server-side, as our field manager) removes what we no longer set. */
  kj_set(meta, "annotations", ann);
  char hash[17];
  snprintf(hash, sizeof(hash), "%016llx",
           (unsigned long long)fnv1a(json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN)));
  kj_str(ann, PROP_ANNOTATION_HASH, hash);
  return d;
}

json_object *prop_desired_replicas(const prop_type *t, json_object *obj, const char *uid, int64_t replicas) {
  json_object *copy = NULL, *spec, *d;
  json_object_deep_copy(obj, &copy, NULL);
  spec = kc_obj_get(copy, "spec");
  if (spec && replicas >= 0) kj_int(spec, "replicas", replicas);
  else if (spec) json_object_object_del(spec, "replicas");
  d = prop_desired(t, copy, uid);
  json_object_put(copy);
  return d;
}

json_object *prop_desired_job(const prop_type *t, json_object *obj, const char *uid, int64_t parallelism,
                              int64_t completions) {
  json_object *copy = NULL, *spec, *d;
  json_object_deep_copy(obj, &copy, NULL);
  spec = kc_obj_get(copy, "spec");
  if (spec) {
    kj_int(spec, "parallelism", parallelism);
    if (completions >= 0) kj_int(spec, "completions", completions);
    /* The selector and labels the federation API generated for the federated Job (its uid) are
     * kept as they are: a member's apiserver would generate others (v1 set this too). */
    kj_bool(spec, "manualSelector", 1);
  }
  d = prop_desired(t, copy, uid);
  json_object_put(copy);
  return d;
}

json_object *prop_desired_hpa(const prop_type *t, json_object *obj, const char *uid, int64_t min, int64_t max) {
  json_object *copy = NULL, *spec, *d;
  json_object_deep_copy(obj, &copy, NULL);
  spec = kc_obj_get(copy, "spec");
  if (spec) {
    kj_int(spec, "minReplicas", min);
    kj_int(spec, "maxReplicas", max);
  }
  d = prop_desired(t, copy, uid);
  json_object_put(copy);
  return d;
}

void prop_transform(json_object *obj, void *type) {
  const prop_type *t = type;
  static const char *const META[] = {"name",   "namespace",   "uid", "resourceVersion", "deletionTimestamp",
                                     "labels", "annotations", NULL};
  json_object *meta = kc_obj_get(obj, "metadata"), *keep = kj_obj();
  for (const char *const *k = META; *k; k++) kj_copy(keep, *k, kc_obj_get(meta, *k));
  json_object *out = kj_obj();
  if (prop_sched_of(t)) { /* the status summing's observedGeneration, the planner's current */
    kj_copy(keep, "generation", kc_obj_get(meta, "generation"));
    sched_keep_replica_writers(meta, out);
  }
  for (const char *const *f = t->fields; *f; f++) kj_copy(out, *f, kc_obj_get(obj, *f));
  if (t->lb_status_union || prop_sched_of(t)) kj_copy(out, "status", kc_obj_get(obj, "status"));
  if (t->id == CM_HPAS) { /* the bounds' later passes (sched_hpa_member_of): whether it rests or scales */
    json_object *st = kc_obj_get(obj, "status"), *hs = kj_obj();
    static const char *const HPA_STATUS[] = {"currentReplicas", "desiredReplicas", "lastScaleTime", NULL};
    for (const char *const *k = HPA_STATUS; *k; k++) kj_copy(hs, *k, kc_obj_get(st, *k));
    kj_set(out, "status", hs);
  }
  /* Replace obj's fields in place: the informer keeps obj. */
  kj_clear(obj);
  kj_set(obj, "metadata", keep);
  json_object_object_foreach (out, k2, v2) kj_set(obj, k2, json_object_get(v2));
  json_object_put(out);
  prop_set_kind(obj, type); /* list items carry none; the desired copy does */
}

/* ---- status ---- */

static int by_text(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

json_object *prop_lb_union(json_object *const *copies, size_t n) {
  char **texts = NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    json_object *ing = kc_obj_get(copies[i], "status.loadBalancer.ingress");
    size_t m = json_object_is_type(ing, json_type_array) ? json_object_array_length(ing) : 0;
    for (size_t j = 0; j < m; j++) {
      texts = kf_realloc(texts, (k + 1) * sizeof(char *));
      texts[k++] = kf_strdup(json_object_to_json_string_ext(json_object_array_get_idx(ing, j), JSON_C_TO_STRING_PLAIN));
    }
  }
  if (k) qsort(texts, k, sizeof(char *), by_text);
  json_object *out = kj_arr();
  for (size_t i = 0; i < k; i++)
    if (i == 0 || strcmp(texts[i], texts[i - 1]) != 0) kj_push(out, kj_parse(texts[i], strlen(texts[i])));
  for (size_t i = 0; i < k; i++) free(texts[i]);
  free(texts);
  return out;
}

static int by_member(const void *a, const void *b) {
  return strcmp(((const prop_state *)a)->member, ((const prop_state *)b)->member);
}

char *prop_status_text(const prop_state *states, size_t n) {
  prop_state *sorted = kf_calloc(n + 1, sizeof(*sorted));
  if (n) memcpy(sorted, states, n * sizeof(*sorted));
  qsort(sorted, n, sizeof(*sorted), by_member);
  json_object *o = kj_obj();
  for (size_t i = 0; i < n; i++) kj_str(o, sorted[i].member, sorted[i].state);
  char *text = kf_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  free(sorted);
  return text;
}
