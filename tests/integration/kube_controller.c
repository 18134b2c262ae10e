/* kube.controller: informer -> work queue -> asynchronous reconcile against a real
 * apiserver: every object converges, a failing key is retried with backoff until
 * it succeeds, a key is never reconciled twice at once, and requeue-after works. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kf/ctrl.h>
#include "it.h"

enum { N = 50 };

typedef struct fixture {
  it_env env;
  const char *ns;
  ctrl *c;
  informer *inf;
  json_object *active; /* keys being reconciled */
  int overlap;         /* a key reconciled while already active */
  int flaky_failures;  /* failures injected for cm-007 */
  int reconciles_009;  /* reconciles of cm-009 */
  int writes;
  const char *generation; /* the data.v prefix every object must have reached */
} fixture;

typedef struct call {
  fixture *f;
  char *key;
} call;

static void patched(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  call *k = data;
  fixture *f = k->f;
  (void)c;
  (void)obj;
  json_object_object_del(f->active, k->key);
  if (rc != 0) fprintf(stderr, "reconcile write failed: %s\n", err ? err->msg : "");
  ctrl_done(f->c, k->key, rc, 0);
  free(k->key);
  free(k);
}

/* Level-based: make annotation "reconciled" equal data.v; write only when it differs. */
static void reconcile(ctrl *c, const char *key, void *data) {
  fixture *f = data;
  char *ns, *name;
  if (json_object_object_get_ex(f->active, key, NULL)) f->overlap++;
  ctrl_split_key(key, &ns, &name);
  json_object *obj = informer_get(f->inf, ns, name);
  if (strcmp(name, "cm-009") == 0) f->reconciles_009++;
  if (!obj) {
    ctrl_done(c, key, 0, 0);
  } else if (strcmp(name, "cm-007") == 0 && f->flaky_failures < 3) {
    f->flaky_failures++;
    ctrl_done(c, key, -EIO, 0);
  } else {
    const char *want = kc_obj_str(obj, "data.v");
    const char *have = kc_obj_str(obj, "metadata.annotations.reconciled");
    if (have && want && strcmp(have, want) == 0) {
      ctrl_done(c, key, 0, 0);
    } else {
      call *k = kf_calloc(1, sizeof(*k));
      k->f = f;
      k->key = kf_strdup(key);
      json_object_object_add(f->active, key, NULL);
      char *p = kf_asprintf("{\"metadata\":{\"annotations\":{\"reconciled\":\"%s\"}}}", want ? want : "");
      json_object *patch = json_tokener_parse(p);
      free(p);
      f->writes++;
      kc_patch(f->env.c, &KC_CONFIGMAPS, ns, name, KC_PATCH_MERGE, patch, NULL, patched, k);
      json_object_put(patch);
    }
  }
  if (obj) json_object_put(obj);
  free(ns);
  free(name);
}

typedef struct check {
  fixture *f;
  int ok;
} check;

static void converged_one(json_object *obj, void *data) {
  check *ch = data;
  const char *want = kc_obj_str(obj, "data.v"), *have = kc_obj_str(obj, "metadata.annotations.reconciled");
  /* The cache must show the latest spec too, or a not-yet-delivered change looks converged. */
  if (!want || !have || strcmp(want, have) != 0 || strncmp(want, ch->f->generation, strlen(ch->f->generation)) != 0)
    ch->ok = 0;
}

static int converged(void *data) {
  fixture *f = data;
  check ch = {f, 1};
  if (informer_len(f->inf) != N || !ctrl_idle(f->c)) return 0;
  informer_foreach(f->inf, converged_one, &ch);
  return ch.ok;
}

static int synced(void *data) { return informer_has_synced(data); }

static void create_configmaps(fixture *f, const char *value) {
  f->generation = value;
  for (int i = 0; i < N; i++) {
    it_result r = {0};
    char *txt = kf_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-%03d\","
                            "\"namespace\":\"%s\",\"labels\":{\"app\":\"ctrl\"}},\"data\":{\"v\":\"%s-%d\"}}",
                            i, f->ns, value, i);
    json_object *cm = it_json(txt);
    free(txt);
    kc_apply(f->env.c, &KC_CONFIGMAPS, cm, NULL, it_cb, &r);
    it_wait(&f->env, &r, 30000);
    assert_int_equal(r.rc, 0);
    it_result_reset(&r);
    json_object_put(cm);
  }
}

static void test_controller_converges_and_retries(void **state) {
  fixture f;
  (void)state;
  memset(&f, 0, sizeof(f));
  it_env_init(&f.env);
  f.ns = it_namespace(&f.env, "it-ctrl");
  f.active = json_object_new_object();
  ctrl_opts co = {.name = "test", .workers = 4, .reconcile = reconcile, .data = &f};
  f.c = ctrl_new(&f.env.loop, &co);
  informer_opts io = {.res = &KC_CONFIGMAPS, .namespace_ = f.ns, .label_selector = "app=ctrl"};
  informer_handlers h = ctrl_handlers(f.c, NULL, NULL);
  f.inf = informer_new(f.env.c, &io, &h);
  informer_start(f.inf);
  assert_int_equal(it_run_until(&f.env, synced, f.inf, 30000), 0);
  ctrl_start(f.c);

  create_configmaps(&f, "one");
  assert_int_equal(it_run_until(&f.env, converged, &f, 60000), 0);
  assert_int_equal(f.flaky_failures, 3);
  assert_int_equal(wq_num_requeues(ctrl_queue(f.c), "never-seen"), 0);

  /* Requeue-after: nothing changes, yet the key comes back once the delay passes. */
  char *key = kf_asprintf("%s/cm-009", f.ns);
  int before = f.reconciles_009;
  ctrl_enqueue_after(f.c, key, 300);
  assert_false(ctrl_idle(f.c));
  assert_int_equal(it_run_until(&f.env, converged, &f, 60000), 0);
  assert_int_equal(f.reconciles_009, before + 1);
  free(key);

  /* A change of desired state converges again. */
  int writes = f.writes;
  create_configmaps(&f, "two");
  assert_int_equal(it_run_until(&f.env, converged, &f, 60000), 0);
  assert_int_equal(f.writes - writes, N); /* one write per changed object, never two */
  assert_int_equal(f.overlap, 0);

  informer_close(f.inf);
  uv_run(&f.env.loop, UV_RUN_NOWAIT);
  ctrl_close(f.c);
  json_object_put(f.active);
  it_env_free(&f.env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_controller_converges_and_retries),
  };
  return cmocka_run_group_tests_name("kube.controller", tests, NULL, NULL);
}
