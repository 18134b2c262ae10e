/* kube.throttle: a kube-apiserver limited to one request in flight answers most
 * of a burst with 429 + Retry-After; the client waits as told and every write
 * lands exactly once. Runs its own cluster (kube-throttle). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "it.h"

#define CLUSTER "kube-throttle"

static int setup(void **state) {
  char *cmd = kf_asprintf("%s up " CLUSTER " --apiserver-arg=--max-requests-inflight=1 "
                          "--apiserver-arg=--max-mutating-requests-inflight=1",
                          getenv("HARNESS"));
  FILE *p = popen(cmd, "r");
  char path[4096] = {0};
  free(cmd);
  if (!p || !fgets(path, sizeof(path), p)) return -1;
  if (pclose(p) != 0) return -1;
  path[strcspn(path, "\n")] = '\0';
  setenv("KF_KUBECONFIG", path, 1);
  *state = NULL;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char *cmd = kf_asprintf("%s down " CLUSTER, getenv("HARNESS"));
  int rc = system(cmd);
  free(cmd);
  return rc == 0 ? 0 : -1;
}

static void must(it_env *env, it_result *r, const char *what) {
  it_wait(env, r, 30000);
  if (r->rc != 0) fail_msg("%s: %s", what, r->err.msg);
  it_result_reset(r);
}

/* kube-apiserver exempts system:masters from its in-flight limits, so the burst
 * runs as a ServiceAccount allowed configmaps in the namespace. */
static kc_client *service_account_client(it_env *env, const char *ns) {
  it_result r = {0};
  char *txt = kf_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"burst\","
                          "\"namespace\":\"%s\"}}",
                          ns);
  json_object *o = it_json(txt);
  free(txt);
  kc_create(env->c, &KC_SERVICEACCOUNTS, ns, o, it_cb, &r);
  must(env, &r, "create ServiceAccount");
  json_object_put(o);
  /* A Role of our own: the aggregated "edit" ClusterRole is empty without kube-controller-manager. */
  txt = kf_asprintf("{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"Role\",\"metadata\":{"
                    "\"name\":\"burst\",\"namespace\":\"%s\"},\"rules\":[{\"apiGroups\":[\"\"],"
                    "\"resources\":[\"configmaps\"],\"verbs\":[\"get\",\"list\",\"create\"]}]}",
                    ns);
  o = it_json(txt);
  free(txt);
  kc_create(env->c, &KC_ROLES, ns, o, it_cb, &r);
  must(env, &r, "create Role");
  json_object_put(o);
  txt = kf_asprintf("{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"RoleBinding\","
                    "\"metadata\":{\"name\":\"burst-edit\",\"namespace\":\"%s\"},"
                    "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":\"burst\"},"
                    "\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"burst\",\"namespace\":\"%s\"}]}",
                    ns, ns);
  o = it_json(txt);
  free(txt);
  kc_create(env->c, &KC_ROLEBINDINGS, ns, o, it_cb, &r);
  must(env, &r, "create RoleBinding");
  json_object_put(o);
  const char *tr = "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
                   "\"spec\":{\"expirationSeconds\":3600}}";
  kc_request req = {.method = "POST",
                    .res = &KC_SERVICEACCOUNTS,
                    .namespace_ = ns,
                    .name = "burst",
                    .subresource = "token",
                    .content_type = "application/json",
                    .body = tr,
                    .body_len = strlen(tr)};
  kc_do(env->c, &req, it_cb, &r);
  it_wait(env, &r, 30000);
  if (r.rc != 0) fail_msg("TokenRequest: %s", r.err.msg);
  kcfg *cfg = kcfg_dup(env->cfg);
  free(cfg->client_cert_pem);
  kf_free_secret(cfg->client_key_pem, cfg->client_key_pem_len);
  cfg->client_cert_pem = cfg->client_key_pem = NULL;
  cfg->client_cert_pem_len = cfg->client_key_pem_len = 0;
  cfg->token = kf_strdup(kc_obj_str(r.obj, "status.token"));
  it_result_reset(&r);
  kf_error err;
  kc_client *c = kc_client_new(env->eng, cfg, &err);
  kcfg_free(cfg);
  assert_non_null(c);
  return c;
}

static void test_burst_is_throttled_and_nothing_is_lost(void **state) {
  it_env env;
  it_batch b = {0};
  kf_metrics *m = kf_metrics_new("kubefed_");
  enum { N = 60 };
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-429");
  kc_client *sa = service_account_client(&env, ns);
  kc_client_set_metrics(sa, m);
  for (int i = 0; i < N; i++) {
    char *txt = kf_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-%d\","
                            "\"namespace\":\"%s\"},\"data\":{\"i\":\"%d\"}}",
                            i, ns, i);
    json_object *cm = it_json(txt);
    free(txt);
    b.started++;
    kc_create(sa, &KC_CONFIGMAPS, ns, cm, it_batch_cb, &b);
    b.started++;
    kc_list(sa, &KC_CONFIGMAPS, ns, NULL, it_batch_cb, &b);
    json_object_put(cm);
  }
  assert_int_equal(it_run_until(&env, it_batch_finished, &b, 120000), 0);
  double throttled = kf_metrics_get(m, "api_requests_total", "verb=\"POST\",code=\"429\"") +
                     kf_metrics_get(m, "api_requests_total", "verb=\"GET\",code=\"429\"");
  fprintf(stderr, "kube.throttle: %d requests, %.0f answered 429 and retried after Retry-After\n", b.started,
          throttled);
  assert_true(throttled > 0);
  assert_int_equal(b.failed, 0);

  /* Every create landed exactly once, with its data. */
  it_result r = {0};
  kc_list_all(env.c, &KC_CONFIGMAPS, ns, NULL, it_cb, &r);
  it_wait(&env, &r, 60000);
  assert_int_equal(r.rc, 0);
  json_object *items = kc_obj_get(r.obj, "items");
  int seen[N] = {0};
  for (size_t i = 0; i < json_object_array_length(items); i++) {
    json_object *it = json_object_array_get_idx(items, i);
    const char *name = kc_obj_str(it, "metadata.name");
    if (strncmp(name, "cm-", 3) != 0) continue;
    int k = atoi(name + 3);
    assert_true(k >= 0 && k < N);
    assert_int_equal(atoi(kc_obj_str(it, "data.i")), k);
    seen[k]++;
  }
  for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
  it_result_reset(&r);
  kc_client_close(sa);
  it_env_free(&env);
  kf_metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_burst_is_throttled_and_nothing_is_lost),
  };
  return cmocka_run_group_tests_name("kube.throttle", tests, setup, teardown);
}
