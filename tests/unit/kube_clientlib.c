/* kube.clientlib: paths, escaping, metav1.Status decoding, metrics text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kf/kc.h>
#include <kf/metrics.h>

static const kc_resource WIDGETS = {"test.kubefed.dev", "v1", "widgets", "Widget", 1};

static void check_path(const kc_resource *res, const char *ns, const char *name, const char *sub, const char *want) {
  char *p = kc_path(res, ns, name, sub);
  assert_string_equal(p, want);
  free(p);
}

static void test_paths(void **state) {
  (void)state;
  check_path(&KC_CONFIGMAPS, "ns", "cm", NULL, "/api/v1/namespaces/ns/configmaps/cm");
  check_path(&KC_CONFIGMAPS, NULL, NULL, NULL, "/api/v1/configmaps");
  check_path(&KC_NAMESPACES, "ignored", "x", NULL, "/api/v1/namespaces/x");
  check_path(&WIDGETS, "ns", "w", "status", "/apis/test.kubefed.dev/v1/namespaces/ns/widgets/w/status");
  check_path(&KC_CRDS, NULL, "a.b", NULL, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/a.b");
  check_path(&KC_LEASES, "kube-system", NULL, NULL, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases");
}

static void test_escape(void **state) {
  (void)state;
  char *e = kc_escape("app in (a,b),tier!=x y/z");
  assert_string_equal(e, "app%20in%20%28a%2Cb%29%2Ctier%21%3Dx%20y%2Fz");
  free(e);
  e = kc_escape("plain-._~09AZ");
  assert_string_equal(e, "plain-._~09AZ");
  free(e);
}

static void test_status_errors(void **state) {
  kf_error err;
  (void)state;
  const char *conflict = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                         "\"message\":\"the object has been modified\",\"reason\":\"Conflict\",\"code\":409}";
  assert_int_equal(kc_status_error(409, conflict, strlen(conflict), "PUT x", &err), KC_ERR_CONFLICT);
  assert_string_equal(err.reason, "Conflict");
  assert_int_equal(err.http_status, 409);
  assert_non_null(strstr(err.msg, "PUT x: 409 Conflict: the object has been modified"));

  const char *exists = "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\",\"message\":\"exists\",\"code\":409}";
  assert_int_equal(kc_status_error(409, exists, strlen(exists), "POST", &err), KC_ERR_EXISTS);
  const char *gone = "{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":\"too old\",\"code\":410}";
  assert_int_equal(kc_status_error(410, gone, strlen(gone), "watch", &err), KC_ERR_GONE);
  assert_int_equal(kc_status_error(429, "", 0, "GET", &err), KC_ERR_THROTTLED);
  assert_int_equal(kc_status_error(403, NULL, 0, "GET", &err), KC_ERR_FORBIDDEN);
  assert_int_equal(kc_status_error(422, "{}", 2, "POST", &err), KC_ERR_INVALID);
  /* A body that is not a Status (an HTML error page from a proxy) leaves only the code. */
  assert_int_equal(kc_status_error(502, "<html>bad gateway</html>", 24, "GET", &err), KC_ERR_SERVER);
  assert_string_equal(err.reason, "");
  assert_non_null(strstr(err.msg, "502"));
}

static void test_object_paths(void **state) {
  (void)state;
  json_object *o = json_tokener_parse("{\"metadata\":{\"name\":\"n\",\"labels\":{\"a.b/c\":\"v\"}},\"spec\":3}");
  assert_string_equal(kc_obj_str(o, "metadata.name"), "n");
  assert_null(kc_obj_str(o, "metadata.missing"));
  assert_null(kc_obj_str(o, "spec.x"));                               /* through a non-object */
  assert_null(kc_obj_str(o, "spec"));                                 /* not a string */
  assert_null(kc_obj_str(kc_obj_get(o, "metadata.labels"), "a.b/c")); /* a path splits at dots */
  assert_string_equal(kc_obj_key_str(kc_obj_get(o, "metadata.labels"), "a.b/c"), "v");
  json_object_put(o);
}

static void test_metrics_text(void **state) {
  (void)state;
  kf_metrics *m = kf_metrics_new("kubefed_");
  kf_metrics_add(m, "api_requests_total", "API requests", "verb=\"GET\",code=\"200\"", 2);
  kf_metrics_add(m, "api_requests_total", "API requests", "verb=\"GET\",code=\"200\"", 1);
  kf_metrics_set(m, "leader", "leader", "", 1);
  kf_metrics_observe(m, "reconcile_duration_seconds", "durations", "controller=\"x\"", 0.02);
  assert_true(kf_metrics_get(m, "api_requests_total", "verb=\"GET\",code=\"200\"") == 3);
  char *text = kf_metrics_render(m);
  assert_non_null(strstr(text, "# TYPE kubefed_api_requests_total counter\n"));
  assert_non_null(strstr(text, "kubefed_api_requests_total{verb=\"GET\",code=\"200\"} 3\n"));
  assert_non_null(strstr(text, "kubefed_leader 1\n"));
  assert_non_null(strstr(text, "kubefed_reconcile_duration_seconds_bucket{controller=\"x\",le=\"0.01\"} 0\n"));
  assert_non_null(strstr(text, "kubefed_reconcile_duration_seconds_bucket{controller=\"x\",le=\"0.025\"} 1\n"));
  assert_non_null(strstr(text, "kubefed_reconcile_duration_seconds_count{controller=\"x\"} 1\n"));
  free(text);
  kf_metrics_free(m);
  assert_true(kf_rss_bytes() > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_paths),        cmocka_unit_test(test_escape),       cmocka_unit_test(test_status_errors),
      cmocka_unit_test(test_object_paths), cmocka_unit_test(test_metrics_text),
  };
  return cmocka_run_group_tests_name("kube.clientlib", tests, NULL, NULL);
}
