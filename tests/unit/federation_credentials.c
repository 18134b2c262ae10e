/* federation.credentials: the Secrets the federation's pods mount and the admin kubeconfig
 * (fed_desired_credential_secrets): names, types, kubefed v1's keys, the user's inputs copied
 * as stored, the rotate marker, the rollout hashes and each kubeconfig's server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "federation/objects.h"
#include <kf/b64.h>
#include <kf/kc.h>
#include <kf/kj.h>

static json_object *fed(const char *annotations) {
  char *text = kf_asprintf("{\"apiVersion\":\"kubefed.dev/v1alpha1\",\"kind\":\"Federation\",\"metadata\":{\"name\":"
                           "\"fellowship\",\"namespace\":\"federation-system\",\"uid\":\"u-1\",\"generation\":3,"
                           "\"annotations\":%s},\"spec\":{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":"
                           "\"example.com.\"}}}",
                           annotations);
  json_object *o = json_tokener_parse(text);
  free(text);
  assert_non_null(o);
  return o;
}

static const fed_credential_inputs INPUTS = {
    .ca_cert = "CA CERT",
    .server_cert = "SERVER CERT",
    .server_key = "SERVER KEY",
    .cm_cert = "CM CERT",
    .cm_key = "CM KEY",
    .admin_cert = "ADMIN CERT",
    .admin_key = "ADMIN KEY",
    .sa_pub = "SA PUB",
    .sa_key = "SA KEY",
};

/* Secret data[key] decoded (malloc'd) or NULL. */
static char *value(json_object *secret, const char *key) {
  const char *b64 = kc_obj_key_str(kc_obj_get(secret, "data"), key);
  char *out = NULL;
  size_t n;
  if (!b64 || kf_b64_decode(b64, strlen(b64), &out, &n) != 0) return NULL;
  return out;
}

static void assert_value(json_object *secret, const char *key, const char *want) {
  char *v = value(secret, key);
  assert_non_null(v);
  assert_string_equal(v, want);
  free(v);
}

static void assert_ours(json_object *secret, const char *name) {
  assert_string_equal(kc_obj_str(secret, "kind"), "Secret");
  assert_string_equal(kc_obj_str(secret, "metadata.name"), name);
  assert_string_equal(kc_obj_str(secret, "metadata.namespace"), "federation-system");
  assert_string_equal(kc_obj_str(secret, "type"), "Opaque");
  json_object *labels = kc_obj_get(secret, "metadata.labels");
  assert_string_equal(kc_obj_key_str(labels, API_LABEL_MANAGED_BY), API_OPERATOR);
  assert_string_equal(kc_obj_key_str(labels, API_LABEL_FEDERATION), "fellowship");
  assert_string_equal(kc_obj_str(json_object_array_get_idx(kc_obj_get(secret, "metadata.ownerReferences"), 0), "uid"),
                      "u-1");
}

static void test_secrets(void **state) {
  (void)state;
  json_object *f = fed("{}");
  fed_spec s;
  kf_error err;
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  fed_credential_secrets cs;
  fed_desired_credential_secrets(&s, &INPUTS, &cs);

  assert_ours(cs.apiserver, "fellowship-apiserver-credentials");
  assert_value(cs.apiserver, "ca.crt", "CA CERT");
  assert_value(cs.apiserver, "server.crt", "SERVER CERT");
  assert_value(cs.apiserver, "server.key", "SERVER KEY");
  assert_value(cs.apiserver, "sa.pub", "SA PUB");
  assert_value(cs.apiserver, "sa.key", "SA KEY");
  assert_int_equal(json_object_object_length(kc_obj_get(cs.apiserver, "data")), 5); /* no token.csv */
  assert_null(kc_obj_key_str(kc_obj_get(cs.apiserver, "metadata.annotations"), API_ANNOTATION_ROTATED_FOR));
  char *hash = fed_data_hash(kc_obj_get(cs.apiserver, "data"));
  assert_string_equal(cs.apiserver_hash, hash);
  free(hash);

  assert_ours(cs.cm_kubeconfig, "fellowship-controller-manager-kubeconfig");
  char *kc = value(cs.cm_kubeconfig, "kubeconfig");
  assert_non_null(strstr(kc, "server: \"https://fellowship-apiserver\"\n"));
  assert_non_null(strstr(kc, "current-context: federation-controller-manager@fellowship\n"));
  free(kc);
  hash = fed_data_hash(kc_obj_get(cs.cm_kubeconfig, "data"));
  assert_string_equal(cs.cm_hash, hash);
  free(hash);

  /* Without an endpoint the admin kubeconfig names the in-cluster service. */
  assert_ours(cs.admin_kubeconfig, "fellowship-admin-kubeconfig");
  assert_value(cs.admin_kubeconfig, "kubeconfig", cs.admin_kubeconfig_text);
  assert_non_null(
      strstr(cs.admin_kubeconfig_text, "server: \"https://fellowship-apiserver.federation-system.svc:443\""));
  assert_null(cs.dns_provider);
  fed_credential_secrets_free(&cs);
  assert_null(cs.apiserver);
  assert_null(cs.admin_kubeconfig_text);
  json_object_put(f);
}

static void test_inputs_endpoint_and_rotation(void **state) {
  (void)state;
  json_object *f = fed("{\"" API_ANNOTATION_ROTATE "\":\"2024-01-01\"}");
  fed_spec s;
  kf_error err;
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  fed_credential_inputs in = INPUTS;
  in.token_csv = "dG9rZW4sdXNlcix1aWQ="; /* copied as stored (base64) */
  in.dns_config = "W0dsb2JhbF0=";
  in.endpoint = "https://203.0.113.7:443";
  fed_credential_secrets cs;
  fed_desired_credential_secrets(&s, &in, &cs);

  assert_string_equal(kc_obj_key_str(kc_obj_get(cs.apiserver, "data"), "token.csv"), in.token_csv);
  assert_value(cs.apiserver, "token.csv", "token,user,uid");
  assert_string_equal(kc_obj_key_str(kc_obj_get(cs.apiserver, "metadata.annotations"), API_ANNOTATION_ROTATED_FOR),
                      "2024-01-01");
  assert_non_null(strstr(cs.admin_kubeconfig_text, "server: \"https://203.0.113.7:443\""));
  assert_ours(cs.dns_provider, "fellowship-dns-provider");
  assert_int_equal(json_object_object_length(kc_obj_get(cs.dns_provider, "data")), 1);
  assert_string_equal(kc_obj_key_str(kc_obj_get(cs.dns_provider, "data"), FED_DNS_KEY), in.dns_config);

  /* A different token file is a different hash: the apiserver pods roll. */
  char *before = kf_strdup(cs.apiserver_hash);
  fed_credential_secrets_free(&cs);
  in.token_csv = "b3RoZXI=";
  fed_desired_credential_secrets(&s, &in, &cs);
  assert_string_not_equal(cs.apiserver_hash, before);
  free(before);
  fed_credential_secrets_free(&cs);
  json_object_put(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_secrets),
      cmocka_unit_test(test_inputs_endpoint_and_rotation),
  };
  return cmocka_run_group_tests_name("federation.credentials", tests, NULL, NULL);
}
