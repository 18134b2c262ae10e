/* federation.objects: the Federation's desired children as pure functions (names, keys,
 * args, volumes, endpoints, SANs, kubeconfigs, the controller manager's Deployment and the check
 * of its extraArgs), and the subset test that decides writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "certs/certs.h"
#include "federatedcluster/federatedcluster.h"
#include "federation/objects.h"
#include <kf/kc.h>
#include <kf/kj.h>
#include <kf/kcfg.h>

static json_object *fed(const char *spec) {
  char *text = kf_asprintf("{\"apiVersion\":\"kubefed.dev/v1alpha1\",\"kind\":\"Federation\",\"metadata\":{\"name\":"
                           "\"fellowship\",\"namespace\":\"federation-system\",\"uid\":\"u-1\",\"generation\":3},"
                           "\"spec\":%s}",
                           spec);
  json_object *o = json_tokener_parse(text);
  free(text);
  assert_non_null(o);
  return o;
}

static const char *arg_list(json_object *args, char *buf, size_t size) {
  buf[0] = '\0';
  for (size_t i = 0; i < json_object_array_length(args); i++) {
    strncat(buf, json_object_get_string(json_object_array_get_idx(args, i)), size - strlen(buf) - 2);
    strncat(buf, " ", size - strlen(buf) - 1);
  }
  return buf;
}

static void test_durations(void **state) {
  uint64_t s;
  (void)state;
  assert_int_equal(fed_parse_duration("8760h", &s), 0);
  assert_int_equal(s, 8760ull * 3600);
  assert_int_equal(fed_parse_duration("1h30m", &s), 0);
  assert_int_equal(s, 5400);
  assert_int_equal(fed_parse_duration("1.5h", &s), 0);
  assert_int_equal(s, 5400);
  assert_int_equal(fed_parse_duration("90s", &s), 0);
  assert_int_equal(s, 90);
  assert_int_equal(fed_parse_duration("1 year", &s), -EINVAL);
  assert_int_equal(fed_parse_duration("10", &s), -EINVAL);
  assert_int_equal(fed_parse_duration("", &s), -EINVAL);
  assert_int_equal(fed_parse_duration("-1h", &s), -EINVAL);
  assert_int_equal(fed_parse_duration("99999999h", &s), -EINVAL);
}

static void test_defaults_at_read_time(void **state) {
  fed_spec s;
  kf_error err;
  (void)state;
  json_object *f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  assert_int_equal(s.service_type, FED_SVC_LOADBALANCER);
  assert_string_equal(s.api_image, FED_DEFAULT_APISERVER_IMAGE);
  assert_string_equal(s.etcd_image, FED_DEFAULT_ETCD_IMAGE);
  assert_true(s.etcd_local);
  assert_false(s.etcd_emptydir);
  assert_string_equal(s.etcd_size, "10Gi");
  assert_true(s.etcd_retain);
  assert_int_equal(s.validity_s, 8760ull * 3600);
  assert_int_equal(s.renew_before_s, 720ull * 3600);
  assert_int_equal(s.generation, 3);
  json_object_put(f);

  f = fed("{\"dns\":{\"provider\":\"coredns\",\"zoneName\":\"example.com\"}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "spec.dns.zoneName"));
  json_object_put(f);
  /* kubefed v1's documented coredns init has no nameservers: accepted, joins add no forward block. */
  f = fed("{\"dns\":{\"provider\":\"coredns\",\"zoneName\":\"example.com.\"}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  assert_null(s.coredns_nameservers);
  json_object *cm = fed_desired_controller_manager(&s, "h");
  json_object *ann = kc_obj_get(cm, "metadata.annotations");
  assert_string_equal(kc_obj_str(ann, "dns-provider"), "coredns");
  assert_null(kc_obj_get(ann, "nameserver"));
  json_object_put(cm);
  json_object_put(f);
}

/* PodSecurity `restricted` as the admission plugin checks it (issue 17, D5): non-root with a fixed
 * uid/gid/fsGroup, seccomp RuntimeDefault, no privilege escalation, every capability dropped. The
 * real admission check is federation.controlplane's namespace enforcing restricted. */
static void assert_restricted(json_object *deployment) {
  json_object *pod = kc_obj_get(deployment, "spec.template.spec");
  assert_int_equal(json_object_get_int(kc_obj_get(pod, "securityContext.runAsUser")), FED_POD_UID);
  assert_int_equal(json_object_get_int(kc_obj_get(pod, "securityContext.runAsGroup")), FED_POD_UID);
  assert_int_equal(json_object_get_int(kc_obj_get(pod, "securityContext.fsGroup")), FED_POD_UID);
  assert_true(json_object_get_boolean(kc_obj_get(pod, "securityContext.runAsNonRoot")));
  assert_string_equal(kc_obj_str(pod, "securityContext.seccompProfile.type"), "RuntimeDefault");
  json_object *containers = kc_obj_get(pod, "containers");
  assert_true(json_object_array_length(containers) > 0);
  for (size_t i = 0; i < json_object_array_length(containers); i++) {
    json_object *sc = kc_obj_get(json_object_array_get_idx(containers, i), "securityContext");
    assert_false(json_object_get_boolean(kc_obj_get(sc, "allowPrivilegeEscalation")));
    assert_non_null(kc_obj_get(sc, "allowPrivilegeEscalation"));
    assert_true(json_object_get_boolean(kc_obj_get(sc, "runAsNonRoot")));
    json_object *drop = kc_obj_get(sc, "capabilities.drop");
    assert_int_equal(json_object_array_length(drop), 1);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(drop, 0)), "ALL");
    assert_null(kc_obj_get(sc, "capabilities.add"));
  }
}

static void test_apiserver_args_and_pod(void **state) {
  fed_spec s;
  kf_error err;
  char buf[4096];
  (void)state;
  json_object *f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},"
                       "\"apiServer\":{\"advertiseAddress\":\"127.0.0.1\",\"tokenAuthSecretRef\":{\"name\":\"t\"},"
                       "\"extraArgs\":{\"v\":\"4\",\"secure-port\":\"9443\"}}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  json_object *args = fed_apiserver_args(&s);
  arg_list(args, buf, sizeof(buf));
  assert_non_null(strstr(buf, "--advertise-address=127.0.0.1 "));
  assert_non_null(strstr(buf, "--etcd-servers=http://127.0.0.1:2379 "));
  assert_non_null(strstr(buf, "--token-auth-file=/etc/federation/apiserver/token.csv "));
  assert_non_null(strstr(buf, "--v=4 "));
  assert_non_null(strstr(buf, "--secure-port=9443 ")); /* override replaces */
  assert_null(strstr(buf, "--secure-port=8443"));
  for (size_t i = 1; i < json_object_array_length(args); i++) /* sorted, as kubefed v1 */
    assert_true(strcmp(json_object_get_string(json_object_array_get_idx(args, i - 1)),
                       json_object_get_string(json_object_array_get_idx(args, i))) < 0);
  json_object_put(args);

  json_object *d = fed_desired_apiserver(&s, "h1");
  assert_string_equal(kc_obj_str(d, "metadata.name"), "fellowship-apiserver");
  assert_string_equal(kc_obj_str(d, "spec.strategy.type"), "Recreate");
  assert_string_equal(kc_obj_key_str(kc_obj_get(d, "spec.template.metadata.annotations"), API_ANNOTATION_CONFIG_HASH),
                      "h1");
  json_object *containers = kc_obj_get(d, "spec.template.spec.containers");
  assert_int_equal(json_object_array_length(containers), 2);
  assert_string_equal(kc_obj_str(json_object_array_get_idx(containers, 1), "name"), "etcd");
  /* kubeadm's requests by default, and etcd's /livez probed on its metrics port (issue 17, D6). */
  json_object *api = json_object_array_get_idx(containers, 0), *etcd = json_object_array_get_idx(containers, 1);
  assert_string_equal(kc_obj_str(api, "resources.requests.cpu"), "250m");
  assert_string_equal(kc_obj_str(etcd, "resources.requests.cpu"), "100m");
  assert_string_equal(kc_obj_str(etcd, "resources.requests.memory"), "100Mi");
  assert_string_equal(kc_obj_str(etcd, "livenessProbe.httpGet.path"), "/livez");
  assert_int_equal(json_object_get_int(kc_obj_get(etcd, "livenessProbe.httpGet.port")), FED_ETCD_METRICS_PORT);
  assert_string_equal(kc_obj_str(etcd, "livenessProbe.httpGet.scheme"), "HTTP");
  arg_list(kc_obj_get(etcd, "args"), buf, sizeof(buf));
  assert_non_null(strstr(buf, "--listen-metrics-urls=http://0.0.0.0:2381 "));
  json_object *vols = kc_obj_get(d, "spec.template.spec.volumes");
  assert_string_equal(kc_obj_str(json_object_array_get_idx(vols, 0), "secret.secretName"),
                      "fellowship-apiserver-credentials");
  assert_string_equal(kc_obj_str(json_object_array_get_idx(vols, 1), "persistentVolumeClaim.claimName"),
                      "fellowship-apiserver-etcd-claim");
  json_object *owner = json_object_array_get_idx(kc_obj_get(d, "metadata.ownerReferences"), 0);
  assert_string_equal(kc_obj_str(owner, "uid"), "u-1");
  assert_restricted(d);
  json_object_put(d);
  d = fed_desired_controller_manager(&s, "h2");
  assert_restricted(d);
  json_object_put(d);
  json_object_put(f);
}

/* The load balancer admits only the given clients (issue 17, C4); other Service types take none. */
static void test_load_balancer_source_ranges(void **state) {
  fed_spec s;
  kf_error err;
  (void)state;
  json_object *f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},"
                       "\"apiServer\":{\"service\":{\"loadBalancerSourceRanges\":[\"203.0.113.0/24\",\"fd00::/8\"]}}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  json_object *svc = fed_desired_service(&s);
  json_object *ranges = kc_obj_get(svc, "spec.loadBalancerSourceRanges");
  assert_int_equal(json_object_array_length(ranges), 2);
  assert_string_equal(json_object_get_string(json_object_array_get_idx(ranges, 0)), "203.0.113.0/24");
  json_object_put(svc);
  json_object_put(f);
  f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  svc = fed_desired_service(&s);
  assert_null(kc_obj_get(svc, "spec.loadBalancerSourceRanges"));
  json_object_put(svc);
  json_object_put(f);
}

static void test_resources_given(void **state) {
  fed_spec s;
  kf_error err;
  (void)state;
  json_object *f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},"
                       "\"apiServer\":{\"resources\":{\"limits\":{\"memory\":\"2Gi\"}}},"
                       "\"etcd\":{\"local\":{\"resources\":{\"requests\":{\"memory\":\"1Gi\"}}}}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  json_object *d = fed_desired_apiserver(&s, "h");
  json_object *containers = kc_obj_get(d, "spec.template.spec.containers");
  json_object *api = json_object_array_get_idx(containers, 0), *etcd = json_object_array_get_idx(containers, 1);
  /* The user's, whole: no default request is mixed in. */
  assert_string_equal(kc_obj_str(api, "resources.limits.memory"), "2Gi");
  assert_null(kc_obj_get(api, "resources.requests"));
  assert_string_equal(kc_obj_str(etcd, "resources.requests.memory"), "1Gi");
  assert_null(kc_obj_get(etcd, "resources.requests.cpu"));
  json_object_put(d);
  json_object_put(f);
}

static void test_storage_variants(void **state) {
  fed_spec s;
  kf_error err;
  (void)state;
  json_object *f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  json_object *pvc = fed_desired_pvc(&s);
  assert_string_equal(kc_obj_str(pvc, "metadata.name"), "fellowship-apiserver-etcd-claim");
  assert_null(kc_obj_get(pvc, "metadata.ownerReferences")); /* retained: not garbage-collected */
  json_object_put(pvc);
  json_object_put(f);

  f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},"
          "\"etcd\":{\"local\":{\"storage\":{\"retainOnDelete\":false,\"storageClassName\":\"fast\"}}}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  pvc = fed_desired_pvc(&s);
  assert_non_null(kc_obj_get(pvc, "metadata.ownerReferences"));
  assert_string_equal(kc_obj_str(pvc, "spec.storageClassName"), "fast");
  json_object_put(pvc);
  json_object_put(f);

  f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},"
          "\"etcd\":{\"local\":{\"storage\":{\"existingClaim\":\"mine\"}}}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  assert_null(fed_desired_pvc(&s));
  char *claim = fed_etcd_claim_name(&s);
  assert_string_equal(claim, "mine");
  free(claim);
  json_object_put(f);

  f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},\"apiServer\":{\"replicas\":3},"
          "\"etcd\":{\"external\":{\"endpoints\":[\"https://127.0.0.1:2379\",\"https://127.0.0.2:2379\"],"
          "\"tlsSecretRef\":{\"name\":\"etcd-tls\"}}}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  assert_null(fed_desired_pvc(&s));
  json_object *d = fed_desired_apiserver(&s, "h");
  assert_int_equal(json_object_array_length(kc_obj_get(d, "spec.template.spec.containers")), 1);
  assert_null(kc_obj_get(d, "spec.strategy"));
  assert_int_equal(json_object_get_int(kc_obj_get(d, "spec.replicas")), 3);
  char buf[4096];
  arg_list(kc_obj_get(json_object_array_get_idx(kc_obj_get(d, "spec.template.spec.containers"), 0), "args"), buf,
           sizeof(buf));
  assert_non_null(strstr(buf, "--etcd-servers=https://127.0.0.1:2379,https://127.0.0.2:2379 "));
  assert_non_null(strstr(buf, "--etcd-prefix=/kubefed/federation-system/fellowship "));
  json_object_put(d);
  json_object_put(f);
}

static void test_endpoints_and_sans(void **state) {
  fed_spec s;
  kf_error err;
  const char *pending;
  (void)state;
  json_object *f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},"
                       "\"apiServer\":{\"service\":{\"type\":\"NodePort\"},\"advertiseAddress\":\"::1\","
                       "\"certSANs\":[\"fed.example.com\",\"127.0.0.9\"]}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  assert_null(fed_endpoint(&s, NULL, &pending));
  assert_non_null(pending);
  json_object *svc = json_tokener_parse("{\"spec\":{\"ports\":[{\"nodePort\":31000}]}}");
  char *ep = fed_endpoint(&s, svc, &pending);
  assert_string_equal(ep, "https://[::1]:31000");
  free(ep);
  json_object_put(svc);
  char **dns, **ips;
  fed_serving_sans(&s, NULL, &dns, &ips);
  assert_string_equal(dns[0], "fellowship-apiserver");
  assert_string_equal(dns[3], "fellowship-apiserver.federation-system.svc.cluster.local");
  assert_string_equal(dns[4], "fed.example.com");
  assert_null(dns[5]);
  assert_string_equal(ips[0], "::1");
  assert_string_equal(ips[1], "127.0.0.9");
  assert_null(ips[2]);
  fed_strv_free(dns);
  fed_strv_free(ips);
  json_object_put(f);

  f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  svc = json_tokener_parse("{\"status\":{\"loadBalancer\":{\"ingress\":[{\"hostname\":\"lb.example.com\"}]}}}");
  ep = fed_endpoint(&s, svc, &pending);
  assert_string_equal(ep, "https://lb.example.com:443");
  free(ep);
  fed_serving_sans(&s, kc_obj_get(svc, "status.loadBalancer.ingress"), &dns, &ips);
  assert_string_equal(dns[4], "lb.example.com");
  fed_strv_free(dns);
  fed_strv_free(ips);
  json_object_put(svc);
  json_object_put(f);
}

static void test_kubeconfig_round_trip(void **state) {
  certs_pair ca, client;
  kf_error err;
  kcfg *cfg = NULL;
  (void)state;
  assert_int_equal(certs_new_ca("ca", 3600, CERTS_KEY_ECDSA_P256, &ca, &err), 0);
  certs_request req = {.common_name = "admin", .client_auth = 1, .validity_s = 3600};
  assert_int_equal(certs_issue(&ca, &req, &client, &err), 0);
  char *text = fed_kubeconfig("fellowship", "fellowship", "fellowship", "https://127.0.0.1:31000", ca.cert_pem,
                              client.cert_pem, client.key_pem, NULL);
  assert_int_equal(kcfg_load_data(text, strlen(text), NULL, NULL, &cfg, &err), 0);
  assert_string_equal(cfg->server, "https://127.0.0.1:31000");
  assert_string_equal(cfg->context, "fellowship");
  assert_string_equal(cfg->ca_pem, ca.cert_pem);
  assert_string_equal(cfg->client_cert_pem, client.cert_pem);
  assert_string_equal(cfg->client_key_pem, client.key_pem);
  kcfg_free(cfg);
  free(text);
  /* The member credential form: a bearer token, no client certificate. */
  text = fed_kubeconfig("gondor", "kubefed-fellowship-gondor", "gondor", "https://127.0.0.1:32000", ca.cert_pem, NULL,
                        NULL, "t0ken");
  assert_int_equal(kcfg_load_data(text, strlen(text), NULL, NULL, &cfg, &err), 0);
  assert_string_equal(cfg->token, "t0ken");
  assert_string_equal(cfg->user, "kubefed-fellowship-gondor");
  assert_null(cfg->client_cert_pem);
  assert_string_equal(cfg->ca_pem, ca.cert_pem);
  kcfg_free(cfg);
  free(text);
  certs_pair_free(&ca);
  certs_pair_free(&client);
}

static void test_hash_and_subset(void **state) {
  (void)state;
  json_object *a = json_tokener_parse("{\"x\":\"1\",\"y\":\"2\"}"),
              *b = json_tokener_parse("{\"y\":\"2\",\"x\":\"1\"}");
  json_object *c = json_tokener_parse("{\"x\":\"1\",\"y\":\"3\"}");
  char *ha = fed_data_hash(a), *hb = fed_data_hash(b), *hc = fed_data_hash(c);
  assert_string_equal(ha, hb); /* key order does not matter */
  assert_string_not_equal(ha, hc);
  assert_int_equal(strlen(ha), 64);
  free(ha);
  free(hb);
  free(hc);
  json_object_put(a);
  json_object_put(b);
  json_object_put(c);

  json_object *want = json_tokener_parse("{\"spec\":{\"ports\":[{\"port\":443}],\"type\":\"NodePort\"}}");
  json_object *have = json_tokener_parse(
      "{\"spec\":{\"ports\":[{\"port\":443,\"nodePort\":31000,\"protocol\":\"TCP\"}],\"type\":\"NodePort\","
      "\"clusterIP\":\"10.0.0.1\"},\"status\":{}}");
  assert_true(kj_subset(want, have)); /* server defaults are fine */
  json_object *edited = json_tokener_parse("{\"spec\":{\"ports\":[{\"port\":80}],\"type\":\"NodePort\"}}");
  char why[128];
  assert_false(kj_subset_why(edited, have, why, sizeof(why)));
  assert_string_equal(why, ".spec.ports[0].port");
  json_object *more = json_tokener_parse("{\"spec\":{\"ports\":[{\"port\":443},{\"port\":80}]}}");
  assert_false(kj_subset(more, have)); /* lists compare whole */
  json_object_put(want);
  json_object_put(have);
  json_object_put(edited);
  json_object_put(more);
}

/* What the CRD schema normally rejects, read from an object without it: a message naming
 * the field, never a json-c type assertion in a builder or a silently wrapped integer. */
static void test_wrong_types_rejected(void **state) {
  static const struct {
    const char *spec, *field;
  } cases[] = {
      {"{\"dns\":{\"provider\":\"coredns\",\"zoneName\":\"e.com.\",\"corednsNameservers\":\"1.2.3.4\"}}",
       "corednsNameservers"},
      {"{\"dns\":{\"provider\":\"coredns\",\"zoneName\":\"e.com.\",\"corednsNameservers\":[null]}}",
       "corednsNameservers"},
      {"{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"e.com.\"},\"apiServer\":{\"certSANs\":{}}}",
       "certSANs"},
      {"{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"e.com.\"},\"apiServer\":{\"extraArgs\":[\"--v=4\"]}}",
       "apiServer.extraArgs"},
      {"{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"e.com.\"},\"apiServer\":{\"service\":"
       "{\"annotations\":{\"a\":1}}}}",
       "annotations"},
      {"{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"e.com.\"},\"controllerManager\":{\"extraArgs\":7}}",
       "controllerManager.extraArgs"},
      {"{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"e.com.\"},\"etcd\":{\"external\":"
       "{\"endpoints\":[1],\"tlsSecretRef\":{\"name\":\"t\"}}}}",
       "endpoints"},
      {"{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"e.com.\"},\"imagePullSecrets\":\"r\"}",
       "imagePullSecrets"},
      {"{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"e.com.\"},\"apiServer\":{\"service\":"
       "{\"type\":\"NodePort\",\"nodePort\":4294967376}}}",
       "nodePort"},
      {"{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"e.com.\"},\"etcd\":{\"external\":"
       "{\"endpoints\":[\"https://e:2379\"],\"tlsSecretRef\":{\"name\":\"t\"}}},\"apiServer\":{\"replicas\":4294967297}}",
       "apiServer.replicas"},
      {"{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"e.com.\"},\"controllerManager\":{\"replicas\":\"2\"}}",
       "controllerManager.replicas"},
      {"{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"e.com.\"},\"apiServer\":{\"service\":"
       "{\"loadBalancerSourceRanges\":[10]}}}",
       "loadBalancerSourceRanges"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    fed_spec s;
    kf_error err;
    kf_error_clear(&err);
    json_object *f = fed(cases[i].spec);
    assert_int_equal(fed_spec_decode(f, &s, &err), -EINVAL);
    if (!strstr(err.msg, cases[i].field)) fail_msg("case %zu: \"%s\" does not name %s", i, err.msg, cases[i].field);
    json_object_put(f);
  }
}

/* The F-controller-manager Deployment: kubefed-controller-manager from the given image, the
 * program's args (federation uid, health and metrics ports, leader election above one replica),
 * probes on the health port, no host identity. */
static void test_controller_manager_deployment(void **state) {
  fed_spec s;
  kf_error err;
  char buf[4096];
  (void)state;
  json_object *f = fed("{\"dns\":{\"provider\":\"coredns\",\"zoneName\":\"example.com.\",\"corednsNameservers\":"
                       "[\"10.0.0.10:53\"],\"providerConfigSecretRef\":{\"name\":\"dns\"}}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  assert_null(s.cm_image); /* no default names an image: the reconcile adds the operator's */
  s.cm_image = "kubefed-operator:0.1.0";
  json_object *args = fed_controller_manager_args(&s);
  assert_string_equal(arg_list(args, buf, sizeof(buf)),
                      "--dns-provider-config=/etc/federation/dns-provider/federation-dns-provider.conf "
                      "--dns-provider=coredns --federation-name=fellowship --federation-uid=u-1 "
                      "--health-bind-address=:8081 --kubeconfig=/etc/federation/controller-manager/kubeconfig "
                      "--master=https://fellowship-apiserver --metrics-bind-address=:8080 --zone-name=example.com. ");
  json_object_put(args);
  assert_int_equal(fed_controller_manager_args_check(&s, &err), 0);

  json_object *d = fed_desired_controller_manager(&s, "h2");
  assert_string_equal(kc_obj_str(d, "metadata.name"), "fellowship-controller-manager");
  assert_int_equal(json_object_get_int(kc_obj_get(d, "spec.replicas")), 1);
  json_object *pod = kc_obj_get(d, "spec.template.spec");
  assert_false(json_object_get_boolean(kc_obj_get(pod, "automountServiceAccountToken")));
  assert_string_equal(kc_obj_str(pod, "serviceAccountName"), "default");
  json_object *containers = kc_obj_get(pod, "containers");
  assert_int_equal(json_object_array_length(containers), 1);
  json_object *c = json_object_array_get_idx(containers, 0);
  assert_string_equal(kc_obj_str(c, "image"), "kubefed-operator:0.1.0");
  json_object *cmd = kc_obj_get(c, "command");
  assert_int_equal(json_object_array_length(cmd), 1);
  assert_string_equal(json_object_get_string(json_object_array_get_idx(cmd, 0)),
                      "/usr/local/bin/kubefed-controller-manager");
  assert_null(kc_obj_get(c, "env")); /* nothing from the host */
  assert_string_equal(kc_obj_str(c, "livenessProbe.httpGet.path"), "/healthz");
  assert_string_equal(kc_obj_str(c, "readinessProbe.httpGet.path"), "/readyz");
  assert_int_equal(json_object_get_int(kc_obj_get(c, "readinessProbe.httpGet.port")), 8081);
  assert_string_equal(kc_obj_str(c, "readinessProbe.httpGet.scheme"), "HTTP");
  json_object *ports = kc_obj_get(c, "ports");
  assert_int_equal(json_object_array_length(ports), 2);
  assert_int_equal(json_object_get_int(kc_obj_get(json_object_array_get_idx(ports, 0), "containerPort")), 8081);
  assert_int_equal(json_object_get_int(kc_obj_get(json_object_array_get_idx(ports, 1), "containerPort")), 8080);
  json_object *vols = kc_obj_get(pod, "volumes");
  assert_int_equal(json_object_array_length(vols), 2);
  assert_string_equal(kc_obj_str(json_object_array_get_idx(vols, 0), "secret.secretName"),
                      "fellowship-controller-manager-kubeconfig");
  assert_string_equal(kc_obj_str(json_object_array_get_idx(vols, 1), "secret.secretName"), "fellowship-dns-provider");
  assert_string_equal(kc_obj_key_str(kc_obj_get(d, "spec.template.metadata.annotations"), API_ANNOTATION_CONFIG_HASH),
                      "h2");
  assert_string_equal(kc_obj_key_str(kc_obj_get(d, "metadata.annotations"), "federations"), "fellowship=example.com");
  json_object_put(d);
  json_object_put(f);

  /* Above one replica: leader election in the federation API, and standbys Ready while alive. */
  f = fed("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},\"controllerManager\":{"
          "\"image\":\"example.com/cm:1\",\"replicas\":3}}");
  assert_int_equal(fed_spec_decode(f, &s, &err), 0);
  assert_string_equal(s.cm_image, "example.com/cm:1");
  args = fed_controller_manager_args(&s);
  arg_list(args, buf, sizeof(buf));
  assert_non_null(strstr(buf, " --leader-elect --leader-election-namespace=federation-system "));
  assert_null(strstr(buf, "--dns-provider-config"));
  json_object_put(args);
  assert_int_equal(fed_controller_manager_args_check(&s, &err), 0);
  d = fed_desired_controller_manager(&s, "h3");
  c = json_object_array_get_idx(kc_obj_get(d, "spec.template.spec.containers"), 0);
  assert_string_equal(kc_obj_str(c, "image"), "example.com/cm:1");
  assert_string_equal(kc_obj_str(c, "readinessProbe.httpGet.path"), "/healthz");
  assert_int_equal(json_object_get_int(kc_obj_get(d, "spec.replicas")), 3);
  json_object_put(d);
  json_object_put(f);
}

/* extraArgs are checked as the program parses them: what it would refuse is an error with its
 * own message (the reconcile makes it a condition and leaves the Deployment alone). */
static void test_controller_manager_extra_args(void **state) {
  static const struct {
    const char *extra; /* spec.controllerManager.extraArgs */
    int ok;
    const char *in_message; /* for a refusal */
    const char *in_args;    /* for an acceptance */
  } cases[] = {
      {"{\"controllers\":\"services=false\"}", 1, NULL, "--controllers=services=false "},
      {"{\"v\":\"4\",\"cluster-monitor-period\":\"40s\"}", 1, NULL, "--v=4 "},
      {"{\"concurrent-replicaset-syncs\":\"20\"}", 1, NULL, "--concurrent-replicaset-syncs=20 "},
      {"{\"master\":\"https://elsewhere\"}", 1, NULL, "--master=https://elsewhere "}, /* replaces ours */
      {"{\"no-such-flag\":\"1\"}", 0, "no-such-flag", NULL},
      {"{\"controllers\":\"nonsense=false\"}", 0, "unknown controller nonsense", NULL},
      {"{\"controllers\":\"services=maybe\"}", 0, "true or false", NULL},
      {"{\"concurrent-job-syncs\":\"many\"}", 0, "concurrent-job-syncs", NULL},
      {"{\"leader-elect\":\"banana\"}", 0, "leader-elect", NULL},
  };
  char buf[4096];
  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    fed_spec s;
    kf_error err;
    char *spec = kf_asprintf("{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},"
                             "\"controllerManager\":{\"extraArgs\":%s}}",
                             cases[i].extra);
    json_object *f = fed(spec);
    free(spec);
    assert_int_equal(fed_spec_decode(f, &s, &err), 0);
    kf_error_clear(&err);
    int rc = fed_controller_manager_args_check(&s, &err);
    if (cases[i].ok) {
      if (rc != 0) fail_msg("case %zu (%s): refused: %s", i, cases[i].extra, err.msg);
      json_object *args = fed_controller_manager_args(&s);
      arg_list(args, buf, sizeof(buf));
      if (!strstr(buf, cases[i].in_args)) fail_msg("case %zu: args %s lack %s", i, buf, cases[i].in_args);
      json_object_put(args);
    } else {
      if (rc != -EINVAL) fail_msg("case %zu (%s): accepted", i, cases[i].extra);
      if (!strstr(err.msg, cases[i].in_message))
        fail_msg("case %zu: \"%s\" does not say %s", i, err.msg, cases[i].in_message);
    }
    json_object_put(f);
  }
}

/* The FederatedCluster as the controller reads it: defaults, clamps, borrowed strings. */
static void test_federatedcluster_spec(void **state) {
  fc_spec s;
  kf_error err;
  (void)state;
  json_object *fc = json_tokener_parse(
      "{\"metadata\":{\"name\":\"gondor\",\"namespace\":\"federation-system\",\"generation\":7},"
      "\"spec\":{\"federationRef\":{\"name\":\"fellowship\"},\"kubeconfigSecretRef\":{\"name\":\"gondor-admin\","
      "\"context\":\"\"},\"health\":{\"periodSeconds\":0,\"timeoutSeconds\":-3,\"failureThreshold\":5}}}");
  assert_int_equal(fc_spec_decode(fc, &s, &err), 0);
  assert_string_equal(s.name, "gondor");
  assert_int_equal(s.generation, 7);
  assert_string_equal(s.fed_name, "fellowship");
  assert_string_equal(s.member_ns, "federation-system");
  assert_string_equal(s.dns_mode, "Auto");
  assert_string_equal(s.secret_name, "gondor-admin");
  assert_string_equal(s.secret_key, "kubeconfig");
  assert_null(s.context);
  assert_null(s.cred_secret);
  assert_int_equal(s.period_s, 1);
  assert_int_equal(s.timeout_s, 1);
  assert_int_equal(s.failure_threshold, 5);
  assert_int_equal(s.success_threshold, 1);
  assert_false(s.deleting);
  assert_false(s.force);
  assert_null(s.cluster_labels);
  json_object_put(fc);
  fc = json_tokener_parse("{\"metadata\":{\"name\":\"gondor\"},\"spec\":{\"clusterLabels\":{\"env\":\"prod\"}}}");
  assert_int_equal(fc_spec_decode(fc, &s, &err), 0);
  assert_string_equal(kc_obj_key_str(s.cluster_labels, "env"), "prod");
  json_object_put(fc);
  fc = json_tokener_parse("{\"metadata\":{\"name\":\"gondor\"},\"spec\":{\"clusterLabels\":[\"env\"]}}");
  assert_int_equal(fc_spec_decode(fc, &s, &err), 0);
  assert_null(s.cluster_labels); /* not a map (no schema): ignored */
  json_object_put(fc);
  fc = json_object_new_array();
  kf_error_clear(&err);
  assert_int_equal(fc_spec_decode(fc, &s, &err), -EINVAL);
  assert_true(err.msg[0] != '\0');
  json_object_put(fc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_defaults_at_read_time),
      cmocka_unit_test(test_apiserver_args_and_pod),
      cmocka_unit_test(test_resources_given),
      cmocka_unit_test(test_load_balancer_source_ranges),
      cmocka_unit_test(test_storage_variants),
      cmocka_unit_test(test_endpoints_and_sans),
      cmocka_unit_test(test_kubeconfig_round_trip),
      cmocka_unit_test(test_hash_and_subset),
      cmocka_unit_test(test_wrong_types_rejected),
      cmocka_unit_test(test_controller_manager_deployment),
      cmocka_unit_test(test_controller_manager_extra_args),
      cmocka_unit_test(test_federatedcluster_spec),
  };
  return cmocka_run_group_tests_name("federation.objects", tests, NULL, NULL);
}
