/* kube.events: repeated Events aggregate into one series; a hot loop of distinct
 * Events about one object is cut off by the spam filter; Events are written one at a
 * time, and those still queued at close are written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kf/ev.h>
#include "it.h"

static int idle_http(void *data) { return http_engine_inflight(((it_env *)data)->eng) == 0; }

static json_object *events_in(it_env *env, const char *ns) {
  it_result r = {0};
  kc_list_all(env->c, &KC_EVENTS, ns, NULL, it_cb, &r);
  it_wait(env, &r, 30000);
  assert_int_equal(r.rc, 0);
  json_object *items = json_object_get(kc_obj_get(r.obj, "items"));
  it_result_reset(&r);
  return items;
}

static void test_aggregation_and_spam_filter(void **state) {
  it_env env;
  it_result r = {0};
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-events");
  char *txt = kf_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"subject\","
                          "\"namespace\":\"%s\"}}",
                          ns);
  json_object *cm = it_json(txt);
  free(txt);
  kc_create(env.c, &KC_CONFIGMAPS, ns, cm, it_cb, &r);
  it_wait(&env, &r, 30000);
  assert_int_equal(r.rc, 0);
  json_object *subject = json_object_get(r.obj);
  it_result_reset(&r);

  ev_recorder *rec = ev_recorder_new(env.c, "kubefed.dev/operator", "it");
  ev_emit(rec, subject, "Warning", "ReconcileError", "Reconcile", "member %s unreachable", "gondor");
  assert_int_equal(it_run_until(&env, idle_http, &env, 30000), 0);
  for (int i = 0; i < 99; i++)
    ev_emit(rec, subject, "Warning", "ReconcileError", "Reconcile", "member %s unreachable", "gondor");
  /* 30 distinct notes: 24 more fit the burst of 25, the rest are dropped. */
  for (int i = 0; i < 30; i++) ev_emit(rec, subject, "Normal", "Progress", "Reconcile", "step %d", i);
  /* One write at a time, the rest queued behind it (Events never crowd out the work they report). */
  assert_int_equal(http_engine_inflight(env.eng), 1);
  assert_int_equal(ev_recorder_posted(rec), 25);
  assert_int_equal(ev_recorder_dropped(rec), 6);
  ev_recorder_close(rec);
  assert_int_equal(it_run_until(&env, idle_http, &env, 30000), 0);

  json_object *items = events_in(&env, ns);
  size_t n = json_object_array_length(items);
  int found = 0;
  assert_int_equal(n, 25);
  for (size_t i = 0; i < n; i++) {
    json_object *ev = json_object_array_get_idx(items, i);
    assert_string_equal(kc_obj_str(ev, "regarding.name"), "subject");
    assert_string_equal(kc_obj_str(ev, "reportingController"), "kubefed.dev/operator");
    if (strcmp(kc_obj_str(ev, "reason"), "ReconcileError") == 0) {
      found++;
      assert_string_equal(kc_obj_str(ev, "note"), "member gondor unreachable");
      assert_int_equal(json_object_get_int(kc_obj_get(ev, "series.count")), 100);
    }
  }
  assert_int_equal(found, 1);
  json_object_put(items);
  json_object_put(subject);
  json_object_put(cm);
  it_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_aggregation_and_spam_filter),
  };
  return cmocka_run_group_tests_name("kube.events", tests, NULL, NULL);
}
