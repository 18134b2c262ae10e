/* federation.ca: the Federation controller's certificate step against a real
 * apiserver: the CA Secret is created with owner and labels, reported as
 * CertificatesReady with observedGeneration, restored when deleted, never
 * overwritten when somebody else's Secret has its name, and a caSecretRef is
 * honoured or refused with a reason. Steady state writes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "certs/certs.h"
#include <kf/b64.h>
#include "federation/federation.h"
#include "it.h"

typedef struct fx {
  it_env env;
  const char *ns;
  fed_controller *fed;
} fx;

static void set_flag(void *arg) { *(int *)arg = 1; }
static int flag_is_set(void *arg) { return *(int *)arg; }

static int synced(void *data) { return fed_controller_synced(((fx *)data)->fed); }

static void apply_crds(void) {
  char *cmd = kf_asprintf("\"$(%s bin kubectl)\" --kubeconfig %s apply -f crds/ >/dev/null", getenv("HARNESS"),
                          it_kubeconfig_path());
  assert_int_equal(system(cmd), 0);
  free(cmd);
}

static void create(fx *x, const kc_resource *res, const char *json) {
  it_result r = {0};
  json_object *o = it_json(json);
  for (int i = 0; i < 50; i++) { /* a CRD may take a moment to be served */
    it_result_reset(&r);
    kc_create(x->env.c, res, x->ns, o, it_cb, &r);
    it_wait(&x->env, &r, 30000);
    if (r.rc != KC_ERR_NOTFOUND) break;
    usleep(200000);
  }
  if (r.rc != 0) fail_msg("create: %s", r.err.msg);
  it_result_reset(&r);
  json_object_put(o);
}

static json_object *get(fx *x, const kc_resource *res, const char *name) {
  it_result r = {0};
  kc_get(x->env.c, res, x->ns, name, it_cb, &r);
  it_wait(&x->env, &r, 30000);
  json_object *o = r.rc == 0 ? json_object_get(r.obj) : NULL;
  it_result_reset(&r);
  return o;
}

typedef struct want {
  fx *x;
  const char *name, *status, *reason;
} want;

/* The Federation's CertificatesReady condition says status/reason for its current generation. */
static int condition_is(void *data) {
  want *w = data;
  json_object *f = get(w->x, &API_FEDERATIONS, w->name);
  int ok = 0;
  json_object *conds = kc_obj_get(f, "status.conditions");
  json_object *gen = kc_obj_get(f, "metadata.generation"), *og = kc_obj_get(f, "status.observedGeneration");
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    json_object *cog = kc_obj_get(c, "observedGeneration");
    if (strcmp(kc_obj_str(c, "type"), "CertificatesReady") == 0 && strcmp(kc_obj_str(c, "status"), w->status) == 0 &&
        strcmp(kc_obj_str(c, "reason"), w->reason) == 0 && gen && og && cog &&
        json_object_get_int64(gen) == json_object_get_int64(og) &&
        json_object_get_int64(gen) == json_object_get_int64(cog))
      ok = 1;
  }
  if (f) json_object_put(f);
  return ok;
}

static char *secret_field(json_object *secret, const char *key) {
  json_object *v = NULL;
  char *out = NULL;
  size_t n;
  if (json_object_object_get_ex(kc_obj_get(secret, "data"), key, &v))
    kf_b64_decode(json_object_get_string(v), strlen(json_object_get_string(v)), &out, &n);
  return out;
}

static const char FED[] =
    "{\"apiVersion\":\"kubefed.dev/v1alpha1\",\"kind\":\"Federation\",\"metadata\":{\"name\":\"%s\"},"
    "\"spec\":{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"}%s}}";

static void test_ca_lifecycle(void **state) {
  fx x;
  (void)state;
  it_env_init(&x.env);
  apply_crds();
  x.ns = it_namespace(&x.env, "it-fedca");
  informer_factory *informers = informer_factory_new(NULL);
  fed_options fo = {.namespace_ = x.ns, .access = FED_ACCESS_ENDPOINT, .informers = informers};
  x.fed = fed_controller_new(&x.env.loop, x.env.c, &fo);
  informer_factory_start(informers);
  fed_controller_start(x.fed);
  assert_int_equal(it_run_until(&x.env, synced, &x, 30000), 0);

  /* 1. A new Federation gets its CA. */
  char *body = kf_asprintf(FED, "fellowship", "");
  create(&x, &API_FEDERATIONS, body);
  free(body);
  want ready = {&x, "fellowship", "True", "CAReady"};
  assert_int_equal(it_run_until(&x.env, condition_is, &ready, 60000), 0);
  json_object *secret = get(&x, &KC_SECRETS, "fellowship-ca");
  assert_non_null(secret);
  assert_string_equal(kc_obj_str(secret, "type"), "kubernetes.io/tls");
  assert_string_equal(kc_obj_key_str(kc_obj_get(secret, "metadata.labels"), "app.kubernetes.io/managed-by"),
                      "kubefed-operator");
  json_object *owner = json_object_array_get_idx(kc_obj_get(secret, "metadata.ownerReferences"), 0);
  assert_string_equal(kc_obj_str(owner, "kind"), "Federation");
  assert_string_equal(kc_obj_str(owner, "name"), "fellowship");
  char *crt = secret_field(secret, "tls.crt"), *key = secret_field(secret, "tls.key");
  assert_true(certs_key_matches(crt, key));
  assert_true(certs_signed_by(crt, crt)); /* a self-signed CA */
  json_object_put(secret);

  /* 2. Steady state: status follows the children coming up (Deployments become
   * available), then settles; once settled, reconciling writes nothing, so the
   * resourceVersion stays put for 3 s. */
  int settled = 0;
  for (int i = 0; i < 20 && !settled; i++) {
    json_object *before = get(&x, &API_FEDERATIONS, "fellowship");
    char *rv = kf_strdup(kc_obj_str(before, "metadata.resourceVersion"));
    json_object_put(before);
    it_run_for(&x.env, 3000);
    json_object *after = get(&x, &API_FEDERATIONS, "fellowship");
    settled = strcmp(kc_obj_str(after, "metadata.resourceVersion"), rv) == 0;
    json_object_put(after);
    free(rv);
  }
  assert_true(settled);

  /* 3. Drift: the CA Secret deleted is created again (a new CA). */
  it_result r = {0};
  kc_delete(x.env.c, &KC_SECRETS, x.ns, "fellowship-ca", NULL, it_cb, &r);
  it_wait(&x.env, &r, 30000);
  assert_int_equal(r.rc, 0);
  it_result_reset(&r);
  json_object *again = NULL;
  for (int i = 0; i < 100 && !again; i++) {
    uv_run(&x.env.loop, UV_RUN_NOWAIT);
    again = get(&x, &KC_SECRETS, "fellowship-ca");
    if (!again) usleep(100000);
  }
  assert_non_null(again);
  char *crt2 = secret_field(again, "tls.crt");
  assert_string_not_equal(crt, crt2);
  json_object_put(again);
  free(crt2);
  free(crt);
  kf_free_secret(key, strlen(key));

  /* 4. Somebody else's Secret under the CA's name is never overwritten. */
  char *theirs = kf_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"gondor-ca\"},"
                             "\"stringData\":{\"note\":\"mine\"}}");
  create(&x, &KC_SECRETS, theirs);
  free(theirs);
  body = kf_asprintf(FED, "gondor", "");
  create(&x, &API_FEDERATIONS, body);
  free(body);
  want conflict = {&x, "gondor", "False", "CASecretConflict"};
  assert_int_equal(it_run_until(&x.env, condition_is, &conflict, 60000), 0);
  json_object *kept = get(&x, &KC_SECRETS, "gondor-ca");
  char *note = secret_field(kept, "note");
  assert_string_equal(note, "mine");
  assert_null(secret_field(kept, "tls.key"));
  free(note);
  json_object_put(kept);

  /* 5. caSecretRef: a missing Secret is a reason; a valid one is used. */
  body = kf_asprintf(FED, "rohan", ",\"certificates\":{\"caSecretRef\":{\"name\":\"rohan-own-ca\"}}");
  create(&x, &API_FEDERATIONS, body);
  free(body);
  want invalid = {&x, "rohan", "False", "InvalidCASecret"};
  assert_int_equal(it_run_until(&x.env, condition_is, &invalid, 60000), 0);
  certs_pair own;
  kf_error err;
  assert_int_equal(certs_new_ca("rohan-own", 3600, CERTS_KEY_ECDSA_P256, &own, &err), 0);
  char *c64 = kf_b64_encode(own.cert_pem, strlen(own.cert_pem)), *k64 = kf_b64_encode(own.key_pem, strlen(own.key_pem));
  char *sec = kf_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"rohan-own-ca\"},"
                          "\"type\":\"kubernetes.io/tls\",\"data\":{\"tls.crt\":\"%s\",\"tls.key\":\"%s\"}}",
                          c64, k64);
  create(&x, &KC_SECRETS, sec);
  kf_free_secret(sec, strlen(sec));
  kf_free_secret(k64, strlen(k64));
  free(c64);
  certs_pair_free(&own);
  want user = {&x, "rohan", "True", "UserCA"};
  assert_int_equal(it_run_until(&x.env, condition_is, &user, 90000), 0);
  assert_null(get(&x, &KC_SECRETS, "rohan-ca")); /* no CA of ours beside the user's */

  int closed = 0;
  fed_controller_close(x.fed, set_flag, &closed);
  assert_int_equal(it_run_until(&x.env, flag_is_set, &closed, 30000), 0);
  informer_factory_close(informers);
  it_env_free(&x.env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ca_lifecycle),
  };
  return cmocka_run_group_tests_name("federation.ca", tests, NULL, NULL);
}
