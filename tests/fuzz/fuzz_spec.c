/* libFuzzer target for the JSON -> spec decoders: arbitrary bytes, parsed by
 * json-c as an apiserver response would be, read as a whole Federation and a
 * whole FederatedCluster, and again wrapped as the .spec of an otherwise valid
 * object. A decode either fails with a kf_error that says why, or yields a spec
 * every builder can turn into objects: the decode -> build path the reconciler
 * runs must not crash, leak or trip a json-c type assertion whatever the CR
 * holds (the CRD schema normally filters it, an apiserver without it does not).
 *
 * fuzz-sources: reconcilers/federation/spec.c reconcilers/federation/objects.c reconcilers/federation/deployments.c operator/api/cm_options.c reconcilers/federatedcluster/spec.c
 * (run-fuzzer.sh compiles those along with operator/):
 *
 *   tests/fuzz/run-fuzzer.sh spec 300 /tmp/kf-fuzz
 */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "federatedcluster/federatedcluster.h"
#include "federation/objects.h"
#include <kf/kc.h>
#include <kf/kj.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Serializes (the server would) and drops a built object. */
static void consume(json_object *o) {
  if (!o) return;
  CHECK(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) != NULL);
  json_object_put(o);
}

/* Every pure builder the Federation reconciler runs on a decoded spec; the input
 * stands in for the live objects they read too (Service, Secret data). */
static void build_federation(const fed_spec *s, json_object *input) {
  char **dns = NULL, **ips = NULL;
  const char *pending = NULL;
  CHECK(s->name && s->ns && s->uid && s->dns_provider && s->zone_name && s->api_image && s->etcd_image &&
        s->service_type_name && s->pull_policy && s->etcd_size && s->dns_config_key && s->token_key &&
        s->validity_s >= 60);
  free(fed_child_name(s, "ca"));
  free(fed_etcd_claim_name(s));
  free(fed_service_url(s));
  consume(fed_meta(s, "x", 1));
  fed_serving_sans(s, kc_obj_get(input, "status.loadBalancer.ingress"), &dns, &ips);
  CHECK(dns && ips && dns[0]);
  fed_strv_free(dns);
  fed_strv_free(ips);
  char *ep = fed_endpoint(s, input, &pending); /* the input as the live Service */
  CHECK((ep == NULL) == (pending != NULL));
  free(ep);
  /* Secret data is a JSON object of strings by the API's schema (the builders' contract). */
  json_object *sdata = kc_obj_get(input, "data");
  if (!json_object_is_type(sdata, json_type_object)) sdata = NULL;
  char *hash = fed_data_hash(sdata);
  CHECK(strlen(hash) == 64);
  consume(fed_desired_secret(s, "x-apiserver-credentials", "Opaque", sdata, NULL));
  consume(fed_desired_service(s));
  consume(fed_desired_pvc(s));
  consume(fed_apiserver_args(s));
  consume(fed_controller_manager_args(s));
  consume(fed_desired_apiserver(s, hash));
  /* The reconcile fills a missing image from the operator's flag before building. */
  fed_spec cm = *s;
  if (!cm.cm_image) cm.cm_image = "kubefed-operator:fuzz";
  kf_error cm_err;
  (void)fed_controller_manager_args_check(&cm, &cm_err);
  consume(fed_desired_controller_manager(&cm, hash));
  free(hash);
  char *url = fed_service_url(s);
  char *kc = fed_kubeconfig(s->name, "admin", s->name, url, "-----BEGIN CERTIFICATE-----\n", NULL, NULL, s->uid);
  free(kc);
  free(url);
}

static void decode_federation(json_object *fed, json_object *input) {
  fed_spec s;
  kf_error err;
  kf_error_clear(&err);
  int rc = fed_spec_decode(fed, &s, &err);
  if (rc == 0) build_federation(&s, input);
  else check_error(rc, &err);
}

static void decode_federatedcluster(json_object *fc) {
  fc_spec s;
  kf_error err;
  kf_error_clear(&err);
  int rc = fc_spec_decode(fc, &s, &err);
  if (rc != 0) {
    check_error(rc, &err);
    return;
  }
  CHECK(s.member_ns && s.dns_mode && s.secret_key && s.period_s >= 1 && s.timeout_s >= 1);
  CHECK(!s.context || s.context[0]);
  CHECK(!s.cred_secret || s.cred_secret[0]);
}

/* {metadata: a valid one, spec: v} */
static json_object *wrap(json_object *v) {
  json_object *o = kj_obj(), *meta = kj_obj();
  kj_str(meta, "name", "fellowship");
  kj_str(meta, "namespace", "middle-earth");
  kj_str(meta, "uid", "2f1c7c1e-3c1a-4c2e-9a55-0d6b1c9e7f01");
  kj_int(meta, "generation", 3);
  kj_set(meta, "annotations", kj_str(kj_obj(), API_ANNOTATION_ROTATE, "now"));
  kj_set(o, "metadata", meta);
  kj_set(o, "spec", json_object_get(v));
  return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The parser the informers' caches, GET responses and (at the same depth) the watch framer
   * use: KJ_MAX_DEPTH, as deep as kube-apiserver stores objects. */
  json_object *v = kj_parse((const char *)data, size);
  if (!v) return 0;

  decode_federation(v, v);
  decode_federatedcluster(v);
  json_object *w = wrap(v);
  decode_federation(w, v);
  decode_federatedcluster(w);
  json_object_put(w);
  json_object_put(v);
  return 0;
}
