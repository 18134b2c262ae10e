#include "it.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char *it_namespaces[16];
static int it_nnamespaces;

/* $KF_KUBECONFIG, else the path written by the cluster fixture into $KF_KUBECONFIG_FILE. */
const char *it_kubeconfig_path(void) {
  static char buf[4096];
  const char *path = getenv("KF_KUBECONFIG"), *file = getenv("KF_KUBECONFIG_FILE");
  if (path && path[0]) return path;
  FILE *f = file ? fopen(file, "r") : NULL;
  if (!f)
    fail_msg("neither KF_KUBECONFIG nor a readable KF_KUBECONFIG_FILE (%s): the cluster fixture did not run",
             file ? file : "unset");
  if (!fgets(buf, sizeof(buf), f)) buf[0] = '\0';
  fclose(f);
  buf[strcspn(buf, "\r\n")] = '\0';
  return buf;
}

void it_env_init(it_env *env) {
  const char *path = it_kubeconfig_path();
  kf_error err;
  memset(env, 0, sizeof(*env));
  if (kcfg_load_file(path, NULL, &env->cfg, &err) != 0) fail_msg("kubeconfig %s: %s", path, err.msg);
  uv_loop_init(&env->loop);
  env->eng = http_engine_new(&env->loop, &err);
  assert_non_null(env->eng);
  env->c = kc_client_new(env->eng, env->cfg, &err);
  if (!env->c) fail_msg("client: %s", err.msg);
  kc_client_set_field_manager(env->c, IT_FIELD_MANAGER);
}

void it_cb(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  it_result *r = data;
  (void)c;
  r->done = 1;
  r->rc = rc;
  if (r->obj) json_object_put(r->obj);
  r->obj = obj ? json_object_get(obj) : NULL;
  if (err) r->err = *err;
  else kf_error_clear(&r->err);
}

void it_result_reset(it_result *r) {
  if (r->obj) json_object_put(r->obj);
  memset(r, 0, sizeof(*r));
}

static void it_timeout(uv_timer_t *t) { *(int *)t->data = 1; }
static void it_tick(uv_timer_t *t) { (void)t; }

int it_run_until(it_env *env, int (*cond)(void *data), void *data, uint64_t timeout_ms) {
  uv_timer_t t, tick;
  int expired = 0, met;
  uv_timer_init(&env->loop, &t);
  uv_timer_init(&env->loop, &tick);
  t.data = &expired;
  uv_timer_start(&t, it_timeout, timeout_ms, 0);
  /* cond is evaluated once per loop turn (conditions may issue requests); the tick
   * makes a turn at least every 50 ms so a polling condition gets to ask again. */
  uv_timer_start(&tick, it_tick, 50, 50);
  while (!(met = cond(data)) && !expired) uv_run(&env->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&env->loop, UV_RUN_NOWAIT);
  return met ? 0 : -ETIMEDOUT;
}

static int it_never(void *data) {
  (void)data;
  return 0;
}

void it_run_for(it_env *env, uint64_t ms) { (void)it_run_until(env, it_never, NULL, ms); }

static int it_done(void *data) { return ((it_result *)data)->done; }

void it_wait(it_env *env, it_result *r, uint64_t timeout_ms) {
  if (it_run_until(env, it_done, r, timeout_ms) != 0)
    fail_msg("request did not complete in %llu ms", (unsigned long long)timeout_ms);
}

void it_batch_cb(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  it_batch *b = data;
  (void)c;
  (void)obj;
  b->done++;
  if (rc != 0 && rc != b->tolerate) {
    b->failed++;
    fprintf(stderr, "request failed: %s\n", err ? err->msg : "?");
  }
}

int it_batch_finished(void *data) {
  it_batch *b = data;
  return b->done == b->started;
}

void it_batch_throttle(it_env *env, it_batch *b, int max_inflight) {
  while (b->started - b->done >= max_inflight) uv_run(&env->loop, UV_RUN_ONCE);
}

json_object *it_json(const char *text) {
  json_object *o = json_tokener_parse(text);
  if (!o) fail_msg("bad JSON in test: %s", text);
  return o;
}

const char *it_namespace(it_env *env, const char *prefix) {
  static int n;
  it_result r = {0};
  char *name = kf_asprintf("%s-%ld-%d", prefix, (long)getpid(), n++);
  json_object *ns = json_object_new_object();
  json_object *meta = json_object_new_object();
  json_object_object_add(ns, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(ns, "kind", json_object_new_string("Namespace"));
  json_object_object_add(meta, "name", json_object_new_string(name));
  json_object_object_add(ns, "metadata", meta);
  kc_create(env->c, &KC_NAMESPACES, NULL, ns, it_cb, &r);
  it_wait(env, &r, 30000);
  if (r.rc != 0) fail_msg("create namespace %s: %s", name, r.err.msg);
  it_result_reset(&r);
  json_object_put(ns);
  assert_true(it_nnamespaces < 16);
  it_namespaces[it_nnamespaces++] = name;
  return name;
}

void it_env_free(it_env *env) {
  for (int i = 0; i < it_nnamespaces; i++) {
    it_result r = {0};
    kc_delete(env->c, &KC_NAMESPACES, NULL, it_namespaces[i], NULL, it_cb, &r);
    it_wait(env, &r, 30000);
    it_result_reset(&r);
    free(it_namespaces[i]);
  }
  it_nnamespaces = 0;
  kc_client_close(env->c);
  http_engine_close(env->eng);
  uv_run(&env->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&env->loop) != 0) fail_msg("loop still has open handles after teardown");
  kcfg_free(env->cfg);
}

const char *it_cluster_name(void) {
  const char *name = getenv("KF_IT_CLUSTER");
  if (!name || !name[0]) fail_msg("KF_IT_CLUSTER is not set: run the integration tests through ctest");
  return name;
}
