/* cluster.objects: what a join should make, as the pure builders give it: names, ownership,
 * member RBAC (exactly the propagated types, no wildcards), the token Secret, the host credential
 * Secret and its copy in the federation API, the Cluster with spec.clusterLabels, the member
 * watches, and the status body with its "changed?" check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kf/apply.h>
#include <kf/kj.h>

#include "federatedcluster/fc.h"

static json_object *fc_obj(void) {
  json_object *o = json_tokener_parse(
      "{\"metadata\":{\"name\":\"gondor\",\"namespace\":\"fed\",\"generation\":4,\"uid\":\"u-1\"},"
      "\"spec\":{\"federationRef\":{\"name\":\"fellowship\"},\"kubeconfigSecretRef\":{\"name\":\"gondor-admin\"}}}");
  assert_non_null(o);
  return o;
}

static void test_names_and_ownership(void **state) {
  (void)state;
  json_object *fc = fc_obj();
  fc_spec s;
  fc_names n;
  const char *owner[5];
  assert_int_equal(fc_spec_decode(fc, &s, NULL), 0);
  fc_names_of(&s, &n);
  assert_string_equal(n.cred, "gondor-credentials");
  assert_string_equal(n.sa, "kubefed-fellowship-gondor");
  assert_string_equal(n.role, "kubefed.dev:fellowship:gondor");
  assert_string_equal(n.token, "kubefed-fellowship-gondor-token");
  fc_owner_labels(s.fed_name, owner);
  /* Every member object is ours by the owner labels, and carries the cluster label too. */
  json_object *objs[] = {fc_desired_namespace(&s),        fc_desired_service_account(&s, &n),
                         fc_desired_role(&s, &n),         fc_desired_binding(&s, &n),
                         fc_desired_token_secret(&s, &n), fc_desired_cluster(&s, &n, "https://gondor:6443")};
  for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
    assert_true(apply_is_ours(objs[i], owner));
    assert_string_equal(kc_obj_key_str(kc_obj_get(objs[i], "metadata.labels"), API_LABEL_CLUSTER), "gondor");
    json_object_put(objs[i]);
  }
  char *sel = fc_selector(s.fed_name, s.name);
  assert_string_equal(sel, "app.kubernetes.io/managed-by=kubefed-operator,kubefed.dev/federation=fellowship,"
                           "kubefed.dev/cluster=gondor");
  free(sel);
  fc_names_free(&n);
  json_object_put(fc);
}

static void test_member_rbac(void **state) {
  (void)state;
  json_object *fc = fc_obj();
  fc_spec s;
  fc_names n;
  fc_spec_decode(fc, &s, NULL);
  fc_names_of(&s, &n);
  json_object *role = fc_desired_role(&s, &n), *b = fc_desired_binding(&s, &n);
  const char *text = json_object_to_json_string(kc_obj_get(role, "rules"));
  assert_null(strstr(text, "\"*\"")); /* least privilege: no wildcards */
  /* Exactly the propagated types (RBAC.md's member rows), each with the verbs a copy needs. */
  assert_string_equal(text,
                      "[ { \"apiGroups\": [ \"\" ], \"resources\": [ \"namespaces\", \"configmaps\", \"secrets\", "
                      "\"serviceaccounts\", \"services\" ], \"verbs\": [ \"get\", \"list\", \"watch\", \"create\", "
                      "\"update\", \"patch\", \"delete\" ] }, { \"apiGroups\": [ \"apps\" ], "
                      "\"resources\": [ \"daemonsets\", \"deployments\", \"replicasets\", \"statefulsets\" ], "
                      "\"verbs\": [ \"get\", \"list\", \"watch\", \"create\", \"update\", \"patch\", \"delete\" ] }, "
                      "{ \"apiGroups\": [ \"batch\" ], \"resources\": [ \"jobs\" ], \"verbs\": [ \"get\", \"list\", "
                      "\"watch\", \"create\", \"update\", \"patch\", \"delete\" ] }, "
                      "{ \"apiGroups\": [ \"autoscaling\" ], \"resources\": [ \"horizontalpodautoscalers\" ], "
                      "\"verbs\": [ \"get\", \"list\", \"watch\", \"create\", \"update\", \"patch\", \"delete\" ] }, "
                      "{ \"apiGroups\": [ \"\" ], \"resources\": [ \"pods\" ], \"verbs\": [ \"list\" ] }, "
                      "{ \"apiGroups\": [ \"networking.k8s.io\" ], \"resources\": [ \"ingresses\" ], "
                      "\"verbs\": [ \"get\", \"list\", \"watch\", \"create\", \"update\", \"patch\", \"delete\" ] }, "
                      "{ \"apiGroups\": [ \"discovery.k8s.io\" ], \"resources\": [ \"endpointslices\" ], "
                      "\"verbs\": [ \"get\", \"list\", \"watch\" ] } ]");
  assert_null(strstr(text, "events")); /* the controller manager's Events go to the federation API */
  assert_string_equal(kc_obj_str(b, "roleRef.name"), n.role);
  json_object *subj = json_object_array_get_idx(kc_obj_get(b, "subjects"), 0);
  assert_string_equal(kc_obj_str(subj, "name"), n.sa);
  assert_string_equal(kc_obj_str(subj, "namespace"), "federation-system");
  json_object *t = fc_desired_token_secret(&s, &n);
  assert_string_equal(kc_obj_str(t, "type"), "kubernetes.io/service-account-token");
  assert_string_equal(kc_obj_key_str(kc_obj_get(t, "metadata.annotations"), "kubernetes.io/service-account.name"),
                      n.sa);
  json_object_put(t);
  json_object_put(role);
  json_object_put(b);
  fc_names_free(&n);
  json_object_put(fc);
}

static void test_credential_secret_and_cluster(void **state) {
  (void)state;
  json_object *fc = fc_obj();
  fc_spec s;
  fc_names n;
  fc_spec_decode(fc, &s, NULL);
  fc_names_of(&s, &n);
  json_object *sec = fc_desired_credential_secret(&s, &n, "u-1", "https://gondor:6443", NULL, "tok");
  assert_string_equal(kc_obj_str(sec, "metadata.namespace"), "fed");
  assert_string_equal(kc_obj_str(sec, "metadata.name"), "gondor-credentials");
  json_object *ref = json_object_array_get_idx(kc_obj_get(sec, "metadata.ownerReferences"), 0);
  assert_string_equal(kc_obj_str(ref, "uid"), "u-1");
  assert_non_null(kc_obj_key_str(kc_obj_get(sec, "data"), "kubeconfig"));
  kj_put_wiped(sec);
  /* The same kubeconfig in the federation API, where the Cluster's secretRef points. */
  json_object *host = fc_desired_credential_secret(&s, &n, "u-1", "https://gondor:6443", "CA", "tok");
  json_object *fsec = fc_desired_federation_secret(&s, &n, "https://gondor:6443", "CA", "tok");
  assert_string_equal(kc_obj_str(fsec, "metadata.namespace"), "federation-system");
  assert_string_equal(kc_obj_str(fsec, "metadata.name"), "gondor-credentials");
  assert_null(kc_obj_get(fsec, "metadata.ownerReferences")); /* its owner is on the host */
  assert_string_equal(kc_obj_str(fsec, "type"), "Opaque");
  assert_true(kj_subset(kc_obj_get(host, "data"), kc_obj_get(fsec, "data")));
  assert_true(kj_subset(kc_obj_get(fsec, "data"), kc_obj_get(host, "data")));
  const char *owner[5];
  fc_owner_labels(s.fed_name, owner);
  assert_true(apply_is_ours(fsec, owner));
  kj_put_wiped(host);
  kj_put_wiped(fsec);
  json_object *cl = fc_desired_cluster(&s, &n, "https://gondor:6443");
  assert_string_equal(kc_obj_str(cl, "spec.secretRef.name"), "gondor-credentials");
  assert_string_equal(kc_obj_key_str(kc_obj_get(cl, "metadata.annotations"), API_ANNOTATION_CLUSTER_LABELS), "");
  json_object *addr = json_object_array_get_idx(kc_obj_get(cl, "spec.serverAddressByClientCIDRs"), 0);
  assert_string_equal(kc_obj_str(addr, "serverAddress"), "https://gondor:6443");
  json_object_put(cl);
  fc_names_free(&n);
  json_object_put(fc);
}

/* spec.clusterLabels become the Cluster's labels (ours win), with the annotation listing their
 * keys; fc_cluster_as_desired decides whether a change seen in the federation API needs a
 * reconcile. */
static void test_cluster_labels(void **state) {
  (void)state;
  json_object *fc = json_tokener_parse(
      "{\"metadata\":{\"name\":\"gondor\",\"namespace\":\"fed\",\"uid\":\"u-1\"},"
      "\"spec\":{\"federationRef\":{\"name\":\"fellowship\"},\"kubeconfigSecretRef\":{\"name\":\"gondor-admin\"},"
      "\"clusterLabels\":{\"region\":\"west\",\"env\":\"prod\",\"kubefed.dev/cluster\":\"mordor\",\"n\":7}}}");
  fc_spec s;
  fc_names n;
  assert_int_equal(fc_spec_decode(fc, &s, NULL), 0);
  fc_names_of(&s, &n);
  json_object *cl = fc_desired_cluster(&s, &n, "https://gondor:6443");
  json_object *labels = kc_obj_get(cl, "metadata.labels");
  assert_string_equal(kc_obj_key_str(labels, "env"), "prod");
  assert_string_equal(kc_obj_key_str(labels, "region"), "west");
  assert_string_equal(kc_obj_key_str(labels, API_LABEL_CLUSTER), "gondor"); /* ours win */
  assert_null(kc_obj_get(labels, "n"));                                     /* not a string */
  assert_int_equal(json_object_object_length(labels), 5);
  assert_string_equal(kc_obj_key_str(kc_obj_get(cl, "metadata.annotations"), API_ANNOTATION_CLUSTER_LABELS),
                      "env,region");

  /* As applied: as desired. A status write or a label somebody else added: still as desired. */
  assert_true(fc_cluster_as_desired(&s, &n, cl));
  kj_str(labels, "team", "rangers");
  kj_set(cl, "status", json_tokener_parse("{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}"));
  assert_true(fc_cluster_as_desired(&s, &n, cl));
  /* `kubectl label --overwrite env=dev`, or a label the spec sets removed: not as desired. */
  kj_str(labels, "env", "dev");
  assert_false(fc_cluster_as_desired(&s, &n, cl));
  kj_str(labels, "env", "prod");
  json_object_object_del(labels, "region");
  assert_false(fc_cluster_as_desired(&s, &n, cl));
  json_object_put(cl);

  /* A key removed from the spec: the annotation differs, so the next apply (which drops the
   * label this field manager no longer sets) is sent. */
  json_object *applied = fc_desired_cluster(&s, &n, "https://gondor:6443");
  json_object_object_del(kc_obj_get(fc, "spec.clusterLabels"), "region");
  assert_int_equal(fc_spec_decode(fc, &s, NULL), 0);
  json_object *want = fc_desired_cluster(&s, &n, "https://gondor:6443");
  assert_false(kj_subset(want, applied));
  assert_false(fc_cluster_as_desired(&s, &n, applied));
  assert_string_equal(kc_obj_key_str(kc_obj_get(want, "metadata.annotations"), API_ANNOTATION_CLUSTER_LABELS), "env");
  json_object_put(want);
  json_object_put(applied);
  fc_names_free(&n);
  json_object_put(fc);
}

static void test_status_changed_by_subset(void **state) {
  (void)state;
  json_object *fc = fc_obj();
  fc_spec s;
  fc_spec_decode(fc, &s, NULL);
  json_object *nodes = json_tokener_parse(
      "{\"items\":[{\"metadata\":{\"labels\":{\"topology.kubernetes.io/zone\":\"b\",\"topology.kubernetes.io/region\":\"r\"}}},"
      "{\"metadata\":{\"labels\":{\"topology.kubernetes.io/zone\":\"a\"}}},"
      "{\"metadata\":{\"labels\":{\"topology.kubernetes.io/zone\":\"b\"}}}]}");
  json_object *zones = NULL;
  char *region = NULL;
  fc_zones_of(nodes, &zones, &region);
  assert_string_equal(json_object_to_json_string_ext(zones, JSON_C_TO_STRING_PLAIN), "[\"a\",\"b\"]");
  assert_string_equal(region, "r");
  cond conds[C_N] = {0};
  for (int i = 0; i < C_N; i++) cond_set(&conds[i], "True", "R", "m");
  int changed = 0;
  fc_facts x = {.version = "v1.37.2", .region = region, .zones = zones, .cred_name = "gondor-credentials"};
  json_object *body = fc_status_body(&s, cond_array(fc, FC_COND, conds, C_N, s.generation, &changed), &x);
  assert_false(fc_status_same(body, fc));
  /* Once the object shows it (plus what the server adds), the same body is no write. */
  json_object *st = NULL;
  json_object_deep_copy(kc_obj_get(body, "status"), &st, NULL);
  kj_str(st, "lastProbeTime", "2030-01-01T00:00:00Z");
  kj_set(fc, "status", st);
  json_object *again = fc_status_body(&s, cond_array(fc, FC_COND, conds, C_N, s.generation, &changed), &x);
  assert_true(fc_status_same(again, fc));
  json_object_put(again);
  /* A new generation is a change. */
  s.generation = 5;
  again = fc_status_body(&s, cond_array(fc, FC_COND, conds, C_N, s.generation, &changed), &x);
  assert_false(fc_status_same(again, fc));
  json_object_put(again);
  json_object_put(body);
  for (int i = 0; i < C_N; i++) cond_free(&conds[i]);
  free(region);
  json_object_put(zones);
  json_object_put(nodes);
  json_object_put(fc);
}

static void test_watches(void **state) {
  (void)state;
  json_object *fc = fc_obj();
  fc_spec s;
  informer_opts o;
  fc_spec_decode(fc, &s, NULL);
  fc_watch_opts(&s, W_ROLES, "sel", NULL, &o);
  assert_ptr_equal(o.res, &KC_CLUSTERROLES);
  assert_string_equal(o.label_selector, "sel");
  fc_watch_opts(&s, W_SECRETS, "sel", NULL, &o);
  assert_string_equal(o.namespace_, "federation-system");
  /* The token Secret is cached with its token only. */
  json_object *secret = json_tokener_parse(
      "{\"metadata\":{\"name\":\"t\"},\"data\":{\"token\":\"dA==\",\"ca.crt\":\"eA==\"}}");
  o.transform(secret, o.transform_data);
  assert_string_equal(json_object_to_json_string_ext(kc_obj_get(secret, "data"), JSON_C_TO_STRING_PLAIN),
                      "{\"token\":\"dA==\"}");
  json_object_put(secret);
  fc_watch_opts(&s, W_DNS, NULL, "kube-dns", &o);
  assert_string_equal(o.field_selector, "metadata.name=kube-dns");
  assert_string_equal(o.namespace_, "kube-system");
  json_object *cm = json_tokener_parse(
      "{\"metadata\":{\"name\":\"kube-dns\",\"annotations\":{\"a\":\"b\"}},\"data\":{\"x\":\"y\"}}");
  o.transform(cm, o.transform_data);
  assert_null(kc_obj_get(cm, "data"));
  assert_null(kc_obj_get(cm, "metadata.annotations"));
  json_object_put(cm);
  fc_watch_opts(&s, W_DNS, NULL, "coredns", &o);
  assert_string_equal(o.field_selector, "metadata.name=coredns");
  json_object_put(fc);
}

/* A member server on loopback (kind get kubeconfig): flagged when the operator runs in cluster. */
static void test_loopback_server(void **state) {
  (void)state;
  static const char *const loopback[] = {"https://127.0.0.1:6443", "https://127.8.9.1",
                                         "https://localhost:6443", "https://LOCALHOST/",
                                         "https://[::1]:6443",     "https://[::ffff:127.0.0.1]:1"};
  static const char *const elsewhere[] = {"https://172.18.0.2:6443",
                                          "https://kind-control-plane:6443",
                                          "https://[fd00::1]:6443",
                                          "https://10.127.0.1",
                                          "https://localhost.example.com",
                                          "127.0.0.1:6443",
                                          "",
                                          "https://[::1"};
  for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
    if (!fc_server_is_loopback(loopback[i])) fail_msg("%s: not seen as loopback", loopback[i]);
  for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++)
    if (fc_server_is_loopback(elsewhere[i])) fail_msg("%s: seen as loopback", elsewhere[i]);
  assert_false(fc_server_is_loopback(NULL));
}

/* What a FederatedCluster refers to, for the cache's indexes, and which Federation updates concern
 * its members: a status count does not, what they read does. */
static void test_references(void **state) {
  (void)state;
  json_object *fc = fc_obj();
  char *fed = fc_index_federation(fc, NULL), *secret = fc_index_kubeconfig_secret(fc, NULL);
  assert_string_equal(fed, "fed/fellowship");
  assert_string_equal(secret, "fed/gondor-admin");
  free(fed);
  free(secret);
  json_object *bare = json_tokener_parse("{\"metadata\":{\"name\":\"x\",\"namespace\":\"fed\"}}");
  assert_null(fc_index_federation(bare, NULL));
  json_object_put(bare);
  json_object_put(fc);

#define FED_JSON                                                                                                     \
  "{\"metadata\":{\"uid\":\"u\"},\"spec\":{\"dns\":{\"zoneName\":\"example.com.\"},\"apiServer\":{\"replicas\":1}}," \
  "\"status\":{\"joinedClusters\":%d,\"endpoint\":\"%s\",\"conditions\":[{\"type\":\"APIServerReady\",\"status\":"   \
  "\"%s\"},{\"type\":\"Ready\",\"status\":\"%s\"}]}}"
  char buf[512];
  snprintf(buf, sizeof(buf), FED_JSON, 1, "https://a", "True", "True");
  json_object *a = json_tokener_parse(buf);
  char *ia = fc_federation_inputs(a);
  const char *changes[][4] = {{"2", "https://a", "True", "False"},  /* status counts, other conditions */
                              {"1", "https://b", "True", "True"},   /* the endpoint */
                              {"1", "https://a", "False", "True"}}; /* serving */
  for (size_t i = 0; i < 3; i++) {
    snprintf(buf, sizeof(buf), FED_JSON, atoi(changes[i][0]), changes[i][1], changes[i][2], changes[i][3]);
    json_object *b = json_tokener_parse(buf);
    char *ib = fc_federation_inputs(b);
    if (i == 0) assert_string_equal(ia, ib);
    else assert_string_not_equal(ia, ib);
    free(ib);
    json_object_put(b);
  }
  kj_set(kc_obj_get(a, "spec.dns"), "provider", json_object_new_string("coredns"));
  char *id = fc_federation_inputs(a);
  assert_string_not_equal(ia, id);
  free(id);
  free(ia);
  json_object_put(a);
}

/* The Cluster in the federation API shows the FederatedCluster's readiness, or is looked at again. */
static void test_cluster_status_as_fc(void **state) {
  (void)state;
  cond ready = {0}, offline = {0};
  cond_set(&ready, "True", "Healthy", "answered /readyz");
  cond_set(&offline, "False", "Reachable", "answered");
  fc_facts x = {.region = "r"};
  json_object *fc = json_tokener_parse(
      "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Healthy\",\"message\":"
      "\"answered /readyz\",\"lastTransitionTime\":\"2030-01-01T00:00:00Z\"},{\"type\":\"Offline\",\"status\":"
      "\"False\",\"reason\":\"Reachable\",\"message\":\"answered\"},{\"type\":\"Joined\",\"status\":\"True\"}]}}");
  json_object *cluster = fc_cluster_status_body("gondor", &ready, &offline, &x, "2030-01-01T00:00:05Z");
  assert_true(fc_cluster_status_as_fc(cluster, fc));
  /* somebody else's Ready False there (or our mirror failed while the member turned Ready) */
  json_object *c = json_object_array_get_idx(kc_obj_get(cluster, "status.conditions"), 0);
  kj_str(c, "status", "False");
  assert_false(fc_cluster_status_as_fc(cluster, fc));
  kj_str(c, "status", "True");
  kj_str(c, "message", "edited");
  assert_false(fc_cluster_status_as_fc(cluster, fc));
  json_object_put(cluster);
  /* no conditions there yet */
  cluster = json_tokener_parse("{\"spec\":{}}");
  assert_false(fc_cluster_status_as_fc(cluster, fc));
  /* a FederatedCluster with no verdict yet asks nothing of the Cluster */
  json_object *fresh = json_tokener_parse("{\"status\":{}}");
  assert_true(fc_cluster_status_as_fc(cluster, fresh));
  json_object_put(fresh);
  json_object_put(cluster);
  json_object_put(fc);
  cond_free(&ready);
  cond_free(&offline);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loopback_server),
      cmocka_unit_test(test_names_and_ownership),
      cmocka_unit_test(test_member_rbac),
      cmocka_unit_test(test_credential_secret_and_cluster),
      cmocka_unit_test(test_cluster_labels),
      cmocka_unit_test(test_status_changed_by_subset),
      cmocka_unit_test(test_watches),
      cmocka_unit_test(test_references),
      cmocka_unit_test(test_cluster_status_as_fc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
