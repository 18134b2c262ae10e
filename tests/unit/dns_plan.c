/* dns.plan: the kube-dns ConfigMap patch for a join and an unjoin, with the bookkeeping that
 * makes the unjoin exact: keys we created go, values that were there come back byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clusterdns/clusterdns.h"
#include <kf/kc.h>

static const char *const NS[] = {"10.0.0.10:53", NULL};
static const clusterdns_entry E = {.federation = "fellowship", .zone = "example.com.", .nameservers = NS};
static const clusterdns_marks M = {"kubefed.dev/created-keys-fellowship", "kubefed.dev/original-fellowship"};

static json_object *cm_of(const char *json) {
  json_object *o = json_tokener_parse(json);
  assert_non_null(o);
  return o;
}

/* What the API server does with a merge patch, for the two maps the plan touches. */
static void merge(json_object *cm, json_object *patch) {
  const char *maps[][2] = {{"metadata", "annotations"}, {NULL, "data"}};
  for (int i = 0; i < 2; i++) {
    json_object *dst_parent = maps[i][0] ? json_object_object_get(cm, maps[i][0]) : cm;
    json_object *src_parent = maps[i][0] ? json_object_object_get(patch, maps[i][0]) : patch;
    json_object *src = json_object_object_get(src_parent, maps[i][1]),
                *dst = json_object_object_get(dst_parent, maps[i][1]);
    if (!src) continue;
    if (!dst) json_object_object_add(dst_parent, maps[i][1], dst = json_object_new_object());
    json_object_object_foreach (src, k, v) {
      if (v) json_object_object_add(dst, k, json_object_get(v));
      else json_object_object_del(dst, k);
    }
  }
}

static void test_join_new_keys_then_unjoin(void **state) {
  (void)state;
  json_object *cm = cm_of("{\"metadata\":{},\"data\":{\"upstreamNameservers\":\"[\\\"8.8.8.8\\\"]\"}}");
  json_object *before = NULL, *patch;
  kf_error err;
  json_object_deep_copy(cm, &before, NULL);
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 0, &M, &patch, &err), 0);
  assert_non_null(patch);
  assert_string_equal(kc_obj_key_str(kc_obj_get(patch, "metadata.annotations"), M.created), "federations,stubDomains");
  assert_string_equal(kc_obj_key_str(kc_obj_get(patch, "metadata.annotations"), M.original), "{}");
  assert_string_equal(kc_obj_key_str(kc_obj_get(patch, "data"), "federations"), "fellowship=example.com");
  merge(cm, patch);
  json_object_put(patch);
  /* Joined: nothing more to write. */
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 0, &M, &patch, &err), 0);
  assert_null(patch);
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 1, &M, &patch, &err), 0);
  assert_non_null(patch);
  merge(cm, patch);
  json_object_put(patch);
  assert_string_equal(json_object_to_json_string(json_object_object_get(cm, "data")),
                      json_object_to_json_string(json_object_object_get(before, "data")));
  assert_int_equal(json_object_object_length(kc_obj_get(cm, "metadata.annotations")), 0);
  json_object_put(cm);
  json_object_put(before);
}

static void test_unjoin_restores_original_text(void **state) {
  (void)state;
  /* The user's stubDomains, spaced their way: the unjoin gives back their bytes, not a compact form. */
  const char *stubs = "{ \"acme.local\": [\"10.9.9.9\"] }";
  json_object *cm = cm_of(
      "{\"metadata\":{\"annotations\":{\"x\":\"y\"}},\"data\":{\"federations\":\"other=other.org\"}}");
  json_object_object_add(json_object_object_get(cm, "data"), "stubDomains", json_object_new_string(stubs));
  json_object *patch;
  kf_error err;
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 0, &M, &patch, &err), 0);
  assert_string_equal(kc_obj_key_str(kc_obj_get(patch, "metadata.annotations"), M.created), "");
  merge(cm, patch);
  json_object_put(patch);
  assert_string_equal(kc_obj_str(cm, "data.federations"), "other=other.org,fellowship=example.com");
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 1, &M, &patch, &err), 0);
  merge(cm, patch);
  json_object_put(patch);
  assert_string_equal(kc_obj_str(cm, "data.federations"), "other=other.org");
  assert_string_equal(kc_obj_key_str(kc_obj_get(cm, "data"), "stubDomains"), stubs);
  assert_string_equal(kc_obj_key_str(kc_obj_get(cm, "metadata.annotations"), "x"), "y");
  assert_null(kc_obj_key_str(kc_obj_get(cm, "metadata.annotations"), M.original));
  json_object_put(cm);
}

static void test_many_created_keys_and_garbage_marks(void **state) {
  (void)state;
  /* A created-keys mark with more entries than the plan knows keys (no fixed-size list), and an
   * original mark that is not a JSON object: both are tolerated. */
  json_object *cm = cm_of("{\"metadata\":{\"annotations\":{"
                          "\"kubefed.dev/created-keys-fellowship\":\"a,b,c,d,e,f,federations,stubDomains\","
                          "\"kubefed.dev/original-fellowship\":\"[not an object\"}},"
                          "\"data\":{\"federations\":\"fellowship=example.com\","
                          "\"stubDomains\":\"{\\\"example.com\\\":[\\\"10.0.0.10:53\\\"]}\"}}");
  json_object *patch;
  kf_error err;
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 1, &M, &patch, &err), 0);
  assert_non_null(patch);
  json_object *d = kc_obj_get(patch, "data"), *v = NULL;
  assert_true(json_object_object_get_ex(d, "federations", &v) && v == NULL);
  assert_true(json_object_object_get_ex(d, "stubDomains", &v) && v == NULL);
  json_object_put(patch);
  json_object_put(cm);
}

static void test_conflict_is_an_error(void **state) {
  (void)state;
  json_object *cm = cm_of("{\"data\":{\"stubDomains\":\"{\\\"example.com\\\":[\\\"1.2.3.4\\\"]}\"}}"), *patch = NULL;
  kf_error err;
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 0, &M, &patch, &err), -EINVAL);
  assert_null(patch);
  assert_non_null(strstr(err.msg, "example.com"));
  json_object_put(cm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_join_new_keys_then_unjoin),
      cmocka_unit_test(test_unjoin_restores_original_text),
      cmocka_unit_test(test_many_created_keys_and_garbage_marks),
      cmocka_unit_test(test_conflict_is_an_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
