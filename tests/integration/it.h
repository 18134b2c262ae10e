/* Helpers for integration tests against the harness' real kube-apiserver:
 * a loop, an engine and a client from $KF_KUBECONFIG, and synchronous
 * wrappers that run the loop until an asynchronous call completes. */
#ifndef KF_IT_H
#define KF_IT_H

#include <json-c/json.h>
#include <stdint.h>
#include <uv.h>

#include <kf/http.h>
#include <kf/kc.h>
#include <kf/kcfg.h>

/* The field manager it_env_init gives env->c: the runtime names no program of its own. */
#define IT_FIELD_MANAGER "kf-integration-test"

typedef struct it_env {
  uv_loop_t loop;
  http_engine *eng;
  kc_client *c;
  kcfg *cfg;
} it_env;

typedef struct it_result {
  int done;
  int rc;
  json_object *obj; /* owned by the result */
  kf_error err;
} it_result;

const char *it_kubeconfig_path(void);
/* The shared test cluster's harness name ($KF_IT_CLUSTER); fails the test when unset. */
const char *it_cluster_name(void);
/* Many asynchronous calls at once: count them in with b->started++, pass
 * it_batch_cb with b as data, bound them with it_batch_throttle, wait with
 * it_run_until(env, it_batch_finished, b, ...). rc == b->tolerate is not a failure. */
typedef struct it_batch {
  int started, done, failed;
  int tolerate;
} it_batch;
void it_batch_cb(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data);
int it_batch_finished(void *data);
void it_batch_throttle(it_env *env, it_batch *b, int max_inflight);

/* Fails the test loudly when $KF_KUBECONFIG is unset or unusable. */
void it_env_init(it_env *env);
void it_env_free(it_env *env);
/* A callback storing into the it_result passed as data. */
void it_cb(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data);
/* Runs the loop until r->done or the timeout; asserts it completed. */
void it_wait(it_env *env, it_result *r, uint64_t timeout_ms);
/* Runs the loop until cond(data) is true; returns 0, or -ETIMEDOUT. */
int it_run_until(it_env *env, int (*cond)(void *data), void *data, uint64_t timeout_ms);
void it_result_reset(it_result *r);
/* Runs the loop for ms milliseconds. */
void it_run_for(it_env *env, uint64_t ms);
/* A fresh namespace named prefix-<pid>-<n>, deleted by it_env_free. */
const char *it_namespace(it_env *env, const char *prefix);
json_object *it_json(const char *text);

#endif
