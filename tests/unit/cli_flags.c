/* cli.flags: the kubefed CLI's flags (kubefed v1's names) to the objects it applies:
 * the documented `kubefed init fellowship` example, NodePort / advertise address / port,
 * arg overrides, etcd storage variants, basic auth refused, token auth, flag syntax, the
 * YAML it prints and writes, join's minified kubeconfig (tests/data/kubeconfig), and the
 * local kubeconfig edit init makes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <kf/b64.h>
#include "cli_flags.h"
#include "cli_kubeconfig.h"
#include "cli_yaml.h"
#include "federation/objects.h"
#include <kf/kc.h>
#include <kf/kj.h>
#include <kf/kcfg.h>
#include <kf/yaml.h>

static char tmpdir[] = "/tmp/cli-flags-XXXXXX";

static int setup(void **state) {
  (void)state;
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  char *cmd = kf_asprintf("rm -rf '%s'", tmpdir);
  (void)state;
  int rc = system(cmd);
  free(cmd);
  return rc == 0 ? 0 : -1;
}

static char *fixture(const char *name) {
  const char *dir = getenv("KF_TESTDATA");
  assert_non_null(dir);
  return kf_asprintf("%s/kubeconfig/%s", dir, name);
}

static char *tmpfile_with(const char *name, const char *content) {
  char *path = kf_asprintf("%s/%s", tmpdir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
  assert_int_equal(fclose(f), 0);
  return path;
}

static char *slurp(const char *path, size_t *len) {
  char *buf;
  size_t n;
  kf_error err;
  if (cli_read_file(path, 1 << 20, &buf, &n, &err) != 0) fail_msg("read %s: %s", path, err.msg);
  if (len) *len = n;
  return buf;
}

/* Parses a NULL-terminated argument list (after "kubefed"). */
static int parse(cli_opts *o, kf_error *err, ...) {
  char *argv[64];
  int argc = 0;
  va_list ap;
  argv[argc++] = "kubefed";
  va_start(ap, err);
  for (char *a; (a = va_arg(ap, char *)) != NULL;) argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  return cli_parse(argc, argv, o, err);
}

/* The objects init applies for flags that must parse. */
static json_object *init_objects(cli_opts *o) {
  kf_error err;
  json_object *objs = NULL;
  if (cli_init_objects(o, &objs, &err) != 0) fail_msg("cli_init_objects: %s", err.msg);
  return objs;
}

static json_object *last(json_object *arr) { return json_object_array_get_idx(arr, json_object_array_length(arr) - 1); }

static void assert_json(json_object *got, const char *want_text) {
  json_object *want = json_tokener_parse(want_text);
  assert_non_null(want);
  if (!json_object_equal(got, want))
    fail_msg("JSON differs\n got: %s\nwant: %s", json_object_to_json_string_ext(got, KC_JSON_FLAGS),
             json_object_to_json_string_ext(want, KC_JSON_FLAGS));
  json_object_put(want);
}

/* The operator's own reading of the Federation (with the uid the apiserver would add). */
static void assert_operator_accepts(json_object *fed, fed_spec *s) {
  kf_error err;
  kj_str(kc_obj_get(fed, "metadata"), "uid", "u-1");
  if (fed_spec_decode(fed, s, &err) != 0) fail_msg("the operator refuses the Federation: %s", err.msg);
}

/* kubefed v1's documented coredns-provider.conf: no coredns-endpoints, so no nameservers. */
static const char PROVIDER_CONF[] = "[Global]\n"
                                    "etcd-endpoints = http://etcd-cluster.ns:2379\n"
                                    "zones = example.com.\n";

static void test_documented_example(void **state) {
  cli_opts o;
  kf_error err;
  fed_spec s;
  (void)state;
  char *conf = tmpfile_with("coredns-provider.conf", PROVIDER_CONF);
  char *flag = kf_asprintf("--dns-provider-config=%s", conf);
  assert_int_equal(parse(&o, &err, "init", "fellowship", "--host-cluster-context=rivendell", "--dns-provider=coredns",
                         "--dns-zone-name=example.com.", flag, NULL),
                   0);
  assert_int_equal(o.cmd, CLI_INIT);
  assert_string_equal(o.name, "fellowship");
  assert_string_equal(o.host_context, "rivendell");
  assert_string_equal(o.namespace_, "federation-system");
  assert_int_equal(o.timeout_ms, 5 * 60 * 1000);
  json_object *objs = init_objects(&o);
  assert_int_equal(json_object_array_length(objs), 2);
  json_object *secret = json_object_array_get_idx(objs, 0);
  assert_json(last(objs), "{\"apiVersion\":\"kubefed.dev/v1alpha1\",\"kind\":\"Federation\","
                          "\"metadata\":{\"name\":\"fellowship\",\"namespace\":\"federation-system\","
                          "\"labels\":{\"app.kubernetes.io/managed-by\":\"kubefed-cli\"}},"
                          "\"spec\":{\"dns\":{\"provider\":\"coredns\",\"zoneName\":\"example.com.\","
                          "\"providerConfigSecretRef\":{\"name\":\"fellowship-dns-provider-config\","
                          "\"key\":\"provider.conf\"}}}}");
  /* The Secret holds the file byte for byte. */
  assert_string_equal(kc_obj_str(secret, "kind"), "Secret");
  assert_string_equal(kc_obj_str(secret, "metadata.name"), "fellowship-dns-provider-config");
  assert_string_equal(kc_obj_str(secret, "metadata.namespace"), "federation-system");
  assert_string_equal(kc_obj_key_str(kc_obj_get(secret, "metadata.labels"), API_LABEL_MANAGED_BY), "kubefed-cli");
  const char *b64 = kc_obj_key_str(kc_obj_get(secret, "data"), "provider.conf");
  char *dec;
  size_t n;
  assert_int_equal(kf_b64_decode(b64, strlen(b64), &dec, &n), 0);
  assert_int_equal(n, strlen(PROVIDER_CONF));
  assert_memory_equal(dec, PROVIDER_CONF, n);
  free(dec);
  assert_operator_accepts(last(objs), &s);
  assert_string_equal(s.dns_config_secret, "fellowship-dns-provider-config");
  assert_false(s.etcd_emptydir);
  json_object_put(objs);

  /* --coredns-nameservers wins over the file; other providers take no nameservers. */
  assert_int_equal(parse(&o, &err, "init", "fellowship", "--dns-provider", "coredns", "--dns-zone-name", "example.com.",
                         flag, "--coredns-nameservers=10.0.0.10:53, 10.0.0.11:5353", NULL),
                   0);
  objs = init_objects(&o);
  assert_json(kc_obj_get(last(objs), "spec.dns.corednsNameservers"), "[\"10.0.0.10:53\",\"10.0.0.11:5353\"]");
  json_object_put(objs);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=aws-route53", "--dns-zone-name=example.com.",
                         "--coredns-nameservers=1.2.3.4:53", NULL),
                   -EINVAL);
  /* Nameservers are optional (kubefed v1 accepted coredns without them); with coredns-endpoints
   * they come from the file, and what the CRD refuses is refused here too (issue 17, B3). */
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=coredns", "--dns-zone-name=example.com.", NULL), 0);
  char *withep = tmpfile_with("withep.conf", "[Global]\netcd-endpoints = http://e:2379\ncoredns-endpoints = "
                                             "10.0.0.10:53,127.0.0.1:15353\n");
  char *withep_flag = kf_asprintf("--dns-provider-config=%s", withep);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=coredns", "--dns-zone-name=example.com.", withep_flag,
                         NULL),
                   0);
  objs = init_objects(&o);
  assert_json(kc_obj_get(last(objs), "spec.dns.corednsNameservers"), "[\"10.0.0.10:53\",\"127.0.0.1:15353\"]");
  json_object_put(objs);
  char *loop = tmpfile_with("loop.conf", "[Global]\ncoredns-endpoints = 127.0.0.53:53\n");
  char *loop_flag = kf_asprintf("--dns-provider-config=%s", loop);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=coredns", "--dns-zone-name=example.com.", loop_flag,
                         NULL),
                   0);
  json_object *none = NULL;
  assert_int_equal(cli_init_objects(&o, &none, &err), -EINVAL);
  assert_null(none);
  assert_non_null(strstr(err.msg, "coredns-endpoints"));
  assert_non_null(strstr(err.msg, "loopback"));
  static const char *const refused[] = {"--coredns-nameservers=127.0.0.1:53", "--coredns-nameservers=127.0.0.1",
                                        "--coredns-nameservers=dns.example.com:53", "--coredns-nameservers=0.0.0.0",
                                        "--coredns-nameservers=169.254.0.1:53"};
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=coredns", "--dns-zone-name=example.com.", refused[i],
                           NULL),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "--coredns-nameservers"));
  }
  free(withep);
  free(withep_flag);
  free(loop);
  free(loop_flag);
  /* A missing file is an error naming the flag. */
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--dns-provider-config=/nonexistent/provider.conf", NULL),
                   0);
  assert_int_equal(cli_init_objects(&o, &none, &err), -ENOENT);
  assert_non_null(strstr(err.msg, "--dns-provider-config"));
  /* Zone, provider and name are checked before anything is sent. */
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com", NULL),
                   -EINVAL);
  assert_non_null(strstr(err.msg, "dot"));
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=bind", "--dns-zone-name=example.com.", NULL), -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "Fellowship", "--dns-provider=google-clouddns", "--dns-zone-name=a.b.",
                         NULL),
                   -EINVAL);
  assert_non_null(strstr(err.msg, "RFC 1035"));
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-zone-name=a.b.", NULL), -EINVAL);
  assert_non_null(strstr(err.msg, "--dns-provider is mandatory"));
  free(flag);
  free(conf);
}

static void test_nodeport(void **state) {
  cli_opts o;
  kf_error err;
  fed_spec s;
  (void)state;
  assert_int_equal(parse(&o, &err, "init", "fellowship", "--dns-provider=google-clouddns",
                         "--dns-zone-name=example.com.", "--api-server-service-type=NodePort",
                         "--api-server-advertise-address=127.0.0.1", "--api-server-port=31443", NULL),
                   0);
  json_object *objs = init_objects(&o);
  assert_int_equal(json_object_array_length(objs), 1);
  assert_json(kc_obj_get(last(objs), "spec.apiServer"),
              "{\"service\":{\"type\":\"NodePort\",\"nodePort\":31443},\"advertiseAddress\":\"127.0.0.1\"}");
  assert_operator_accepts(last(objs), &s);
  assert_int_equal(s.service_type, FED_SVC_NODEPORT);
  assert_int_equal(s.node_port, 31443);
  assert_string_equal(s.advertise_address, "127.0.0.1");
  json_object_put(objs);
  /* Port 0 means any: no nodePort field. */
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--api-server-service-type", "NodePort", "--api-server-port", "0", NULL),
                   0);
  objs = init_objects(&o);
  assert_json(kc_obj_get(last(objs), "spec.apiServer"), "{\"service\":{\"type\":\"NodePort\"}}");
  json_object_put(objs);
  /* kubefed v1's rules: advertise address and port only with NodePort; a real IP; a port. */
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--api-server-advertise-address=127.0.0.1", NULL),
                   -EINVAL);
  assert_non_null(strstr(err.msg, "NodePort"));
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--api-server-port=30000", NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--api-server-service-type=NodePort", "--api-server-advertise-address=fed.example.com", NULL),
                   -EINVAL);
  assert_non_null(strstr(err.msg, "IP"));
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--api-server-service-type=NodePort", "--api-server-port=70000", NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--api-server-service-type=NodePort", "--api-server-port=x", NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--api-server-service-type=NodePort", "--api-server-port=-1", NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--api-server-service-type=ExternalName", NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--api-server-service-type=NodePort", "--api-server-advertise-address=2001:db8::1", NULL),
                   0);
}

static void test_arg_overrides(void **state) {
  cli_opts o;
  kf_error err;
  fed_spec s;
  (void)state;
  json_object *m = cli_parse_overrides("apiserver-arg-overrides",
                                       "--v=4, --audit-log-path = /var/log/a.log ,"
                                       "--runtime-config=api/all=true,-x=1,y=2",
                                       &err);
  assert_non_null(m);
  assert_json(m, "{\"v\":\"4\",\"audit-log-path\":\"/var/log/a.log\",\"runtime-config\":\"api/all=true\","
                 "\"x\":\"1\",\"y\":\"2\"}");
  json_object_put(m);
  assert_null(cli_parse_overrides("apiserver-arg-overrides", "--v=4,--oops", &err));
  assert_non_null(strstr(err.msg, "--oops"));
  assert_null(cli_parse_overrides("apiserver-arg-overrides", "--=4", &err));
  assert_null(cli_parse_overrides("apiserver-arg-overrides", " = 4", &err));
  assert_null(cli_parse_overrides("apiserver-arg-overrides", "--a b=4", &err));

  assert_int_equal(parse(&o, &err, "init", "fellowship", "--dns-provider=google-clouddns",
                         "--dns-zone-name=example.com.", "--apiserver-arg-overrides=--anonymous-auth=false, --v=4",
                         "--controllermanager-arg-overrides", "--v=2,--controllers=*", NULL),
                   0);
  json_object *objs = init_objects(&o);
  assert_json(kc_obj_get(last(objs), "spec"),
              "{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},"
              "\"apiServer\":{\"extraArgs\":{\"anonymous-auth\":\"false\",\"v\":\"4\"}},"
              "\"controllerManager\":{\"extraArgs\":{\"v\":\"2\",\"controllers\":\"*\"}}}");
  assert_operator_accepts(last(objs), &s);
  json_object *args = fed_apiserver_args(&s);
  int found = 0;
  for (size_t i = 0; i < json_object_array_length(args); i++)
    if (strcmp(json_object_get_string(json_object_array_get_idx(args, i)), "--anonymous-auth=false") == 0) found = 1;
  assert_true(found);
  json_object_put(args);
  json_object_put(objs);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--apiserver-arg-overrides=v4", NULL),
                   -EINVAL);
  assert_non_null(strstr(err.msg, "--apiserver-arg-overrides"));

  /* Node selector on both pods; images; pull policy and secrets. */
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--node-selector=disk=ssd, zone = a", "--image=example.com/fcp:v1", "--etcd-image=etcd:3",
                         "--image-pull-policy=Always", "--image-pull-secrets=regcred", NULL),
                   0);
  objs = init_objects(&o);
  assert_json(
      kc_obj_get(last(objs), "spec"),
      "{\"dns\":{\"provider\":\"google-clouddns\",\"zoneName\":\"example.com.\"},"
      "\"apiServer\":{\"nodeSelector\":{\"disk\":\"ssd\",\"zone\":\"a\"}},"
      "\"controllerManager\":{\"image\":\"example.com/fcp:v1\",\"nodeSelector\":{\"disk\":\"ssd\",\"zone\":\"a\"}},"
      "\"etcd\":{\"local\":{\"image\":\"etcd:3\"}},"
      "\"imagePullPolicy\":\"Always\",\"imagePullSecrets\":[{\"name\":\"regcred\"}]}");
  json_object_put(objs);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--image=fcp:1", "--apiserver-image=registry.k8s.io/kube-apiserver:v1.37.2", NULL),
                   0);
  objs = init_objects(&o);
  assert_string_equal(kc_obj_str(last(objs), "spec.apiServer.image"), "registry.k8s.io/kube-apiserver:v1.37.2");
  assert_string_equal(kc_obj_str(last(objs), "spec.controllerManager.image"), "fcp:1");
  json_object_put(objs);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--image-pull-policy=Sometimes", NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--node-selector=disk", NULL),
                   -EINVAL);
}

static void test_etcd(void **state) {
  cli_opts o;
  kf_error err;
  fed_spec s;
  (void)state;
  /* kubefed v1's --etcd-persistent-storage=false: no claim, data lives with the pod. */
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--etcd-persistent-storage=false", NULL),
                   0);
  json_object *objs = init_objects(&o);
  assert_json(kc_obj_get(last(objs), "spec.etcd"), "{\"local\":{\"storage\":{\"type\":\"EmptyDir\"}}}");
  assert_operator_accepts(last(objs), &s);
  assert_true(s.etcd_local);
  assert_true(s.etcd_emptydir);
  assert_null(fed_etcd_claim_name(&s));
  json_object_put(objs);
  /* The default (and =true) leave the CRD's default: a 10Gi claim. */
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--etcd-persistent-storage", NULL),
                   0);
  objs = init_objects(&o);
  assert_null(kc_obj_get(last(objs), "spec.etcd"));
  json_object_put(objs);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--etcd-pv-capacity=20Gi", "--etcd-pv-storage-class=fast", NULL),
                   0);
  objs = init_objects(&o);
  assert_json(
      kc_obj_get(last(objs), "spec.etcd"),
      "{\"local\":{\"storage\":{\"size\":\"20Gi\",\"storageClassName\":\"fast\",\"type\":\"PersistentVolumeClaim\"}}}");
  assert_operator_accepts(last(objs), &s);
  assert_string_equal(s.etcd_size, "20Gi");
  assert_string_equal(s.etcd_storage_class, "fast");
  json_object_put(objs);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--etcd-persistent-storage=false", "--etcd-pv-storage-class=fast", NULL),
                   -EINVAL);
  /* External etcd needs its TLS Secret, https URLs, and no local etcd flags. */
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--etcd-servers=https://e1:2379,https://e2:2379", NULL),
                   -EINVAL);
  assert_non_null(strstr(err.msg, "--etcd-tls-secret"));
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--etcd-servers=http://e1:2379", "--etcd-tls-secret=etcd-client", NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--etcd-servers=https://e1:2379", "--etcd-tls-secret=etcd-client", "--etcd-pv-capacity=1Gi",
                         NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--etcd-tls-secret=etcd-client", NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--etcd-servers=https://e1:2379, https://e2:2379", "--etcd-tls-secret=etcd-client", NULL),
                   0);
  objs = init_objects(&o);
  assert_json(kc_obj_get(last(objs), "spec.etcd"),
              "{\"external\":{\"endpoints\":[\"https://e1:2379\",\"https://e2:2379\"],"
              "\"tlsSecretRef\":{\"name\":\"etcd-client\"}}}");
  assert_operator_accepts(last(objs), &s);
  assert_false(s.etcd_local);
  assert_string_equal(s.etcd_tls_secret, "etcd-client");
  json_object_put(objs);
}

static void test_auth(void **state) {
  cli_opts o;
  kf_error err;
  (void)state;
  const char *forms[] = {"--apiserver-enable-basic-auth", "--apiserver-enable-basic-auth=true",
                         "--apiserver-enable-basic-auth=1"};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(parse(&o, &err, "init", "x", "--host-cluster-context=rivendell", "--dns-provider=coredns",
                           "--dns-zone-name=example.com.", "--coredns-nameservers=127.0.0.1:15353", forms[i], NULL),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "basic"));
    assert_non_null(strstr(err.msg, "1.19"));
    assert_non_null(strstr(err.msg, "token"));
  }
  /* Refused before any other check (the explanation is what the user needs). */
  assert_int_equal(parse(&o, &err, "init", "x", "--apiserver-enable-basic-auth", NULL), -EINVAL);
  assert_non_null(strstr(err.msg, "1.19"));
  assert_int_equal(parse(&o, &err, "init", "x", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--apiserver-enable-basic-auth=false", NULL),
                   0);
  assert_int_equal(parse(&o, &err, "init", "x", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--apiserver-enable-basic-auth=maybe", NULL),
                   -EINVAL);
  /* Token auth: the operator does not generate tokens, the user names the Secret. */
  assert_int_equal(parse(&o, &err, "init", "x", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--apiserver-enable-token-auth=true", NULL),
                   -EINVAL);
  assert_non_null(strstr(err.msg, "--token-auth-secret"));
  assert_int_equal(parse(&o, &err, "init", "x", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--apiserver-enable-token-auth", "--token-auth-secret=x-tokens", NULL),
                   0);
  json_object *objs = init_objects(&o);
  assert_json(kc_obj_get(last(objs), "spec.apiServer"), "{\"tokenAuthSecretRef\":{\"name\":\"x-tokens\"}}");
  json_object_put(objs);
}

static void test_flag_syntax(void **state) {
  cli_opts o;
  kf_error err;
  uint64_t ms;
  (void)state;
  /* Flags before and after the name, "--flag value", -o forms, "--" ends the flags. */
  assert_int_equal(parse(&o, &err, "init", "--dns-provider", "google-clouddns", "f", "--dns-zone-name", "example.com.",
                         "--dry-run", "-o", "yaml", "--timeout=90s", NULL),
                   0);
  assert_string_equal(o.name, "f");
  assert_int_equal(o.dry_run, 1);
  assert_string_equal(o.output, "yaml");
  assert_int_equal(o.timeout_ms, 90000);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--dry-run=client", "-ojson", NULL),
                   0);
  assert_string_equal(o.output, "json");
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--dry-run", "--output=yaml", NULL),
                   0);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.", "-o",
                         "yaml", NULL),
                   -EINVAL);
  assert_non_null(strstr(err.msg, "--dry-run"));
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--dry-run", "-o", "wide", NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--bogus=1", NULL),
                   -EINVAL);
  assert_non_null(strstr(err.msg, "unknown flag: --bogus"));
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name", NULL), -EINVAL);
  assert_non_null(strstr(err.msg, "needs an argument"));
  assert_int_equal(parse(&o, &err, "init", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.", NULL),
                   -EINVAL);
  assert_non_null(strstr(err.msg, "exactly one argument"));
  assert_int_equal(parse(&o, &err, "init", "a", "b", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--timeout=5", NULL),
                   -EINVAL);
  /* join flags do not exist on init and the other way round. */
  assert_int_equal(parse(&o, &err, "init", "f", "--dns-provider=google-clouddns", "--dns-zone-name=example.com.",
                         "--cluster-context=x", NULL),
                   -EINVAL);
  assert_int_equal(parse(&o, &err, "join", "gondor", "--dns-provider=coredns", NULL), -EINVAL);
  assert_int_equal(parse(&o, &err, "frobnicate", NULL), -EINVAL);
  /* help, version */
  assert_int_equal(parse(&o, &err, "--help", NULL), 0);
  assert_int_equal(o.cmd, CLI_HELP);
  assert_int_equal(o.help_for, CLI_NONE);
  assert_int_equal(parse(&o, &err, "join", "--bogus", "-h", NULL), 0);
  assert_int_equal(o.cmd, CLI_HELP);
  assert_int_equal(o.help_for, CLI_JOIN);
  assert_int_equal(parse(&o, &err, "help", "unjoin", NULL), 0);
  assert_int_equal(o.help_for, CLI_UNJOIN);
  assert_int_equal(parse(&o, &err, "version", NULL), 0);
  assert_int_equal(o.cmd, CLI_VERSION);
  /* --help lists every flag the command takes. */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cli_usage(f, CLI_INIT);
  fclose(f);
  const char *init_flags[] = {"--host-cluster-context",
                              "--federation-system-namespace",
                              "--kubeconfig",
                              "--dns-provider=",
                              "--dns-zone-name",
                              "--dns-provider-config",
                              "--coredns-nameservers",
                              "--image=",
                              "--etcd-image",
                              "--etcd-persistent-storage",
                              "--etcd-pv-capacity",
                              "--etcd-pv-storage-class",
                              "--etcd-servers",
                              "--etcd-tls-secret",
                              "--apiserver-arg-overrides",
                              "--controllermanager-arg-overrides",
                              "--api-server-service-type",
                              "--api-server-advertise-address",
                              "--api-server-port",
                              "--apiserver-enable-token-auth",
                              "--token-auth-secret",
                              "--apiserver-enable-basic-auth",
                              "--node-selector",
                              "--image-pull-policy",
                              "--image-pull-secrets",
                              "--dry-run",
                              "-o, --output",
                              "--timeout",
                              "--help"};
  for (size_t i = 0; i < sizeof(init_flags) / sizeof(init_flags[0]); i++)
    if (!strstr(buf, init_flags[i])) fail_msg("init --help lacks %s", init_flags[i]);
  assert_null(strstr(buf, "--cluster-context"));
  free(buf);
  f = open_memstream(&buf, &len);
  cli_usage(f, CLI_JOIN);
  fclose(f);
  const char *join_flags[] = {
      "--host-cluster-context", "--cluster-context", "--secret-name", "--federation=", "--context=",
      "--kubeconfig",           "--dry-run",         "--timeout"};
  for (size_t i = 0; i < sizeof(join_flags) / sizeof(join_flags[0]); i++)
    if (!strstr(buf, join_flags[i])) fail_msg("join --help lacks %s", join_flags[i]);
  assert_null(strstr(buf, "--dns-provider"));
  free(buf);

  assert_int_equal(kf_parse_duration_ms("5m", &ms), 0);
  assert_int_equal(ms, 300000);
  assert_int_equal(kf_parse_duration_ms("1h30m", &ms), 0);
  assert_int_equal(ms, 5400000);
  assert_int_equal(kf_parse_duration_ms("1.5s", &ms), 0);
  assert_int_equal(ms, 1500);
  assert_int_equal(kf_parse_duration_ms("250ms", &ms), 0);
  assert_int_equal(ms, 250);
  assert_int_equal(kf_parse_duration_ms("0", &ms), 0);
  assert_int_equal(ms, 0);
  assert_int_equal(kf_parse_duration_ms("-1s", &ms), -EINVAL);
  assert_int_equal(kf_parse_duration_ms("5 m", &ms), -EINVAL);
  assert_int_equal(kf_parse_duration_ms("m", &ms), -EINVAL);
}

static void test_join_flags(void **state) {
  cli_opts o;
  kf_error err;
  (void)state;
  assert_int_equal(parse(&o, &err, "join", "gondor", "--host-cluster-context=rivendell",
                         "--cluster-context=gondor_needs-no_king", NULL),
                   0);
  assert_int_equal(o.cmd, CLI_JOIN);
  assert_string_equal(o.cluster_context, "gondor_needs-no_king");
  assert_null(o.federation);
  assert_int_equal(parse(&o, &err, "join", "noldor", "--host-cluster-context=rivendell", "--secret-name=11kingdom",
                         "--context=fellowship", NULL),
                   0);
  assert_string_equal(o.cluster_context, "noldor"); /* default: the cluster name */
  assert_string_equal(o.secret_name, "11kingdom");
  assert_string_equal(o.federation, "fellowship");
  assert_int_equal(parse(&o, &err, "join", "noldor", "--federation=a", "--context=b", NULL), -EINVAL);
  /* kubectl habits: --name=value flags before the command. */
  assert_int_equal(parse(&o, &err, "--kubeconfig=/k", "--host-cluster-context=rivendell", "join", "gondor", NULL), 0);
  assert_int_equal(o.cmd, CLI_JOIN);
  assert_string_equal(o.name, "gondor");
  assert_string_equal(o.kubeconfig, "/k");
  assert_int_equal(parse(&o, &err, "join", "Gondor", NULL), -EINVAL);
  assert_int_equal(parse(&o, &err, "join", "gke_proj_zone", NULL), -EINVAL);
  assert_non_null(strstr(err.msg, "--cluster-context"));
  assert_int_equal(parse(&o, &err, "join", "noldor", "--secret-name=Bad_Name", NULL), -EINVAL);
  assert_int_equal(parse(&o, &err, "join", "a234567890123456789012345678901234567890123456789012", NULL), 0);
  assert_int_equal(parse(&o, &err, "join", "a2345678901234567890123456789012345678901234567890123", NULL), -EINVAL);
  assert_int_equal(parse(&o, &err, "unjoin", "gondor", "--host-cluster-context=rivendell", "--timeout=2m", NULL), 0);
  assert_int_equal(o.cmd, CLI_UNJOIN);
  assert_int_equal(o.timeout_ms, 120000);
  assert_int_equal(parse(&o, &err, "unjoin", "gondor", "--secret-name=x", NULL), -EINVAL);
  assert_int_equal(parse(&o, &err, "unjoin", "gondor", "--dry-run", NULL), -EINVAL);
}

static json_object *load_json(const char *path) {
  json_object *cfg;
  kf_error err;
  if (cli_kubeconfig_read(path, 0, &cfg, &err) != 0) fail_msg("read %s: %s", path, err.msg);
  return cfg;
}

static char *file_b64(const char *name) {
  char *path = fixture(name);
  size_t n;
  char *data = slurp(path, &n);
  char *b = kf_b64_encode(data, n);
  free(data);
  free(path);
  return b;
}

static void test_join_minify(void **state) {
  kf_error err;
  cli_opts o;
  (void)state;
  char *files = fixture("files.yaml"), *dir = fixture("");
  json_object *cfg = load_json(files), *m = NULL;
  /* File references inlined as -data, one cluster, user and context, current-context set. */
  assert_int_equal(cli_kubeconfig_minify(cfg, dir, "files", &m, &err), 0);
  char *ca = file_b64("pki/ca.crt"), *crt = file_b64("pki/client.crt"), *key = file_b64("pki/client.key");
  char *want = kf_asprintf(
      "{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"preferences\":{},"
      "\"clusters\":[{\"name\":\"files-cluster\",\"cluster\":{\"server\":\"https://files.example.com:443//\","
      "\"certificate-authority-data\":\"%s\"}}],"
      "\"users\":[{\"name\":\"cert-user\",\"user\":{\"client-certificate-data\":\"%s\",\"client-key-data\":\"%s\"}}],"
      "\"contexts\":[{\"name\":\"files\",\"context\":{\"cluster\":\"files-cluster\",\"user\":\"cert-user\","
      "\"namespace\":\"team-a\"}}],\"current-context\":\"files\"}",
      ca, crt, key);
  assert_json(m, want);
  free(want);

  /* join's Secret holds it as YAML the operator loads without any file (base_dir NULL). */
  assert_int_equal(parse(&o, &err, "join", "gondor", "--cluster-context=files", "--secret-name=11kingdom", NULL), 0);
  json_object *objs = NULL;
  assert_int_equal(cli_join_objects(&o, "fellowship", m, &objs, &err), 0);
  assert_int_equal(json_object_array_length(objs), 2);
  json_object *secret = json_object_array_get_idx(objs, 0), *fc = json_object_array_get_idx(objs, 1);
  assert_string_equal(kc_obj_str(secret, "metadata.name"), "gondor-kubeconfig");
  assert_string_equal(kc_obj_key_str(kc_obj_get(secret, "metadata.labels"), API_LABEL_MANAGED_BY), "kubefed-cli");
  const char *b64 = kc_obj_key_str(kc_obj_get(secret, "data"), "kubeconfig");
  char *text;
  size_t n;
  assert_int_equal(kf_b64_decode(b64, strlen(b64), &text, &n), 0);
  json_object *back = NULL;
  assert_int_equal(kf_yaml_to_json_one(text, n, &back, &err), 0);
  assert_true(json_object_equal(back, m));
  kcfg *k = NULL;
  if (kcfg_load_data(text, n, NULL, "files", &k, &err) != 0) fail_msg("operator-side load: %s", err.msg);
  assert_string_equal(k->server, "https://files.example.com:443");
  assert_non_null(k->client_key_pem);
  kcfg_free(k);
  free(text);
  json_object_put(back);
  assert_json(
      fc, "{\"apiVersion\":\"kubefed.dev/v1alpha1\",\"kind\":\"FederatedCluster\","
          "\"metadata\":{\"name\":\"gondor\",\"namespace\":\"federation-system\","
          "\"labels\":{\"app.kubernetes.io/managed-by\":\"kubefed-cli\",\"kubefed.dev/federation\":\"fellowship\"}},"
          "\"spec\":{\"federationRef\":{\"name\":\"fellowship\"},"
          "\"kubeconfigSecretRef\":{\"name\":\"gondor-kubeconfig\",\"key\":\"kubeconfig\",\"context\":\"files\"},"
          "\"secretName\":\"11kingdom\"}}");
  /* The dry-run printout never shows the Secret's value. */
  char *out = NULL;
  size_t outlen = 0;
  FILE *f = open_memstream(&out, &outlen);
  assert_int_equal(cli_print_objects(f, objs, "yaml", &err), 0);
  fclose(f);
  assert_null(strstr(out, b64));
  assert_null(strstr(out, key));
  assert_non_null(strstr(out, "kubeconfig: \"<redacted: "));
  assert_non_null(strstr(out, "---\napiVersion: kubefed.dev/v1alpha1\nkind: FederatedCluster\n"));
  json_object *docs = NULL;
  assert_int_equal(kf_yaml_to_json(out, outlen, &docs, &err), 0);
  assert_int_equal(json_object_array_length(docs), 2);
  assert_true(json_object_equal(json_object_array_get_idx(docs, 1), fc));
  json_object_put(docs);
  free(out);
  f = open_memstream(&out, &outlen);
  assert_int_equal(cli_print_objects(f, objs, "json", &err), 0);
  fclose(f);
  assert_null(strstr(out, b64));
  json_object *list = json_tokener_parse(out);
  assert_non_null(list);
  assert_string_equal(kc_obj_str(list, "kind"), "List");
  json_object_put(list);
  free(out);
  json_object_put(objs);
  json_object_put(m);

  /* A token file becomes the token (it wins over an inline one, as in client-go). */
  assert_int_equal(cli_kubeconfig_minify(cfg, dir, "token-file", &m, &err), 0);
  char *tok_path = fixture("pki/token");
  char *tok = slurp(tok_path, NULL);
  tok[strcspn(tok, "\r\n")] = '\0';
  assert_string_equal(kc_obj_str(json_object_array_get_idx(kc_obj_get(m, "users"), 0), "user.token"), tok);
  assert_null(kc_obj_get(json_object_array_get_idx(kc_obj_get(m, "users"), 0), "user.tokenFile"));
  free(tok);
  free(tok_path);
  json_object_put(m);
  /* A file that is not there, a context that is not there. */
  assert_int_equal(cli_kubeconfig_minify(cfg, dir, "missing-file", &m, &err), -ENOENT);
  assert_null(m);
  assert_int_equal(cli_kubeconfig_minify(cfg, dir, "nope", &m, &err), -ENOENT);
  json_object_put(cfg);

  /* -data kubeconfig: only the chosen context survives. */
  char *data = fixture("data.yaml");
  cfg = load_json(data);
  assert_int_equal(cli_kubeconfig_minify(cfg, dir, "dev", &m, &err), 0);
  assert_int_equal(json_object_array_length(kc_obj_get(m, "clusters")), 1);
  assert_string_equal(kc_obj_str(json_object_array_get_idx(kc_obj_get(m, "clusters"), 0), "name"), "dev-cluster");
  assert_string_equal(kc_obj_str(json_object_array_get_idx(kc_obj_get(m, "users"), 0), "name"), "robot");
  assert_null(strstr(json_object_to_json_string(m), "prod"));
  json_object_put(m);
  /* exec and auth-provider users are refused, as kcfg does. */
  json_object *users = kc_obj_get(cfg, "users");
  kj_set(kc_obj_get(json_object_array_get_idx(users, 1), "user"), "exec",
         json_tokener_parse("{\"command\":\"gke-gcloud-auth-plugin\"}"));
  assert_int_equal(cli_kubeconfig_minify(cfg, dir, "dev", &m, &err), -ENOTSUP);
  assert_non_null(strstr(err.msg, "exec"));
  json_object_put(cfg);
  free(data);
  free(ca);
  free(crt);
  free(key);
  free(files);
  free(dir);
}

static void test_yaml(void **state) {
  kf_error err;
  (void)state;
  const char *plain[] = {"kubefed", "example.com.", "a b", "https://x:6443", "fellowship-apiserver", "a:b", "x#y"};
  const char *quoted[] = {"",   "true", "False", "yes",  "on",   "OFF",   "y",      "null", "~",  "0644", "1e3",
                          "-x", ".5",   "12:30", "a: b", "a #c", " lead", "trail ", "[x]",  "*a", "<<",   "@x"};
  for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) assert_false(cli_yaml_needs_quotes(plain[i]));
  for (size_t i = 0; i < sizeof(quoted) / sizeof(quoted[0]); i++)
    if (!cli_yaml_needs_quotes(quoted[i])) fail_msg("\"%s\" must be quoted", quoted[i]);
  /* Everything reads back equal. */
  json_object *v = kj_obj();
  json_object *a = kj_arr();
  for (size_t i = 0; i < sizeof(quoted) / sizeof(quoted[0]); i++) kj_push_str(a, quoted[i]);
  for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) kj_push_str(a, plain[i]);
  kj_push_str(a, "line 1\nline 2\n");
  kj_push_str(a, "no final newline\n  indented");
  kj_push_str(a, "tab\there \"quoted\" \\ back");
  kj_push_str(a, "ünïcødé");
  kj_set(v, "strings", a);
  kj_set(v, "true", kj_obj());
  kj_int(v, "1", 1);
  kj_int(v, "neg", -42);
  kj_set(v, "dbl", json_object_new_double(2.0));
  kj_set(v, "dbl2", json_object_new_double(0.25));
  kj_bool(v, "t", 1);
  kj_set(v, "nothing", NULL);
  kj_set(v, "empty-list", kj_arr());
  kj_set(v, "nested", kj_set(kj_obj(), "list", kj_push(kj_arr(), kj_str(kj_obj(), "name", "x"))));
  char *y = cli_yaml_emit(v, &err);
  assert_non_null(y);
  json_object *back = NULL;
  if (kf_yaml_to_json_one(y, strlen(y), &back, &err) != 0) fail_msg("re-read: %s\n%s", err.msg, y);
  if (!json_object_equal(v, back))
    fail_msg("round trip differs:\n%s\n%s", y, json_object_to_json_string_ext(back, KC_JSON_FLAGS));
  /* kubectl's layout: sequences in mappings are not indented. */
  assert_non_null(strstr(y, "nested:\n  list:\n  - name: x\n"));
  json_object_put(back);
  json_object_put(v);
  free(y);
}

static void test_coredns_endpoints(void **state) {
  (void)state;
  const char *conf = "; comment\n[global]\n  coredns-endpoints = \"10.0.0.10:53, 10.0.0.11:53\"\n[Other]\n"
                     "coredns-endpoints = 9.9.9.9:53\n";
  json_object *l = cli_coredns_endpoints(conf, strlen(conf));
  assert_json(l, "[\"10.0.0.10:53\",\"10.0.0.11:53\"]");
  json_object_put(l);
  conf = "[Other]\ncoredns-endpoints = 9.9.9.9:53\n";
  assert_null(cli_coredns_endpoints(conf, strlen(conf)));
  conf = "[Global]\r\ncoredns-endpoints=127.0.0.1:53\r\n";
  l = cli_coredns_endpoints(conf, strlen(conf));
  assert_json(l, "[\"127.0.0.1:53\"]");
  json_object_put(l);
}

/* init's kubeconfig edit: cluster, user and context F added, nothing else touched. */
static void test_kubeconfig_add(void **state) {
  kf_error err;
  struct stat st;
  (void)state;
  char *data = fixture("data.yaml");
  json_object *cfg = load_json(data), *orig = NULL;
  json_object_deep_copy(cfg, &orig, NULL);
  char *ca = file_b64("pki/ca.crt"), *crt = file_b64("pki/client.crt"), *key = file_b64("pki/client.key");
  char *admin_text = kf_asprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: fellowship\n  cluster:\n"
                                 "    server: \"https://127.0.0.1:31443\"\n    certificate-authority-data: %s\n"
                                 "users:\n- name: fellowship\n  user:\n    client-certificate-data: %s\n"
                                 "    client-key-data: %s\ncontexts:\n- name: fellowship\n  context:\n"
                                 "    cluster: fellowship\n    user: fellowship\ncurrent-context: fellowship\n",
                                 ca, crt, key);
  json_object *admin = NULL;
  assert_int_equal(kf_yaml_to_json_one(admin_text, strlen(admin_text), &admin, &err), 0);
  assert_int_equal(cli_kubeconfig_add(cfg, "fellowship", admin, &err), 0);
  assert_string_equal(kc_obj_str(cfg, "current-context"), "prod");
  const char *lists[] = {"clusters", "users", "contexts"};
  for (int i = 0; i < 3; i++) {
    json_object *got = kc_obj_get(cfg, lists[i]), *was = kc_obj_get(orig, lists[i]);
    size_t n = json_object_array_length(was);
    assert_int_equal(json_object_array_length(got), n + 1);
    for (size_t j = 0; j < n; j++)
      assert_true(json_object_equal(json_object_array_get_idx(got, j), json_object_array_get_idx(was, j)));
    assert_string_equal(kc_obj_str(json_object_array_get_idx(got, n), "name"), "fellowship");
  }
  assert_json(json_object_array_get_idx(kc_obj_get(cfg, "contexts"), 2),
              "{\"name\":\"fellowship\",\"context\":{\"cluster\":\"fellowship\",\"user\":\"fellowship\"}}");
  char *want = kf_asprintf("{\"name\":\"fellowship\",\"cluster\":{\"server\":\"https://127.0.0.1:31443\","
                           "\"certificate-authority-data\":\"%s\"}}",
                           ca);
  assert_json(json_object_array_get_idx(kc_obj_get(cfg, "clusters"), 2), want);
  free(want);
  /* Again (a second init): replaced in place, not duplicated. */
  assert_int_equal(cli_kubeconfig_add(cfg, "fellowship", admin, &err), 0);
  assert_int_equal(json_object_array_length(kc_obj_get(cfg, "contexts")), 3);

  /* Written atomically, 0600, through a symlink to its target, and read back equal. */
  char *target = kf_asprintf("%s/real-config", tmpdir), *link = kf_asprintf("%s/config", tmpdir);
  char *dummy = tmpfile_with("real-config", "{}");
  free(dummy);
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(cli_kubeconfig_write(link, cfg, &err), 0);
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_equal(stat(target, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  json_object *back = load_json(link);
  assert_true(json_object_equal(back, cfg));
  json_object_put(back);
  char *lock = kf_asprintf("%s.lock", target);
  assert_int_not_equal(access(lock, F_OK), 0);
  /* A held lock is waited for, then reported. */
  char *held = tmpfile_with("real-config.lock", "");
  assert_int_equal(cli_kubeconfig_write(link, cfg, &err), -EEXIST);
  assert_non_null(strstr(err.msg, "lock"));
  unlink(held);
  free(held);
  free(lock);
  /* A kubeconfig that does not exist yet (and its directory) is created. */
  char *fresh = kf_asprintf("%s/new/dir/config", tmpdir);
  json_object *empty = NULL;
  assert_int_equal(cli_kubeconfig_read(fresh, 1, &empty, &err), 0);
  assert_int_equal(cli_kubeconfig_add(empty, "fellowship", admin, &err), 0);
  assert_int_equal(cli_kubeconfig_write(fresh, empty, &err), 0);
  kcfg *k = NULL;
  if (kcfg_load_file(fresh, "fellowship", &k, &err) != 0) fail_msg("load written kubeconfig: %s", err.msg);
  assert_string_equal(k->server, "https://127.0.0.1:31443");
  kcfg_free(k);
  assert_int_equal(cli_kubeconfig_read(fresh, 0, &back, &err), 0);
  assert_string_equal(kc_obj_str(back, "current-context"), "");
  json_object_put(back);
  json_object_put(empty);
  assert_int_equal(cli_kubeconfig_read("/nonexistent/kubeconfig", 0, &back, &err), -ENOENT);

  /* Which file: --kubeconfig, else the $KUBECONFIG entry defining the context, else the first. */
  char *env = kf_asprintf("%s:%s", fresh, data);
  setenv("KUBECONFIG", env, 1);
  char *p = cli_kubeconfig_read_path(NULL, "dev");
  assert_string_equal(p, data);
  free(p);
  p = cli_kubeconfig_read_path(NULL, "fellowship");
  assert_string_equal(p, fresh);
  free(p);
  p = cli_kubeconfig_read_path(NULL, "nowhere");
  assert_string_equal(p, fresh);
  free(p);
  p = cli_kubeconfig_write_path(NULL);
  assert_string_equal(p, fresh);
  free(p);
  p = cli_kubeconfig_read_path("/x/y", "dev");
  assert_string_equal(p, "/x/y");
  free(p);
  unsetenv("KUBECONFIG");
  setenv("HOME", tmpdir, 1);
  p = cli_kubeconfig_write_path(NULL);
  assert_true(strstr(p, "/.kube/config") != NULL);
  free(p);
  free(env);
  free(fresh);
  free(target);
  free(link);
  json_object_put(admin);
  json_object_put(cfg);
  json_object_put(orig);
  free(admin_text);
  free(ca);
  free(crt);
  free(key);
  free(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_documented_example),
      cmocka_unit_test(test_nodeport),
      cmocka_unit_test(test_arg_overrides),
      cmocka_unit_test(test_etcd),
      cmocka_unit_test(test_auth),
      cmocka_unit_test(test_flag_syntax),
      cmocka_unit_test(test_join_flags),
      cmocka_unit_test(test_join_minify),
      cmocka_unit_test(test_yaml),
      cmocka_unit_test(test_coredns_endpoints),
      cmocka_unit_test(test_kubeconfig_add),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
