/* kube.client: the kube client's verbs against a real kube-apiserver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <kf/watch.h>

#include "it.h"

static json_object *configmap(const char *ns, const char *name, const char *key, const char *value) {
  json_object *cm = it_json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{},\"data\":{}}");
  json_object *meta = kc_obj_get(cm, "metadata");
  json_object_object_add(meta, "name", json_object_new_string(name));
  json_object_object_add(meta, "namespace", json_object_new_string(ns));
  json_object_object_add(kc_obj_get(cm, "data"), key, json_object_new_string(value));
  return cm;
}

static void test_configmap_crud(void **state) {
  it_env env;
  it_result r = {0};
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-crud");
  json_object *cm = configmap(ns, "one", "k", "v1");

  kc_create(env.c, &KC_CONFIGMAPS, ns, cm, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  assert_string_equal(kc_obj_str(r.obj, "data.k"), "v1");
  it_result_reset(&r);

  kc_create(env.c, &KC_CONFIGMAPS, ns, cm, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, KC_ERR_EXISTS);
  assert_int_equal(r.err.http_status, 409);
  assert_string_equal(r.err.reason, "AlreadyExists");
  it_result_reset(&r);

  kc_get(env.c, &KC_CONFIGMAPS, ns, "one", it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  json_object *got = json_object_get(r.obj);
  it_result_reset(&r);

  /* Update with the read resourceVersion succeeds; a stale one is a Conflict. */
  json_object_object_add(kc_obj_get(got, "data"), "k", json_object_new_string("v2"));
  kc_update(env.c, &KC_CONFIGMAPS, ns, got, NULL, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  assert_string_equal(kc_obj_str(r.obj, "data.k"), "v2");
  it_result_reset(&r);
  kc_update(env.c, &KC_CONFIGMAPS, ns, got, NULL, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, KC_ERR_CONFLICT);
  assert_string_equal(r.err.reason, "Conflict");
  it_result_reset(&r);
  json_object_put(got);

  json_object *patch = it_json("{\"data\":{\"other\":\"x\"}}");
  kc_patch(env.c, &KC_CONFIGMAPS, ns, "one", KC_PATCH_MERGE, patch, NULL, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  assert_string_equal(kc_obj_str(r.obj, "data.k"), "v2");
  assert_string_equal(kc_obj_str(r.obj, "data.other"), "x");
  const char *uid = kc_obj_str(r.obj, "metadata.uid");
  char *uid_copy = kf_strdup(uid);
  it_result_reset(&r);
  json_object_put(patch);

  /* Delete with a wrong uid precondition is refused; with the right one it works. */
  kc_delete_opts wrong = {.precondition_uid = "00000000-0000-0000-0000-000000000000"};
  kc_delete(env.c, &KC_CONFIGMAPS, ns, "one", &wrong, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, KC_ERR_CONFLICT);
  it_result_reset(&r);
  kc_delete_opts right = {.precondition_uid = uid_copy, .propagation_policy = "Background"};
  kc_delete(env.c, &KC_CONFIGMAPS, ns, "one", &right, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  it_result_reset(&r);
  free(uid_copy);

  kc_get(env.c, &KC_CONFIGMAPS, ns, "one", it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, KC_ERR_NOTFOUND);
  assert_int_equal(r.err.http_status, 404);
  assert_string_equal(r.err.reason, "NotFound");
  assert_non_null(strstr(r.err.msg, "not found"));
  it_result_reset(&r);

  json_object_put(cm);
  it_env_free(&env);
}

static void test_apply_is_idempotent(void **state) {
  it_env env;
  it_result r = {0};
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-ssa");
  json_object *cm = configmap(ns, "applied", "k", "v");

  /* Server-side apply needs an owner: a client without a field manager refuses, before any request
   * and without calling back. */
  kc_client *anonymous = kc_client_new(env.eng, env.cfg, NULL);
  assert_non_null(anonymous);
  assert_int_equal(kc_apply(anonymous, &KC_CONFIGMAPS, cm, NULL, it_cb, &r), KC_ERR_INVALID);
  assert_false(r.done);
  kc_client_close(anonymous);

  assert_int_equal(kc_apply(env.c, &KC_CONFIGMAPS, cm, NULL, it_cb, &r), 0);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  char *rv1 = kf_strdup(kc_obj_str(r.obj, "metadata.resourceVersion"));
  json_object *mf = json_object_array_get_idx(kc_obj_get(r.obj, "metadata.managedFields"), 0);
  assert_string_equal(kc_obj_str(mf, "manager"), IT_FIELD_MANAGER);
  assert_string_equal(kc_obj_str(mf, "operation"), "Apply");
  it_result_reset(&r);

  kc_apply(env.c, &KC_CONFIGMAPS, cm, NULL, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  assert_string_equal(kc_obj_str(r.obj, "metadata.resourceVersion"), rv1);
  it_result_reset(&r);

  /* A changed body is a real write. */
  json_object_object_add(kc_obj_get(cm, "data"), "k", json_object_new_string("v2"));
  kc_apply(env.c, &KC_CONFIGMAPS, cm, NULL, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  assert_string_not_equal(kc_obj_str(r.obj, "metadata.resourceVersion"), rv1);
  it_result_reset(&r);
  free(rv1);
  json_object_put(cm);
  it_env_free(&env);
}

static const kc_resource WIDGETS = {"test.kubefed.dev", "v1", "widgets", "Widget", 1};

static int crd_established(void *data) {
  it_env *env = data;
  static it_result r;
  static int asked;
  if (!asked) {
    asked = 1;
    it_result_reset(&r);
    kc_get(env->c, &KC_CRDS, NULL, "widgets.test.kubefed.dev", it_cb, &r);
  }
  if (!r.done) return 0;
  asked = 0;
  json_object *conds = kc_obj_get(r.obj, "status.conditions");
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (strcmp(kc_obj_str(c, "type"), "Established") == 0 && strcmp(kc_obj_str(c, "status"), "True") == 0) {
      it_result_reset(&r);
      return 1;
    }
  }
  return 0;
}

static void test_crd_and_status_subresource(void **state) {
  it_env env;
  it_result r = {0};
  (void)state;
  it_env_init(&env);
  json_object *crd = it_json(
      "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
      "\"metadata\":{\"name\":\"widgets.test.kubefed.dev\"},"
      "\"spec\":{\"group\":\"test.kubefed.dev\",\"scope\":\"Namespaced\","
      "\"names\":{\"plural\":\"widgets\",\"singular\":\"widget\",\"kind\":\"Widget\",\"listKind\":\"WidgetList\"},"
      "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,\"subresources\":{\"status\":{}},"
      "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{"
      "\"spec\":{\"type\":\"object\",\"properties\":{\"size\":{\"type\":\"integer\"}}},"
      "\"status\":{\"type\":\"object\",\"properties\":{\"phase\":{\"type\":\"string\"},"
      "\"observedGeneration\":{\"type\":\"integer\"}}}}}}}]}}");
  kc_apply(env.c, &KC_CRDS, crd, NULL, it_cb, &r);
  it_wait(&env, &r, 30000);
  if (r.rc != 0) fail_msg("apply CRD: %s", r.err.msg);
  it_result_reset(&r);
  json_object_put(crd);
  assert_int_equal(it_run_until(&env, crd_established, &env, 60000), 0);

  const char *ns = it_namespace(&env, "it-crd");
  char *body = kf_asprintf("{\"apiVersion\":\"test.kubefed.dev/v1\",\"kind\":\"Widget\","
                           "\"metadata\":{\"name\":\"w\",\"namespace\":\"%s\"},\"spec\":{\"size\":3}}",
                           ns);
  json_object *w = it_json(body);
  free(body);
  /* The CRD's discovery may lag Established by a moment: retry NotFound briefly. */
  for (int i = 0; i < 50; i++) {
    it_result_reset(&r);
    kc_create(env.c, &WIDGETS, ns, w, it_cb, &r);
    it_wait(&env, &r, 30000);
    if (r.rc != KC_ERR_NOTFOUND) break;
    usleep(100000);
  }
  assert_int_equal(r.rc, 0);
  it_result_reset(&r);

  /* Status through the subresource: spec untouched, status written. */
  json_object *st = it_json("{\"status\":{\"phase\":\"Ready\",\"observedGeneration\":1}}");
  json_object_object_add(st, "apiVersion", json_object_new_string("test.kubefed.dev/v1"));
  json_object_object_add(st, "kind", json_object_new_string("Widget"));
  char *metas = kf_asprintf("{\"name\":\"w\",\"namespace\":\"%s\"}", ns);
  json_object_object_add(st, "metadata", it_json(metas));
  free(metas);
  kc_apply(env.c, &WIDGETS, st, "status", it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  assert_string_equal(kc_obj_str(r.obj, "status.phase"), "Ready");
  assert_int_equal(json_object_get_int(kc_obj_get(r.obj, "spec.size")), 3);
  it_result_reset(&r);

  /* A status field sent to the main resource is ignored by the server. */
  json_object *spec_patch = it_json("{\"spec\":{\"size\":4},\"status\":{\"phase\":\"Broken\"}}");
  kc_patch(env.c, &WIDGETS, ns, "w", KC_PATCH_MERGE, spec_patch, NULL, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  assert_string_equal(kc_obj_str(r.obj, "status.phase"), "Ready");
  assert_int_equal(json_object_get_int(kc_obj_get(r.obj, "spec.size")), 4);
  it_result_reset(&r);

  json_object_put(spec_patch);
  json_object_put(st);
  json_object_put(w);
  it_env_free(&env);
}

static void test_paginated_list(void **state) {
  it_env env;
  it_result r = {0};
  it_batch b = {0};
  enum { N = 2000 };
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-page");
  for (int i = 0; i < N; i++) {
    char name[32];
    snprintf(name, sizeof(name), "cm-%04d", i);
    json_object *cm = configmap(ns, name, "i", name);
    b.started++;
    assert_int_equal(kc_create(env.c, &KC_CONFIGMAPS, ns, cm, it_batch_cb, &b), 0);
    json_object_put(cm);
    it_batch_throttle(&env, &b, 64);
  }
  assert_int_equal(it_run_until(&env, it_batch_finished, &b, 120000), 0);
  assert_int_equal(b.failed, 0);

  kc_list_opts one = {.limit = 500};
  kc_list(env.c, &KC_CONFIGMAPS, ns, &one, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  assert_int_equal(json_object_array_length(kc_obj_get(r.obj, "items")), 500);
  assert_non_null(kc_obj_str(r.obj, "metadata.continue"));
  it_result_reset(&r);

  kc_list_opts all = {.limit = 500};
  kc_list_all(env.c, &KC_CONFIGMAPS, ns, &all, it_cb, &r);
  it_wait(&env, &r, 60000);
  assert_int_equal(r.rc, 0);
  json_object *items = kc_obj_get(r.obj, "items");
  /* 2000 ours plus kube-root-ca.crt when kube-controller-manager runs. */
  size_t n = json_object_array_length(items), ours = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(kc_obj_str(json_object_array_get_idx(items, i), "metadata.name"), "cm-", 3) == 0) ours++;
  assert_int_equal(ours, N);
  assert_non_null(kc_obj_str(r.obj, "metadata.resourceVersion"));
  it_result_reset(&r);
  it_env_free(&env);
}

/* ---- clients with connections of their own (kc_client_isolate) ---- */

typedef struct pool_watch {
  int events, ended, rc;
  char why[600];
} pool_watch;

static void pool_event(kc_watch *w, const char *type, json_object *obj, void *data) {
  (void)w;
  (void)obj;
  if (strcmp(type, "ADDED") == 0) ((pool_watch *)data)->events++;
}

static void pool_end(kc_watch *w, int rc, const kf_error *err, void *data) {
  (void)w;
  if (err) snprintf(((pool_watch *)data)->why, sizeof(((pool_watch *)data)->why), "%s", err->msg);
  ((pool_watch *)data)->ended = 1;
  ((pool_watch *)data)->rc = rc;
}

static int pool_watch_saw(void *data) { return ((pool_watch *)data)->events >= 2 || ((pool_watch *)data)->ended; }
static int pool_watch_ended(void *data) { return ((pool_watch *)data)->ended; }

/* Three member-like clients, each on its own pool: requests and a watch multiplex on each; a
 * client closed with a request in flight ends it with KC_ERR_CANCELED; a pool released while its
 * watch is still ending closes after it; a client that outlives the engine is still closed
 * cleanly (ASan and the loop's open handles check the rest). */
static void test_isolated_clients(void **state) {
  it_env env;
  kf_error err;
  kc_client *c[3];
  it_batch b = {0};
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-pool");
  for (int i = 0; i < 3; i++) {
    c[i] = kc_client_derive(env.c, env.cfg, &err);
    assert_non_null(c[i]);
    assert_int_equal(kc_client_isolate(c[i], &err), 0);
    assert_int_equal(kc_client_isolate(c[i], &err), 0);
    assert_int_equal(kc_client_isolate(c[i], &err), 0); /* once is enough; twice is harmless */
  }
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 10; k++) {
      b.started++;
      assert_int_equal(kc_get(c[i], &KC_NAMESPACES, NULL, ns, it_batch_cb, &b), 0);
    }
  assert_int_equal(it_run_until(&env, it_batch_finished, &b, 30000), 0);
  assert_int_equal(b.failed, 0);

  /* A watch on client 0 sees a create made through client 1. */
  pool_watch pw = {0};
  kc_watch *w = NULL;
  kc_watch_opts wo = {.max_depth = WATCH_TYPED_DEPTH};
  assert_int_equal(kc_watch_start(c[0], &KC_CONFIGMAPS, ns, &wo, pool_event, pool_end, &pw, &w, &err), 0);
  it_run_for(&env, 300);
  it_result r = {0};
  json_object *cm = configmap(ns, "pooled", "k", "v");
  assert_int_equal(kc_create(c[1], &KC_CONFIGMAPS, ns, cm, it_cb, &r), 0);
  json_object_put(cm);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  it_result_reset(&r);
  /* And a second one: the stream goes on after its first event (an encoded watch did not). */
  cm = configmap(ns, "pooled-2", "k", "v");
  assert_int_equal(kc_create(c[1], &KC_CONFIGMAPS, ns, cm, it_cb, &r), 0);
  json_object_put(cm);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  it_result_reset(&r);
  if (it_run_until(&env, pool_watch_saw, &pw, 30000) != 0 || pw.ended)
    fail_msg("the watch on an isolated client: %d events, ended %d, rc %d: %s", pw.events, pw.ended, pw.rc, pw.why);

  /* Client 2 closed with a request in flight: it ends cancelled, from the loop. */
  assert_int_equal(kc_get(c[2], &KC_NAMESPACES, NULL, ns, it_cb, &r), 0);
  kc_client_close(c[2]);
  assert_int_equal(r.done, 0);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, KC_ERR_CANCELED);
  it_result_reset(&r);

  /* Client 0's watch stopped and the client closed at once: its pool waits for the watch. */
  kc_watch_stop(w);
  kc_client_close(c[0]);
  assert_int_equal(it_run_until(&env, pool_watch_ended, &pw, 30000), 0);
  assert_int_equal(pw.rc, KC_ERR_CANCELED);

  /* Client 1 outlives the engine: closing it afterwards frees its pool and nothing else. */
  it_env_free(&env);
  kc_client_close(c[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_configmap_crud),
      cmocka_unit_test(test_apply_is_idempotent),
      cmocka_unit_test(test_crd_and_status_subresource),
      cmocka_unit_test(test_paginated_list),
      cmocka_unit_test(test_isolated_clients),
  };
  return cmocka_run_group_tests_name("kube.client", tests, NULL, NULL);
}
