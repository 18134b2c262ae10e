/* What a join should have made, as pure functions: names, the member's Namespace, ServiceAccount,
 * ClusterRole and binding and token Secret, the host credential Secret, the federation API's
 * Cluster, the status bodies and the member watches. They allocate nothing but their result and
 * never look at a cluster, so unit tests (cluster.objects) check them whole.
 *
 *   names     fc_names_of, fc_owner_labels, fc_selector
 *   member    fc_desired_namespace / _service_account / _role (fc_member_rules) / _binding / _token_secret
 *   host      fc_desired_credential_secret
 *   fed. API  fc_desired_federation_secret, fc_desired_cluster (fc_cluster_meta), fc_cluster_as_desired
 *   status    fc_zones_of, fc_status_body, fc_status_same, fc_cluster_status_body, fc_cluster_status_as_fc
 *   watches   fc_watch_opts, fc_federation_watch_opts
 *   refs      fc_index_federation, fc_index_kubeconfig_secret, fc_federation_inputs */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <kf/b64.h>
#include <kf/kj.h>
#include <kf/watch.h>

#include <kubefed/cm_options.h>

#include "fc.h"
#include "federation/objects.h"

const char *const FC_COND[C_N] = {"Joined", "Ready", "Offline", "CredentialsValid", "DNSConfigured"};

/* ---- names ---- */

void fc_names_of(const fc_spec *s, fc_names *n) {
  /* Per federation and member name: one member may join several federations, or one federation
   * twice under two names, and each unjoin removes only its own objects. */
  const char *fed = s->fed_name ? s->fed_name : "", *name = s->name ? s->name : "";
  n->cred = s->cred_secret ? kf_strdup(s->cred_secret) : kf_asprintf("%s-credentials", name);
  n->sa = kf_asprintf("kubefed-%s-%s", fed, name);
  n->role = kf_asprintf("kubefed.dev:%s:%s", fed, name);
  n->token = kf_asprintf("kubefed-%s-%s-token", fed, name);
}

void fc_names_free(fc_names *n) {
  free(n->cred);
  free(n->sa);
  free(n->role);
  free(n->token);
  memset(n, 0, sizeof(*n));
}

void fc_owner_labels(const char *fed, const char *out[5]) {
  out[0] = API_LABEL_MANAGED_BY;
  out[1] = API_OPERATOR;
  out[2] = API_LABEL_FEDERATION;
  out[3] = fed ? fed : "";
  out[4] = NULL;
}

char *fc_selector(const char *fed, const char *name) {
  return kf_asprintf("%s=%s,%s=%s,%s=%s", API_LABEL_MANAGED_BY, API_OPERATOR, API_LABEL_FEDERATION, fed ? fed : "",
                     API_LABEL_CLUSTER, name ? name : "");
}

/* ---- member objects ---- */

static json_object *fc_object(const fc_spec *s, const char *api_version, const char *kind, const char *ns,
                              const char *name) {
  json_object *o = kj_obj(), *meta = kj_obj(), *l = kj_obj();
  kj_str(o, "apiVersion", api_version);
  kj_str(o, "kind", kind);
  kj_str(meta, "name", name);
  if (ns) kj_str(meta, "namespace", ns);
  kj_str(l, API_LABEL_MANAGED_BY, API_OPERATOR);
  kj_str(l, API_LABEL_FEDERATION, s->fed_name ? s->fed_name : "");
  kj_str(l, API_LABEL_CLUSTER, s->name);
  kj_set(meta, "labels", l);
  kj_set(o, "metadata", meta);
  return o;
}

json_object *fc_desired_namespace(const fc_spec *s) {
  /* Created by us (labelled so): unjoin may remove it, if it holds nothing else. */
  return fc_object(s, "v1", "Namespace", NULL, s->member_ns);
}

json_object *fc_desired_service_account(const fc_spec *s, const fc_names *n) {
  return fc_object(s, "v1", "ServiceAccount", s->member_ns, n->sa);
}

json_object *fc_member_rules(void) {
  /* What the federation controller manager's propagated types need in members, and nothing else:
   * it reads (list, watch: its member watches, get), creates, applies (patch), updates and
   * deletes its copies. Its Events go to the federation API, not here. */
  static const char *const rules[][3] = {
      {"", "namespaces,configmaps,secrets,serviceaccounts,services", "get,list,watch,create,update,patch,delete"},
      {"apps", "daemonsets,deployments,replicasets,statefulsets", "get,list,watch,create,update,patch,delete"},
      {"batch", "jobs", "get,list,watch,create,update,patch,delete"},
      {"autoscaling", "horizontalpodautoscalers", "get,list,watch,create,update,patch,delete"},
      {"", "pods", "list"}, /* pending pods our workloads own: the planner's capacity */
      {"networking.k8s.io", "ingresses", "get,list,watch,create,update,patch,delete"},
      /* Read only: whether a Service's copy has a ready endpoint (the service-ingresses annotation). */
      {"discovery.k8s.io", "endpointslices", "get,list,watch"},
  };
  static const char *const fields[3] = {"apiGroups", "resources", "verbs"};
  json_object *arr = kj_arr();
  for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
    json_object *r = kj_obj();
    for (int k = 0; k < 3; k++) {
      json_object *list = kj_arr();
      char *copy = kf_strdup(rules[i][k]), *save = NULL;
      if (k == 0) kj_push_str(list, copy);
      else
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) kj_push_str(list, t);
      free(copy);
      kj_set(r, fields[k], list);
    }
    kj_push(arr, r);
  }
  return arr;
}

json_object *fc_desired_role(const fc_spec *s, const fc_names *n) {
  return kj_set(fc_object(s, "rbac.authorization.k8s.io/v1", "ClusterRole", NULL, n->role), "rules", fc_member_rules());
}

json_object *fc_desired_binding(const fc_spec *s, const fc_names *n) {
  json_object *b = fc_object(s, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", NULL, n->role);
  json_object *ref = kj_obj(), *subj = kj_obj();
  kj_str(ref, "apiGroup", "rbac.authorization.k8s.io");
  kj_str(ref, "kind", "ClusterRole");
  kj_str(ref, "name", n->role);
  kj_str(subj, "kind", "ServiceAccount");
  kj_str(subj, "name", n->sa);
  kj_str(subj, "namespace", s->member_ns);
  kj_set(b, "roleRef", ref);
  return kj_set(b, "subjects", kj_push(kj_arr(), subj));
}

json_object *fc_desired_token_secret(const fc_spec *s, const fc_names *n) {
  /* Since 1.24 no token Secret is made for a ServiceAccount: ask for one explicitly. */
  json_object *t = fc_object(s, "v1", "Secret", s->member_ns, n->token);
  kj_set(kc_obj_get(t, "metadata"), "annotations", kj_str(kj_obj(), "kubernetes.io/service-account.name", n->sa));
  return kj_str(t, "type", "kubernetes.io/service-account-token");
}

/* ---- host and federation API ---- */

/* The minified kubeconfig both credential Secrets hold, as {"kubeconfig": base64}. */
static json_object *fc_credential_data(const fc_spec *s, const fc_names *n, const char *server, const char *ca_pem,
                                       const char *token) {
  char *kubeconfig = fed_kubeconfig(s->name, n->sa, s->name, server, ca_pem, NULL, NULL, token);
  char *b64 = kf_b64_encode(kubeconfig, strlen(kubeconfig));
  kf_free_secret(kubeconfig, strlen(kubeconfig));
  json_object *data = kj_str(kj_obj(), "kubeconfig", b64);
  kf_free_secret(b64, strlen(b64));
  return data;
}

json_object *fc_desired_credential_secret(const fc_spec *s, const fc_names *n, const char *uid, const char *server,
                                          const char *ca_pem, const char *token) {
  json_object *sec = fc_object(s, "v1", "Secret", s->ns, n->cred), *owner = kj_obj();
  kj_str(owner, "apiVersion", API_GROUP_VERSION);
  kj_str(owner, "kind", "FederatedCluster");
  kj_str(owner, "name", s->name);
  kj_str(owner, "uid", uid);
  kj_bool(owner, "controller", 1);
  kj_set(kc_obj_get(sec, "metadata"), "ownerReferences", kj_push(kj_arr(), owner));
  kj_str(sec, "type", "Opaque");
  return kj_set(sec, "data", fc_credential_data(s, n, server, ca_pem, token));
}

json_object *fc_desired_federation_secret(const fc_spec *s, const fc_names *n, const char *server, const char *ca_pem,
                                          const char *token) {
  /* No ownerReference: its owner lives on the host, which the federation API cannot see (and it
   * runs no garbage collector); unjoin deletes it. */
  json_object *sec = fc_object(s, "v1", "Secret", API_FEDERATION_SYSTEM, n->cred);
  kj_str(sec, "type", "Opaque");
  return kj_set(sec, "data", fc_credential_data(s, n, server, ca_pem, token));
}

static int fc_cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

json_object *fc_cluster_meta(const fc_spec *s) {
  json_object *meta = kj_obj(), *labels = kj_obj();
  size_t n = s->cluster_labels ? (size_t)json_object_object_length(s->cluster_labels) : 0, k = 0;
  const char **keys = kf_calloc(n + 1, sizeof(char *));
  if (s->cluster_labels) {
    json_object_object_foreach (s->cluster_labels, key, v) {
      /* Ours win: the Cluster must stay findable (and deletable) as this join's. */
      if (!json_object_is_type(v, json_type_string) || kf_streq(key, API_LABEL_MANAGED_BY) ||
          kf_streq(key, API_LABEL_FEDERATION) || kf_streq(key, API_LABEL_CLUSTER))
        continue;
      kj_str(labels, key, json_object_get_string(v));
      keys[k++] = key;
    }
  }
  kj_str(labels, API_LABEL_MANAGED_BY, API_OPERATOR);
  kj_str(labels, API_LABEL_FEDERATION, s->fed_name ? s->fed_name : "");
  kj_str(labels, API_LABEL_CLUSTER, s->name);
  /* The keys the spec sets, sorted: removing one changes this, so the Cluster differs from what
   * is applied, and server-side apply drops the label this field manager no longer sets. */
  qsort(keys, k, sizeof(char *), fc_cmp_cstr);
  json_object *list = kj_arr();
  for (size_t i = 0; i < k; i++) kj_push_str(list, keys[i]);
  char *joined = kj_join(list, ",");
  json_object_put(list);
  free(keys);
  kj_str(meta, "name", s->name);
  kj_set(meta, "labels", labels);
  kj_set(meta, "annotations", kj_str(kj_obj(), API_ANNOTATION_CLUSTER_LABELS, joined));
  free(joined);
  return meta;
}

json_object *fc_desired_cluster(const fc_spec *s, const fc_names *n, const char *server) {
  json_object *cl = kj_obj(), *spec = kj_obj(), *addr = kj_obj();
  kj_str(cl, "apiVersion", API_CLUSTER_GROUP_VERSION);
  kj_str(cl, "kind", "Cluster");
  kj_set(cl, "metadata", fc_cluster_meta(s));
  kj_str(addr, "clientCIDR", "0.0.0.0/0");
  kj_str(addr, "serverAddress", server);
  kj_set(spec, "serverAddressByClientCIDRs", kj_push(kj_arr(), addr));
  kj_set(spec, "secretRef", kj_str(kj_obj(), "name", n->cred));
  return kj_set(cl, "spec", spec);
}

int fc_cluster_as_desired(const fc_spec *s, const fc_names *n, json_object *cluster) {
  json_object *meta = fc_cluster_meta(s);
  json_object_object_del(meta, "name");
  int same = kj_subset(meta, kc_obj_get(cluster, "metadata")) &&
             kf_streq(kc_obj_str(cluster, "spec.secretRef.name"), n->cred);
  json_object_put(meta);
  return same;
}

/* ---- status ---- */

static int fc_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void fc_zones_of(json_object *nodes, json_object **zones, char **region) {
  json_object *items = kc_obj_get(nodes, "items");
  size_t n = json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 0, k = 0;
  const char **z = kf_calloc(n + 1, sizeof(char *));
  *region = NULL;
  for (size_t i = 0; i < n; i++) {
    json_object *labels = kc_obj_get(json_object_array_get_idx(items, i), "metadata.labels");
    const char *zone = kc_obj_key_str(labels, "topology.kubernetes.io/zone");
    const char *r = kc_obj_key_str(labels, "topology.kubernetes.io/region");
    if (r && !*region) *region = kf_strdup(r);
    int dup = 0;
    for (size_t j = 0; zone && j < k; j++) dup |= strcmp(z[j], zone) == 0;
    if (zone && !dup) z[k++] = zone;
  }
  qsort(z, k, sizeof(char *), fc_cmp_str);
  *zones = kj_arr();
  for (size_t i = 0; i < k; i++) kj_push_str(*zones, z[i]);
  free(z);
}

json_object *fc_status_body(const fc_spec *s, json_object *conditions, const fc_facts *x) {
  json_object *st = kj_obj(), *body = kj_obj();
  kj_int(st, "observedGeneration", s->generation);
  kj_set(st, "conditions", conditions);
  kj_str(st, "kubernetesVersion", x->version);
  kj_str(st, "region", x->region);
  kj_copy(st, "zones", x->zones);
  if (x->cred_name) kj_set(st, "credentialSecretRef", kj_str(kj_obj(), "name", x->cred_name));
  kj_str(body, "apiVersion", API_GROUP_VERSION);
  kj_str(body, "kind", "FederatedCluster");
  kj_set(body, "metadata", kj_str(kj_str(kj_obj(), "name", s->name), "namespace", s->ns));
  return kj_set(body, "status", st);
}

int fc_status_same(json_object *body, json_object *live) {
  return kj_subset(kc_obj_get(body, "status"), kc_obj_get(live, "status"));
}

int fc_cluster_status_as_fc(json_object *cluster, json_object *fc) {
  static const char *const types[] = {"Ready", "Offline"}, *const fields[] = {"status", "reason", "message"};
  for (size_t i = 0; i < 2; i++) {
    json_object *want = cond_find(fc, types[i]), *have = cond_find(cluster, types[i]);
    for (size_t k = 0; want && k < 3; k++)
      if (!kf_streq(kc_obj_str(want, fields[k]), kc_obj_str(have, fields[k]))) return 0;
  }
  return 1;
}

json_object *fc_cluster_status_body(const char *name, const cond *ready, const cond *offline, const fc_facts *x,
                                    const char *now) {
  json_object *cl = kj_obj(), *st = kj_obj(), *conds = kj_arr();
  const cond *c[2] = {ready, offline};
  const char *types[2] = {"Ready", "Offline"};
  for (int i = 0; i < 2; i++) {
    json_object *cj = kj_obj();
    kj_str(cj, "type", types[i]);
    kj_str(cj, "status", c[i]->status);
    kj_str(cj, "reason", c[i]->reason);
    kj_str(cj, "message", c[i]->message);
    kj_str(cj, "lastProbeTime", now);
    kj_push(conds, cj);
  }
  kj_set(st, "conditions", conds);
  kj_str(st, "region", x->region);
  kj_copy(st, "zones", x->zones);
  kj_str(cl, "apiVersion", API_CLUSTER_GROUP_VERSION);
  kj_str(cl, "kind", "Cluster");
  kj_set(cl, "metadata", kj_str(kj_obj(), "name", name));
  return kj_set(cl, "status", st);
}

/* ---- member watches ---- */

/* A token Secret cached whole would carry the member's CA and namespace too: the join reads the
 * token only. */
static void fc_keep_token(json_object *secret, void *unused) {
  (void)unused;
  json_object *data = kc_obj_get(secret, "data"), *token = NULL;
  if (!data) return;
  if (json_object_object_get_ex(data, "token", &token)) json_object_get(token);
  kj_set(secret, "data", token ? kj_set(kj_obj(), "token", token) : kj_obj());
}

/* The DNS ConfigMap is read fresh (its resourceVersion guards the update): the watch only says
 * that it changed. */
static void fc_metadata_only(json_object *obj, void *data) {
  (void)data;
  json_object_object_del(obj, "data");
  json_object_object_del(obj, "binaryData");
  json_object *meta = kc_obj_get(obj, "metadata");
  if (meta) json_object_object_del(meta, "annotations");
}

/* ---- what a FederatedCluster refers to ---- */

static char *fc_ref(json_object *fc, const char *path) {
  const char *ns = kc_obj_str(fc, "metadata.namespace"), *name = kc_obj_str(fc, path);
  return ns && name ? kf_asprintf("%s/%s", ns, name) : NULL;
}

char *fc_index_federation(json_object *fc, void *data) {
  (void)data;
  return fc_ref(fc, "spec.federationRef.name");
}

char *fc_index_kubeconfig_secret(json_object *fc, void *data) {
  (void)data;
  return fc_ref(fc, "spec.kubeconfigSecretRef.name");
}

char *fc_federation_inputs(json_object *fed) {
  json_object *in = kj_obj();
  const char *const paths[] = {"metadata.uid", "metadata.deletionTimestamp", "status.kubeconfigSecretRef",
                               "status.endpoint", "spec.dns"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    json_object *v = kc_obj_get(fed, paths[i]);
    if (v) kj_set(in, paths[i], json_object_get(v));
  }
  const char *serving = kc_obj_str(cond_find(fed, "APIServerReady"), "status");
  if (serving) kj_str(in, "APIServerReady", serving);
  char *text = kf_strdup(json_object_to_json_string_ext(in, KC_JSON_FLAGS));
  json_object_put(in);
  return text;
}

void fc_federation_watch_opts(int slot, const char *selector, informer_opts *o) {
  memset(o, 0, sizeof(*o));
  o->label_selector = selector;
  o->max_depth = WATCH_TYPED_DEPTH; /* the Cluster CRD and Secrets: no free-form nesting */
  if (slot == FW_CLUSTERS) {
    o->res = &API_CLUSTERS;
  } else {
    o->res = &KC_SECRETS;
    o->namespace_ = API_FEDERATION_SYSTEM;
  }
}

void fc_watch_opts(const fc_spec *s, int slot, const char *selector, const char *dns_cm, informer_opts *o) {
  static const char *const dns_field[2] = {"metadata.name=coredns", "metadata.name=kube-dns"};
  memset(o, 0, sizeof(*o));
  o->label_selector = selector;
  o->max_depth = WATCH_TYPED_DEPTH; /* built-in kinds only: 2 KiB of parser per watch, not 316 */
  switch (slot) {
    case W_ROLES: o->res = &KC_CLUSTERROLES; break;
    case W_BINDINGS: o->res = &KC_CLUSTERROLEBINDINGS; break;
    case W_SECRETS: o->res = &KC_SECRETS, o->namespace_ = s->member_ns, o->transform = fc_keep_token; break;
    default:
      o->res = &KC_CONFIGMAPS;
      o->namespace_ = FC_DNS_NS;
      o->label_selector = NULL;
      o->field_selector = dns_field[kf_streq(dns_cm, "kube-dns")];
      o->transform = fc_metadata_only;
  }
}

int fc_server_is_loopback(const char *server) {
  char host[256];
  unsigned char a[16];
  const char *p = server ? strstr(server, "://") : NULL, *end;
  if (!p) return 0;
  p += 3;
  if (*p == '[') {
    end = strchr(++p, ']');
  } else {
    end = p + strcspn(p, ":/?#");
  }
  if (!end || (size_t)(end - p) >= sizeof(host)) return 0;
  memcpy(host, p, (size_t)(end - p));
  host[end - p] = '\0';
  if (strcasecmp(host, "localhost") == 0) return 1;
  if (inet_pton(AF_INET, host, a) == 1) return a[0] == 127;
  if (inet_pton(AF_INET6, host, a) == 1) {
    static const unsigned char v6_loopback[16] = {[15] = 1}, mapped[12] = {[10] = 0xff, [11] = 0xff};
    return !memcmp(a, v6_loopback, 16) || (!memcmp(a, mapped, 12) && a[12] == 127);
  }
  return 0;
}
