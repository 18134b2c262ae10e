/* propagation.objects: the pure decisions of the sync controllers: kubefed v1's cluster selector
 * (every operator form, reference §2.5 and its upstream test vector), what is never propagated,
 * the member copy and its hash, the member cache's transform, the status annotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "propagation/propagation.h"
#include <kf/kj.h>

static json_object *parse(const char *json) {
  json_object *o = json_tokener_parse(json);
  assert_non_null(o);
  return o;
}

/* ---- selector ---- */

static int selects(const char *selector, const char *labels_json) {
  prop_selector *s;
  kf_error err;
  kf_error_clear(&err);
  assert_int_equal(prop_selector_parse(selector, &s, &err), 0);
  json_object *labels = parse(labels_json);
  int r = prop_selector_match(s, labels);
  json_object_put(labels);
  prop_selector_free(s);
  return r;
}

static const char *refused(const char *selector) {
  static kf_error err;
  prop_selector *s = (prop_selector *)1;
  kf_error_clear(&err);
  assert_int_equal(prop_selector_parse(selector, &s, &err), -EINVAL);
  assert_null(s);
  return err.msg;
}

static void test_selector_upstream_vector(void **state) {
  (void)state;
  const char *l = "{\"location\":\"europe\",\"environment\":\"prod\",\"version\":\"15\"}";
  assert_true(selects("[{\"key\":\"version\",\"operator\":\">\",\"values\":[\"14\"]}]", l));
  assert_false(selects("[{\"key\":\"version\",\"operator\":\">\",\"values\":[\"15\"]}]", l));
  assert_true(selects("[{\"key\":\"location\",\"operator\":\"in\",\"values\":[\"europe\",\"us\"]},"
                      "{\"key\":\"environment\",\"operator\":\"==\",\"values\":[\"prod\"]}]",
                      l));
  assert_false(selects("[{\"key\":\"location\",\"operator\":\"in\",\"values\":[\"europe\"]},"
                       "{\"key\":\"environment\",\"operator\":\"!=\",\"values\":[\"prod\"]}]",
                       l));
}

static void test_selector_every_operator(void **state) {
  (void)state;
  const char *prod = "{\"env\":\"prod\",\"n\":\"3\"}", *none = "{}";
  const char *const in[] = {"in", "In", "=", "=="};
  for (size_t i = 0; i < 4; i++) {
    char sel[128];
    snprintf(sel, sizeof(sel), "[{\"key\":\"env\",\"operator\":\"%s\",\"values\":[\"prod\"]}]", in[i]);
    assert_true(selects(sel, prod));
    assert_false(selects(sel, none));
  }
  const char *const notin[] = {"notin", "NotIn", "!="};
  for (size_t i = 0; i < 3; i++) {
    char sel[128];
    snprintf(sel, sizeof(sel), "[{\"key\":\"env\",\"operator\":\"%s\",\"values\":[\"prod\"]}]", notin[i]);
    assert_false(selects(sel, prod));
    assert_true(selects(sel, none)); /* labels.Requirement: a missing key is not in the set */
  }
  assert_true(selects("[{\"key\":\"env\",\"operator\":\"exists\"}]", prod));
  assert_false(selects("[{\"key\":\"env\",\"operator\":\"Exists\"}]", none));
  assert_false(selects("[{\"key\":\"env\",\"operator\":\"!\"}]", prod));
  assert_true(selects("[{\"key\":\"env\",\"operator\":\"DoesNotExist\"}]", none));
  assert_true(selects("[{\"key\":\"n\",\"operator\":\"Lt\",\"values\":[\"4\"]}]", prod));
  assert_false(selects("[{\"key\":\"n\",\"operator\":\"<\",\"values\":[\"3\"]}]", prod));
  assert_true(selects("[{\"key\":\"n\",\"operator\":\"gt\",\"values\":[\"2\"]}]", prod));
  assert_false(selects("[{\"key\":\"env\",\"operator\":\"gt\",\"values\":[\"2\"]}]", prod)); /* not a number */
  /* Go's encoding/json matches field names case-insensitively. */
  assert_true(selects("[{\"Key\":\"env\",\"OPERATOR\":\"In\",\"Values\":[\"prod\"]}]", prod));
  /* No annotation, or an empty list: every member. */
  assert_true(selects(NULL, none));
  assert_true(selects("[]", none));
}

static void test_selector_refusals(void **state) {
  (void)state;
  assert_non_null(strstr(refused("{\"key\":\"env\"}"), "JSON array"));
  assert_non_null(strstr(refused("not json"), "JSON array"));
  assert_non_null(strstr(refused("[{\"key\":\"env\",\"operator\":\"like\",\"values\":[\"a\"]}]"), "unknown operator"));
  assert_non_null(strstr(refused("[{\"key\":\"env\",\"operator\":\"In\",\"values\":[]}]"), "one or more values"));
  assert_non_null(strstr(refused("[{\"key\":\"env\",\"operator\":\"Exists\",\"values\":[\"a\"]}]"), "no values"));
  assert_non_null(strstr(refused("[{\"key\":\"n\",\"operator\":\"Gt\",\"values\":[\"x\"]}]"), "integer"));
  assert_non_null(strstr(refused("[{\"key\":\"\",\"operator\":\"Exists\"}]"), "key"));
  assert_non_null(strstr(refused("[{\"key\":\"a\",\"operator\":\"=\",\"values\":[\"a\",\"b\"]}]"), "exactly one"));
}

/* ---- skip ---- */

static int skipped(cm_controller id, const char *json) {
  json_object *o = parse(json);
  int r = prop_skip(prop_type_of(id), o);
  json_object_put(o);
  return r;
}

static void test_never_propagated(void **state) {
  (void)state;
  const char *const system[] = {"default",         "kube-system",       "kube-public",
                                "kube-node-lease", "federation-system", "kube-anything"};
  for (size_t i = 0; i < sizeof(system) / sizeof(system[0]); i++) {
    char json[128];
    snprintf(json, sizeof(json), "{\"metadata\":{\"name\":\"%s\"}}", system[i]);
    assert_true(skipped(CM_NAMESPACES, json));
    snprintf(json, sizeof(json), "{\"metadata\":{\"name\":\"x\",\"namespace\":\"%s\"}}", system[i]);
    /* Objects inside default are propagated; inside the system namespaces never. */
    assert_int_equal(skipped(CM_CONFIGMAPS, json), strcmp(system[i], "default") != 0);
  }
  assert_false(skipped(CM_NAMESPACES, "{\"metadata\":{\"name\":\"shop\"}}"));
  assert_true(skipped(CM_CONFIGMAPS, "{\"metadata\":{\"name\":\"kube-root-ca.crt\",\"namespace\":\"shop\"}}"));
  assert_true(skipped(CM_SERVICEACCOUNTS, "{\"metadata\":{\"name\":\"default\",\"namespace\":\"shop\"}}"));
  assert_false(skipped(CM_SERVICEACCOUNTS, "{\"metadata\":{\"name\":\"app\",\"namespace\":\"shop\"}}"));
  assert_true(skipped(CM_SECRETS, "{\"metadata\":{\"name\":\"t\",\"namespace\":\"shop\"},"
                                  "\"type\":\"kubernetes.io/service-account-token\"}"));
  assert_false(skipped(CM_SECRETS, "{\"metadata\":{\"name\":\"t\",\"namespace\":\"shop\"},\"type\":\"Opaque\"}"));
}

/* ---- the member copy ---- */

static const char *CM_JSON =
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\","
    "\"uid\":\"u-1\",\"resourceVersion\":\"42\",\"finalizers\":[\"orphan\"],\"labels\":{\"app\":\"web\"},"
    "\"annotations\":{\"note\":\"x\",\"kubefed.dev/propagation-status\":\"{}\"},"
    "\"managedFields\":[{}]},\"data\":{\"k\":\"v\"},\"immutable\":false}";

static void test_desired_configmap(void **state) {
  (void)state;
  json_object *fed = parse(CM_JSON), *d = prop_desired(prop_type_of(CM_CONFIGMAPS), fed, "fed-uid");
  assert_string_equal(kc_obj_str(d, "apiVersion"), "v1");
  assert_string_equal(kc_obj_str(d, "kind"), "ConfigMap");
  assert_string_equal(kc_obj_str(d, "metadata.name"), "web");
  assert_string_equal(kc_obj_str(d, "metadata.namespace"), "shop");
  json_object *labels = kc_obj_get(d, "metadata.labels"), *ann = kc_obj_get(d, "metadata.annotations");
  assert_string_equal(kc_obj_key_str(labels, "app"), "web");
  assert_string_equal(kc_obj_key_str(labels, PROP_LABEL_PROPAGATED_BY), "fed-uid");
  assert_string_equal(kc_obj_key_str(ann, "note"), "x");
  assert_null(kc_obj_key_str(ann, PROP_ANNOTATION_STATUS)); /* ours stays on the federated object */
  assert_non_null(kc_obj_key_str(ann, PROP_ANNOTATION_HASH));
  assert_string_equal(kc_obj_key_str(kc_obj_get(d, "data"), "k"), "v");
  /* Never the federated object's identity, version, finalizers or owners. */
  assert_null(kc_obj_get(d, "metadata.uid"));
  assert_null(kc_obj_get(d, "metadata.resourceVersion"));
  assert_null(kc_obj_get(d, "metadata.finalizers"));
  assert_null(kc_obj_get(d, "metadata.managedFields"));
  json_object_put(d);
  json_object_put(fed);
}

static const char *hash_of(json_object *fed, char *buf) {
  json_object *d = prop_desired(prop_type_of(CM_CONFIGMAPS), fed, "fed-uid");
  strcpy(buf, kc_obj_key_str(kc_obj_get(d, "metadata.annotations"), PROP_ANNOTATION_HASH));
  json_object_put(d);
  return buf;
}

static void test_desired_hash(void **state) {
  (void)state;
  char a[32], b[32];
  json_object *fed = parse(CM_JSON);
  hash_of(fed, a);
  /* Our own status annotation and the object's version do not change the copy. */
  kj_str(kc_obj_get(fed, "metadata.annotations"), PROP_ANNOTATION_STATUS, "{\"m1\":\"Applied\"}");
  kj_str(kc_obj_get(fed, "metadata"), "resourceVersion", "43");
  assert_string_equal(a, hash_of(fed, b));
  /* A removed label does: the apply that follows removes it from the copy. */
  json_object_object_del(kc_obj_get(fed, "metadata.labels"), "app");
  assert_string_not_equal(a, hash_of(fed, b));
  json_object_put(fed);
}

static void test_desired_per_type(void **state) {
  (void)state;
  json_object *sa = parse("{\"metadata\":{\"name\":\"app\",\"namespace\":\"shop\"},\"secrets\":[{\"name\":\"t\"}],"
                          "\"imagePullSecrets\":[{\"name\":\"reg\"}],\"automountServiceAccountToken\":false}");
  json_object *d = prop_desired(prop_type_of(CM_SERVICEACCOUNTS), sa, "u");
  assert_null(kc_obj_get(d, "secrets")); /* each member's token controller keeps its own */
  assert_non_null(kc_obj_get(d, "imagePullSecrets"));
  assert_non_null(kc_obj_get(d, "automountServiceAccountToken"));
  json_object_put(d);
  json_object_put(sa);

  json_object *ns = parse("{\"metadata\":{\"name\":\"shop\"},\"spec\":{\"finalizers\":[\"kubernetes\"]},"
                          "\"status\":{\"phase\":\"Active\"}}");
  d = prop_desired(prop_type_of(CM_NAMESPACES), ns, "u");
  assert_string_equal(kc_obj_str(d, "kind"), "Namespace");
  assert_null(kc_obj_get(d, "metadata.namespace"));
  assert_null(kc_obj_get(d, "spec"));
  assert_null(kc_obj_get(d, "status"));
  json_object_put(d);
  json_object_put(ns);

  json_object *ds = parse("{\"metadata\":{\"name\":\"agent\",\"namespace\":\"shop\"},\"spec\":{\"selector\":{}},"
                          "\"status\":{\"numberReady\":3}}");
  d = prop_desired(prop_type_of(CM_DAEMONSETS), ds, "u");
  assert_string_equal(kc_obj_str(d, "apiVersion"), "apps/v1");
  assert_non_null(kc_obj_get(d, "spec"));
  assert_null(kc_obj_get(d, "status"));
  json_object_put(d);
  json_object_put(ds);
  assert_string_equal(prop_type_of(CM_INGRESSES)->res->group, "networking.k8s.io");
  assert_null(prop_sched_of(prop_type_of(CM_HPAS))); /* bounds divided, no preferences, no status sums */
  json_object *hpa = parse("{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},\"spec\":{\"minReplicas\":6,"
                           "\"maxReplicas\":9,\"scaleTargetRef\":{\"kind\":\"Deployment\",\"name\":\"web\"}}}");
  d = prop_desired_hpa(prop_type_of(CM_HPAS), hpa, "u", 2, 3);
  assert_string_equal(kc_obj_str(d, "apiVersion"), "autoscaling/v2");
  assert_int_equal(json_object_get_int64(kc_obj_get(d, "spec.minReplicas")), 2);
  assert_int_equal(json_object_get_int64(kc_obj_get(d, "spec.maxReplicas")), 3);
  assert_string_equal(kc_obj_str(d, "spec.scaleTargetRef.name"), "web");
  json_object_put(d);
  json_object_put(hpa);
  assert_null(prop_sched_of(prop_type_of(CM_DAEMONSETS)));

  /* Scheduled workloads: each member's copy carries its own share, and its own hash with it. */
  json_object *dep = parse("{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"generation\":4,"
                           "\"annotations\":{\"federation.kubernetes.io/deployment-preferences\":\"{}\"}},"
                           "\"spec\":{\"replicas\":50,\"selector\":{}},\"status\":{\"replicas\":50}}");
  const prop_type *t = prop_type_of(CM_DEPLOYMENTS);
  assert_string_equal(prop_sched_of(t)->preferences, SCHED_ANN_DEPLOYMENT);
  assert_string_equal(prop_sched_of(prop_type_of(CM_STATEFULSETS))->preferences, SCHED_ANN_DEPLOYMENT);
  assert_string_equal(prop_sched_of(prop_type_of(CM_REPLICASETS))->preferences, SCHED_ANN_REPLICASET);
  json_object *d17 = prop_desired_replicas(t, dep, "u", 17), *d0 = prop_desired_replicas(t, dep, "u", 0);
  assert_int_equal(json_object_get_int64(kc_obj_get(d17, "spec.replicas")), 17);
  assert_int_equal(json_object_get_int64(kc_obj_get(d0, "spec.replicas")), 0);
  assert_null(kc_obj_get(d17, "status"));
  assert_string_not_equal(kc_obj_key_str(kc_obj_get(d17, "metadata.annotations"), PROP_ANNOTATION_HASH),
                          kc_obj_key_str(kc_obj_get(d0, "metadata.annotations"), PROP_ANNOTATION_HASH));
  assert_int_equal(json_object_get_int64(kc_obj_get(dep, "spec.replicas")), 50); /* the federated object untouched */
  json_object_put(d17);
  json_object_put(d0);
  /* the member cache keeps status and generation for the planner and the sums */
  prop_transform(dep, (void *)t);
  assert_int_equal(json_object_get_int64(kc_obj_get(dep, "status.replicas")), 50);
  assert_int_equal(json_object_get_int64(kc_obj_get(dep, "metadata.generation")), 4);
  json_object_put(dep);

  json_object *job = parse("{\"metadata\":{\"name\":\"pi\",\"namespace\":\"shop\"},\"spec\":{\"parallelism\":9,"
                           "\"completions\":18,\"selector\":{\"matchLabels\":{\"batch.kubernetes.io/controller-uid\":"
                           "\"x\"}}}}");
  t = prop_type_of(CM_JOBS);
  assert_int_equal(prop_sched_of(t)->kind, SCHED_KIND_JOB);
  d = prop_desired_job(t, job, "u", 3, 6);
  assert_int_equal(json_object_get_int64(kc_obj_get(d, "spec.parallelism")), 3);
  assert_int_equal(json_object_get_int64(kc_obj_get(d, "spec.completions")), 6);
  assert_true(json_object_get_boolean(kc_obj_get(d, "spec.manualSelector")));
  assert_non_null(kc_obj_get(d, "spec.selector.matchLabels"));
  json_object_put(d);
  json_object_put(job);

  /* a member HPA's cache keeps the status the bounds' later passes read, and not the rest */
  json_object *mh = parse("{\"metadata\":{\"name\":\"api\",\"namespace\":\"shop\"},\"spec\":{\"minReplicas\":2,"
                          "\"maxReplicas\":3},\"status\":{\"currentReplicas\":2,\"desiredReplicas\":2,"
                          "\"lastScaleTime\":\"2026-12-06T10:31:09Z\",\"conditions\":[{\"type\":\"AbleToScale\"}],"
                          "\"currentMetrics\":[]}}");
  prop_transform(mh, (void *)prop_type_of(CM_HPAS));
  assert_int_equal(json_object_get_int64(kc_obj_get(mh, "spec.maxReplicas")), 3);
  assert_int_equal(json_object_get_int64(kc_obj_get(mh, "status.desiredReplicas")), 2);
  assert_int_equal(json_object_get_int64(kc_obj_get(mh, "status.currentReplicas")), 2);
  assert_string_equal(kc_obj_str(mh, "status.lastScaleTime"), "2026-12-06T10:31:09Z");
  assert_null(kc_obj_get(mh, "status.conditions"));
  assert_null(kc_obj_get(mh, "status.currentMetrics"));
  json_object_put(mh);
}

/* Services: what the federation API allocated stays behind; a headless "None" and the rest of
 * spec go; the copy's hash does not depend on the federation API's allocations. The member cache
 * keeps status (the load balancer union); default/kubernetes is each apiserver's own. */
static void test_desired_service(void **state) {
  (void)state;
  const char *fed = "{\"metadata\":{\"name\":\"nginx\",\"namespace\":\"shop\"},\"spec\":{\"type\":\"LoadBalancer\","
                    "\"clusterIP\":\"10.0.0.7\",\"clusterIPs\":[\"10.0.0.7\"],\"healthCheckNodePort\":31000,"
                    "\"externalTrafficPolicy\":\"Local\",\"selector\":{\"app\":\"nginx\"},"
                    "\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080,\"nodePort\":30080},"
                    "{\"name\":\"https\",\"port\":443,\"nodePort\":30443}]},"
                    "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"1.2.3.4\"}]}}}";
  json_object *svc = parse(fed);
  const prop_type *t = prop_type_of(CM_SERVICES);
  assert_non_null(t);
  assert_true(t->lb_status_union);
  json_object *d = prop_desired(t, svc, "u");
  assert_string_equal(kc_obj_str(d, "apiVersion"), "v1");
  assert_string_equal(kc_obj_str(d, "kind"), "Service");
  assert_null(kc_obj_get(d, "spec.clusterIP"));
  assert_null(kc_obj_get(d, "spec.clusterIPs"));
  assert_null(kc_obj_get(d, "spec.healthCheckNodePort"));
  assert_null(kc_obj_get(d, "status"));
  assert_string_equal(kc_obj_str(d, "spec.type"), "LoadBalancer");
  assert_string_equal(kc_obj_str(d, "spec.externalTrafficPolicy"), "Local");
  json_object *ports = kc_obj_get(d, "spec.ports");
  assert_int_equal(json_object_array_length(ports), 2);
  for (size_t i = 0; i < 2; i++) {
    json_object *p = json_object_array_get_idx(ports, i);
    assert_null(json_object_object_get(p, "nodePort"));
    assert_non_null(json_object_object_get(p, "port"));
  }
  assert_int_equal(json_object_get_int(json_object_object_get(json_object_array_get_idx(ports, 0), "targetPort")),
                   8080);
  /* The federated object itself is untouched (the informer's cache holds it). */
  assert_string_equal(kc_obj_str(svc, "spec.clusterIP"), "10.0.0.7");
  /* Another allocation in the federation API, same copy, same hash: no write. */
  json_object *other = parse(fed);
  json_object_object_add(kc_obj_get(other, "spec"), "clusterIP", json_object_new_string("10.0.0.99"));
  json_object *d2 = prop_desired(t, other, "u");
  assert_string_equal(kc_obj_key_str(kc_obj_get(d, "metadata.annotations"), PROP_ANNOTATION_HASH),
                      kc_obj_key_str(kc_obj_get(d2, "metadata.annotations"), PROP_ANNOTATION_HASH));
  json_object_put(d2);
  json_object_put(other);
  /* The member cache keeps status for the union. */
  prop_transform(svc, (void *)t);
  assert_non_null(kc_obj_get(svc, "status.loadBalancer.ingress"));
  json_object_put(d);
  json_object_put(svc);

  json_object *headless = parse(
      "{\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\"},\"spec\":{\"clusterIP\":\"None\","
      "\"clusterIPs\":[\"None\"],\"ports\":[{\"port\":5432}]}}");
  d = prop_desired(t, headless, "u");
  assert_string_equal(kc_obj_str(d, "spec.clusterIP"), "None");
  assert_non_null(kc_obj_get(d, "spec.clusterIPs"));
  json_object_put(d);
  json_object_put(headless);

  assert_true(skipped(CM_SERVICES, "{\"metadata\":{\"name\":\"kubernetes\",\"namespace\":\"default\"}}"));
  assert_false(skipped(CM_SERVICES, "{\"metadata\":{\"name\":\"nginx\",\"namespace\":\"default\"}}"));
}

static void test_transform_keeps_what_deciding_needs(void **state) {
  (void)state;
  json_object *live = parse(CM_JSON);
  prop_transform(live, (void *)prop_type_of(CM_CONFIGMAPS));
  assert_string_equal(kc_obj_str(live, "metadata.uid"), "u-1");
  assert_string_equal(kc_obj_str(live, "metadata.resourceVersion"), "42");
  assert_non_null(kc_obj_get(live, "metadata.labels"));
  assert_non_null(kc_obj_get(live, "data"));
  assert_null(kc_obj_get(live, "metadata.managedFields"));
  assert_null(kc_obj_get(live, "metadata.finalizers"));
  /* What the transform kept still says the desired copy is there: no write at steady state, also
   * for list items, which carry no apiVersion or kind. */
  json_object *fed = parse(CM_JSON), *d = prop_desired(prop_type_of(CM_CONFIGMAPS), fed, "fed-uid");
  json_object *cached = parse(json_object_to_json_string(d));
  json_object_object_del(cached, "apiVersion");
  json_object_object_del(cached, "kind");
  prop_transform(cached, (void *)prop_type_of(CM_CONFIGMAPS));
  assert_true(kj_subset(d, cached));
  json_object_put(cached);
  json_object_put(d);
  json_object_put(fed);
  json_object_put(live);
}

static void test_status_text_sorted(void **state) {
  (void)state;
  prop_state s[] = {{"m2", "NotSelected"}, {"m1", "Applied"}, {"m3", "Failed: Cluster is not Ready"}};
  char *t = prop_status_text(s, 3);
  assert_string_equal(t, "{\"m1\":\"Applied\",\"m2\":\"NotSelected\",\"m3\":\"Failed: Cluster is not Ready\"}");
  free(t);
  t = prop_status_text(NULL, 0);
  assert_string_equal(t, "{}");
  free(t);
}

static void test_lb_union_sorted_and_unique(void **state) {
  (void)state;
  json_object *a = parse(
      "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.20\"},{\"ip\":\"192.0.2.3\"}]}}}");
  json_object *b = parse("{\"status\":{\"loadBalancer\":{\"ingress\":[{\"hostname\":\"lb.example.com\"},"
                         "{\"ip\":\"192.0.2.3\"}]}}}");
  json_object *none = parse("{\"status\":{}}");
  json_object *const copies[] = {a, NULL, b, none};
  json_object *u = prop_lb_union(copies, 4);
  assert_string_equal(json_object_to_json_string_ext(u, JSON_C_TO_STRING_PLAIN),
                      "[{\"hostname\":\"lb.example.com\"},{\"ip\":\"192.0.2.20\"},{\"ip\":\"192.0.2.3\"}]");
  json_object_put(u);
  u = prop_lb_union(copies + 1, 1);
  assert_int_equal(json_object_array_length(u), 0);
  json_object_put(u);
  /* The member cache of an Ingress keeps its status for this; other types drop it. */
  prop_transform(a, (void *)prop_type_of(CM_INGRESSES));
  assert_non_null(kc_obj_get(a, "status.loadBalancer.ingress"));
  prop_transform(b, (void *)prop_type_of(CM_DAEMONSETS));
  assert_null(kc_obj_get(b, "status"));
  json_object_put(a);
  json_object_put(b);
  json_object_put(none);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_selector_upstream_vector), cmocka_unit_test(test_selector_every_operator),
      cmocka_unit_test(test_selector_refusals),        cmocka_unit_test(test_never_propagated),
      cmocka_unit_test(test_desired_configmap),        cmocka_unit_test(test_desired_hash),
      cmocka_unit_test(test_desired_per_type),         cmocka_unit_test(test_transform_keeps_what_deciding_needs),
      cmocka_unit_test(test_status_text_sorted),       cmocka_unit_test(test_lb_union_sorted_and_unique),
      cmocka_unit_test(test_desired_service),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
