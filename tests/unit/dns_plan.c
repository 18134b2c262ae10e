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

/* GKE's kube-dns has no ConfigMap: the join creates it whole, the unjoin deletes it once nothing
 * else is in it (issue 17, D7). */
static void test_created_configmap(void **state) {
  (void)state;
  static const char CREATED_CM[] = "kubefed.dev/created-configmap-fellowship";
  json_object *cm = NULL, *patch = NULL;
  kf_error err;
  assert_int_equal(clusterdns_kubedns_new(&E, &M, CREATED_CM, &cm, &err), 0);
  assert_string_equal(kc_obj_str(cm, "kind"), "ConfigMap");
  assert_string_equal(kc_obj_str(cm, "metadata.name"), "kube-dns");
  assert_string_equal(kc_obj_str(cm, "metadata.namespace"), "kube-system");
  json_object *anns = kc_obj_get(cm, "metadata.annotations");
  assert_string_equal(kc_obj_key_str(anns, CREATED_CM), "true");
  assert_string_equal(kc_obj_key_str(anns, M.created), "federations,stubDomains");
  assert_string_equal(kc_obj_key_str(kc_obj_get(cm, "data"), "federations"), "fellowship=example.com");
  assert_string_equal(kc_obj_key_str(kc_obj_get(cm, "data"), "stubDomains"), "{\"example.com\":[\"10.0.0.10:53\"]}");
  /* Joined as created: nothing to write. */
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 0, &M, &patch, &err), 0);
  assert_null(patch);

  /* Unjoin with nothing else in it: delete it. */
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 1, &M, &patch, &err), 0);
  assert_non_null(patch);
  assert_true(clusterdns_kubedns_unjoin_deletes(cm, patch, CREATED_CM, "kubefed.dev/created-keys-"));
  json_object_put(patch);

  /* A user added a key meanwhile: it stays, and so does the ConfigMap. */
  json_object_object_add(kc_obj_get(cm, "data"), "upstreamNameservers", json_object_new_string("[\"8.8.8.8\"]"));
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 1, &M, &patch, &err), 0);
  assert_false(clusterdns_kubedns_unjoin_deletes(cm, patch, CREATED_CM, "kubefed.dev/created-keys-"));
  json_object_put(patch);
  json_object_object_del(kc_obj_get(cm, "data"), "upstreamNameservers");

  /* Another federation joined it too: its entry and its mark keep the ConfigMap. */
  static const char *const RNS[] = {"10.0.0.20", NULL};
  const clusterdns_entry R = {.federation = "rohan", .zone = "rohan.org", .nameservers = RNS};
  const clusterdns_marks RM = {"kubefed.dev/created-keys-rohan", "kubefed.dev/original-rohan"};
  assert_int_equal(clusterdns_kubedns_plan(cm, &R, 0, &RM, &patch, &err), 0);
  merge(cm, patch);
  json_object_put(patch);
  assert_int_equal(clusterdns_kubedns_plan(cm, &E, 1, &M, &patch, &err), 0);
  assert_false(clusterdns_kubedns_unjoin_deletes(cm, patch, CREATED_CM, "kubefed.dev/created-keys-"));
  json_object_put(patch);

  /* Not created by us: never deleted. */
  json_object *user = cm_of("{\"metadata\":{},\"data\":{}}");
  assert_int_equal(clusterdns_kubedns_plan(user, &E, 0, &M, &patch, &err), 0);
  merge(user, patch);
  json_object_put(patch);
  assert_int_equal(clusterdns_kubedns_plan(user, &E, 1, &M, &patch, &err), 0);
  assert_false(clusterdns_kubedns_unjoin_deletes(user, patch, CREATED_CM, "kubefed.dev/created-keys-"));
  json_object_put(patch);
  json_object_put(user);
  json_object_put(cm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_join_new_keys_then_unjoin),
      cmocka_unit_test(test_unjoin_restores_original_text),
      cmocka_unit_test(test_many_created_keys_and_garbage_marks),
      cmocka_unit_test(test_conflict_is_an_error),
      cmocka_unit_test(test_created_configmap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
