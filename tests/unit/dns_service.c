/* dns.service: the coredns provider file, a federated Service's DNS names and records (reference
 * §5.2, §5.3, §8 items 17-18), SkyDNS keys and the set comparison that writes nothing for an
 * unchanged set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "servicedns/servicedns.h"

static int parse(const char *text, servicedns_config *c, kf_error *err) {
  kf_error_clear(err);
  return servicedns_config_parse(text, strlen(text), c, err);
}

static void test_config_v1_example(void **state) {
  (void)state;
  servicedns_config c;
  kf_error err;
  assert_int_equal(parse("[Global]\netcd-endpoints = http://etcd-cluster.ns:2379\nzones = example.com.\n", &c, &err),
                   0);
  assert_string_equal(c.etcd_endpoints[0], "http://etcd-cluster.ns:2379");
  assert_null(c.etcd_endpoints[1]);
  assert_string_equal(c.zones[0], "example.com");
  assert_null(c.zones[1]);
  assert_null(c.coredns_endpoints[0]);
  assert_null(c.etcd_cert_file);
  servicedns_config_free(&c);
  servicedns_config_free(&c); /* a freed config is zeroed: freeing again is harmless */
}

static void test_config_every_variable(void **state) {
  (void)state;
  servicedns_config c;
  kf_error err;
  const char *text = "; provider file\n"
                     "[global]  # section names are case-insensitive\n"
                     "  Etcd-Endpoints = https://a:2379 , https://b:2379\n"
                     "zones = \"Example.COM., other.org\" ; a comment\n"
                     "coredns-endpoints = 10.0.0.53:53\n"
                     "etcd-cert-file = /certs/client.crt\n"
                     "etcd-key-file = /certs/client.key\n"
                     "etcd-ca-file = /certs/ca.crt\r\n"
                     "zones = example.com.,other.org.\n"; /* the last assignment wins, as gcfg */
  assert_int_equal(parse(text, &c, &err), 0);
  assert_string_equal(c.etcd_endpoints[0], "https://a:2379");
  assert_string_equal(c.etcd_endpoints[1], "https://b:2379");
  assert_null(c.etcd_endpoints[2]);
  assert_string_equal(c.zones[0], "example.com");
  assert_string_equal(c.zones[1], "other.org");
  assert_string_equal(c.coredns_endpoints[0], "10.0.0.53:53");
  assert_string_equal(c.etcd_cert_file, "/certs/client.crt");
  assert_string_equal(c.etcd_key_file, "/certs/client.key");
  assert_string_equal(c.etcd_ca_file, "/certs/ca.crt");
  servicedns_config_free(&c);
}

static void test_config_default_endpoint(void **state) {
  (void)state;
  servicedns_config c;
  kf_error err;
  assert_int_equal(parse("[Global]\nzones = example.com.", &c, &err), 0);
  assert_string_equal(c.etcd_endpoints[0], SERVICEDNS_DEFAULT_ETCD);
  servicedns_config_free(&c);
}

static void test_config_refused(void **state) {
  (void)state;
  struct {
    const char *text, *says;
  } bad[] = {
      {"[Global]\netcd-endpoints = http://e:2379\n", "Need to provide at least one DNS Zone"},
      {"[Global]\nzones = ,\n", "Need to provide at least one DNS Zone"},
      {"[Global]\nzones = example.com.\nproject-id = x\n", "unknown variable \"project-id\""},
      {"[Other]\nzones = example.com.\n", "unknown section"},
      {"zones = example.com.\n", "before the [Global] section"},
      {"[Global\nzones = example.com.\n", "malformed section header"},
      {"[Global]\nzones example.com.\n", "line 2: expected NAME = VALUE"},
      {"[Global]\nzones = \"example.com.\n", "never ends"},
      {"[Global]\nzones = exa_mple.com.\n", "is not a DNS name"},
      {"[Global]\nzones = example.com.\netcd-endpoints = etcd:2379\n", "not an http:// or https:// URL"},
      {"[Global]\nzones = example.com.\netcd-cert-file = /c\n", "etcd-key-file is not set"},
      {"[Global]\nzones = example.com.\netcd-key-file = /k\n", "etcd-cert-file is not set"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    servicedns_config c;
    kf_error err;
    assert_int_equal(parse(bad[i].text, &c, &err), -EINVAL);
    if (!strstr(err.msg, bad[i].says)) fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, bad[i].says);
    assert_null(c.zones);
    servicedns_config_free(&c);
  }
  char *big = malloc(SERVICEDNS_MAX_CONFIG_BYTES + 2);
  memset(big, ' ', SERVICEDNS_MAX_CONFIG_BYTES + 1);
  servicedns_config c;
  kf_error err;
  assert_int_equal(servicedns_config_parse(big, SERVICEDNS_MAX_CONFIG_BYTES + 1, &c, &err), -EFBIG);
  free(big);
  /* Not NUL-terminated input is read to len only; an embedded NUL is refused. */
  assert_int_equal(servicedns_config_parse("[Global]\nzones = a.b\0x\n", 22, &c, &err), -EINVAL);
  assert_int_equal(servicedns_config_parse("[Global]\nzones = a.bXXXX", 20, &c, &err), 0);
  assert_string_equal(c.zones[0], "a.b");
  servicedns_config_free(&c);
}

/* The example of reference §5.3. */
static void test_keys_and_values(void **state) {
  (void)state;
  assert_int_equal(servicedns_fnv1a32("1.2.3.4"), 0x74445065u);
  char *k = servicedns_key("nginx.ns.fed.svc.example.com", "1.2.3.4");
  assert_string_equal(k, "/skydns/com/example/svc/fed/ns/nginx/74445065");
  char *name = NULL;
  assert_int_equal(servicedns_key_name(k, strlen(k), &name), 0);
  assert_string_equal(name, "nginx.ns.fed.svc.example.com");
  free(name);
  free(k);
  /* No zero padding: v1's %x. */
  k = servicedns_key("a.b", "");
  assert_string_equal(k, "/skydns/b/a/811c9dc5");
  free(k);
  char *d = servicedns_key_dir("nginx.ns.fed.svc.example.com");
  assert_string_equal(d, "/skydns/com/example/svc/fed/ns/nginx/");
  free(d);
  char *v = servicedns_value("nginx.ns.fed.svc.example.com", "1.2.3.4");
  assert_string_equal(v, "{\"host\":\"1.2.3.4\",\"ttl\":180,\"group\":\"nginx.ns.fed.svc.example.com\"}");
  free(v);
  const char *bad[] = {"/skydns/", "/skydns/x", "/skydns//x", "/skydns/a//h", "/other/a/h", "/skydns/a/"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(servicedns_key_name(bad[i], strlen(bad[i]), &name), -EINVAL);
    assert_null(name);
  }
}

static const servicedns_service SVC = {"nginx", "ns", "fed", "example.com."};
#define P "nginx.ns.fed.svc."

static void assert_set(const servicedns_plan *p, const char *name, servicedns_kind kind, const char *hosts) {
  const servicedns_rrset *r = servicedns_plan_find(p, name);
  if (!r) fail_msg("no record set for %s", name);
  assert_int_equal(r->kind, kind);
  char joined[512] = "";
  size_t len = 0;
  for (size_t i = 0; i < r->n_hosts; i++) {
    int w = snprintf(joined + len, sizeof(joined) - len, "%s%s", i ? " " : "", r->hosts[i]);
    assert_true(w >= 0 && (size_t)w < sizeof(joined) - len);
    len += (size_t)w;
  }
  assert_null(r->hosts[r->n_hosts]);
  assert_string_equal(joined, hosts);
}

/* Reference §8 item 17: c1 (z1, r1, ready) and c2 (z2, r2, no ready endpoint). */
static void test_plan_item_17(void **state) {
  (void)state;
  const char *z1[] = {"z1", NULL}, *z2[] = {"z2", NULL}, *a1[] = {"1.2.3.4", NULL};
  servicedns_cluster cs[] = {{"c1", "r1", z1, a1}, {"c2", "r2", z2, NULL}};
  servicedns_plan p;
  kf_error err;
  assert_int_equal(servicedns_plan_build(&SVC, cs, 2, 0, &p, &err), 0);
  assert_int_equal(p.n, 5);
  assert_set(&p, P "z1.r1.example.com", SERVICEDNS_A, "1.2.3.4");
  assert_set(&p, P "r1.example.com", SERVICEDNS_A, "1.2.3.4");
  assert_set(&p, P "example.com", SERVICEDNS_A, "1.2.3.4");
  assert_set(&p, P "z2.r2.example.com", SERVICEDNS_CNAME, P "r2.example.com");
  assert_set(&p, P "r2.example.com", SERVICEDNS_CNAME, P "example.com");
  for (size_t i = 1; i < p.n; i++) assert_true(strcmp(p.sets[i - 1].name, p.sets[i].name) < 0);
  servicedns_plan_free(&p);
}

/* Item 18: no endpoint anywhere: global goes, zone and region become CNAMEs. Deletion: all go. */
static void test_plan_item_18_and_deletion(void **state) {
  (void)state;
  const char *z1[] = {"z1", NULL}, *z2[] = {"z2", NULL};
  servicedns_cluster cs[] = {{"c1", "r1", z1, NULL}, {"c2", "r1", z2, NULL}};
  servicedns_plan p;
  kf_error err;
  assert_int_equal(servicedns_plan_build(&SVC, cs, 2, 0, &p, &err), 0);
  assert_int_equal(p.n, 4);
  assert_set(&p, P "example.com", SERVICEDNS_REMOVE, "");
  assert_set(&p, P "r1.example.com", SERVICEDNS_CNAME, P "example.com");
  assert_set(&p, P "z1.r1.example.com", SERVICEDNS_CNAME, P "r1.example.com");
  assert_set(&p, P "z2.r1.example.com", SERVICEDNS_CNAME, P "r1.example.com");
  servicedns_plan_free(&p);

  const char *a[] = {"1.2.3.4", NULL};
  cs[0].addresses = a;
  assert_int_equal(servicedns_plan_build(&SVC, cs, 2, 1, &p, &err), 0);
  assert_int_equal(p.n, 4);
  for (size_t i = 0; i < p.n; i++) {
    assert_int_equal(p.sets[i].kind, SERVICEDNS_REMOVE);
    assert_int_equal(p.sets[i].n_hosts, 0);
  }
  servicedns_plan_free(&p);
}

/* Levels group clusters: same region, shared zone; addresses sorted and unique. */
static void test_plan_grouping(void **state) {
  (void)state;
  const char *za[] = {"a", "b", NULL}, *zb[] = {"b", NULL}, *zc[] = {"c", NULL};
  const char *x[] = {"10.0.0.2", "10.0.0.1", NULL}, *y[] = {"10.0.0.3", "10.0.0.1", NULL}, *w[] = {"10.0.1.1", NULL};
  servicedns_cluster cs[] = {{"x", "east", za, x}, {"y", "east", zb, y}, {"w", "west", zc, w}};
  servicedns_plan p;
  kf_error err;
  assert_int_equal(servicedns_plan_build(&SVC, cs, 3, 0, &p, &err), 0);
  assert_set(&p, P "example.com", SERVICEDNS_A, "10.0.0.1 10.0.0.2 10.0.0.3 10.0.1.1");
  assert_set(&p, P "east.example.com", SERVICEDNS_A, "10.0.0.1 10.0.0.2 10.0.0.3");
  assert_set(&p, P "west.example.com", SERVICEDNS_A, "10.0.1.1");
  assert_set(&p, P "a.east.example.com", SERVICEDNS_A, "10.0.0.1 10.0.0.2 10.0.0.3"); /* x shares b with y */
  assert_set(&p, P "b.east.example.com", SERVICEDNS_A, "10.0.0.1 10.0.0.2 10.0.0.3");
  assert_set(&p, P "c.west.example.com", SERVICEDNS_A, "10.0.1.1");
  assert_int_equal(p.n, 6);
  servicedns_plan_free(&p);
  /* No listed cluster: nothing planned. */
  assert_int_equal(servicedns_plan_build(&SVC, NULL, 0, 0, &p, &err), 0);
  assert_int_equal(p.n, 0);
  servicedns_plan_free(&p);
}

static void test_plan_refused(void **state) {
  (void)state;
  const char *z[] = {"z1", NULL}, *bad[] = {"Z_1", NULL};
  servicedns_cluster nozones = {"c1", "r1", NULL, NULL}, noregion = {"c1", "", z, NULL},
                     badzone = {"c1", "r1", bad, NULL};
  servicedns_plan p;
  kf_error err;
  assert_int_equal(servicedns_plan_build(&SVC, &nozones, 1, 0, &p, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "failed to get cluster zone names"));
  assert_int_equal(servicedns_plan_build(&SVC, &noregion, 1, 0, &p, &err), -EINVAL);
  assert_int_equal(servicedns_plan_build(&SVC, &badzone, 1, 0, &p, &err), -EINVAL);
  servicedns_service s = SVC;
  s.name = "Nginx";
  servicedns_cluster ok = {"c1", "r1", z, NULL};
  assert_int_equal(servicedns_plan_build(&s, &ok, 1, 0, &p, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "service name \"Nginx\""));
  s = SVC;
  s.suffix = "bad..zone";
  assert_int_equal(servicedns_plan_build(&s, &ok, 1, 0, &p, &err), -EINVAL);
  assert_int_equal(p.n, 0);
}

static void test_name_is_of(void **state) {
  (void)state;
  assert_true(servicedns_name_is_of(&SVC, P "example.com"));
  assert_true(servicedns_name_is_of(&SVC, P "r1.example.com"));
  assert_true(servicedns_name_is_of(&SVC, P "z1.r1.example.com"));
  assert_false(servicedns_name_is_of(&SVC, P "a.z1.r1.example.com"));
  assert_false(servicedns_name_is_of(&SVC, "nginx2.ns.fed.svc.example.com"));
  assert_false(servicedns_name_is_of(&SVC, "x.nginx.ns.fed.svc.example.com"));
  assert_false(servicedns_name_is_of(&SVC, P "example.org"));
  assert_false(servicedns_name_is_of(&SVC, P "com"));
}

/* etcd's view of a name after writing ops (what the controller does), for the next diff. */
static size_t apply_ops(servicedns_kv *kv, size_t n, const servicedns_ops *ops) {
  for (size_t i = 0; i < ops->n_deletes; i++)
    for (size_t j = 0; j < n; j++)
      if (strcmp(kv[j].key, ops->deletes[i]) == 0) {
        free(kv[j].key);
        free(kv[j].value);
        kv[j] = kv[--n];
        break;
      }
  for (size_t i = 0; i < ops->n_puts; i++) {
    size_t j;
    for (j = 0; j < n; j++)
      if (strcmp(kv[j].key, ops->puts[i].key) == 0) break;
    if (j == n) {
      kv[n].key = strdup(ops->puts[i].key);
      kv[n++].value = NULL;
    }
    free(kv[j].value);
    kv[j].value = strdup(ops->puts[i].value);
  }
  return n;
}

static void test_diff_set_semantics(void **state) {
  (void)state;
  const char *name = P "example.com";
  char *two[] = {"1.1.1.1", "2.2.2.2", NULL};
  servicedns_rrset want = {(char *)name, SERVICEDNS_A, two, 2};
  servicedns_kv kv[8] = {{0}};
  size_t n = 0;
  /* Records of other names, below and beside ours, are never touched. */
  kv[n++] = (servicedns_kv){strdup("/skydns/com/example/svc/fed/ns/nginx/r1/x/1"), strdup("{}")};
  kv[n++] = (servicedns_kv){strdup("/skydns/com/example/svc/fed/ns/nginx2/1"), strdup("{}")};
  servicedns_ops ops;
  servicedns_diff(&want, kv, n, &ops);
  assert_int_equal(ops.n_puts, 2);
  assert_int_equal(ops.n_deletes, 0);
  n = apply_ops(kv, n, &ops);
  servicedns_ops_free(&ops);
  /* Unchanged set, held in another order: no op. */
  servicedns_kv rev[8];
  for (size_t i = 0; i < n; i++) rev[i] = kv[n - 1 - i];
  servicedns_diff(&want, rev, n, &ops);
  assert_int_equal(ops.n_puts + ops.n_deletes, 0);
  servicedns_ops_free(&ops);
  /* One address replaced: one put, one delete, the kept one untouched. */
  char *changed[] = {"1.1.1.1", "3.3.3.3", NULL};
  want.hosts = changed;
  servicedns_diff(&want, kv, n, &ops);
  assert_int_equal(ops.n_puts, 1);
  assert_string_equal(ops.puts[0].value, "{\"host\":\"3.3.3.3\",\"ttl\":180,\"group\":\"" P "example.com\"}");
  assert_int_equal(ops.n_deletes, 1);
  char *k2 = servicedns_key(name, "2.2.2.2");
  assert_string_equal(ops.deletes[0], k2);
  free(k2);
  n = apply_ops(kv, n, &ops);
  servicedns_ops_free(&ops);
  /* A value that is not ours under our key (v1's TTL-less write, say) is rewritten, not deleted. */
  char *k1 = servicedns_key(name, "1.1.1.1");
  for (size_t i = 0; i < n; i++)
    if (strcmp(kv[i].key, k1) == 0) {
      free(kv[i].value);
      kv[i].value = strdup("{\"host\":\"1.1.1.1\"}");
    }
  free(k1);
  servicedns_diff(&want, kv, n, &ops);
  assert_int_equal(ops.n_puts, 1);
  assert_int_equal(ops.n_deletes, 0);
  n = apply_ops(kv, n, &ops);
  servicedns_ops_free(&ops);
  /* Becoming a CNAME: the A keys go, the CNAME key comes. */
  char *up[] = {P "r1.example.com", NULL};
  servicedns_rrset cname = {(char *)name, SERVICEDNS_CNAME, up, 1};
  servicedns_diff(&cname, kv, n, &ops);
  assert_int_equal(ops.n_puts, 1);
  assert_int_equal(ops.n_deletes, 2);
  n = apply_ops(kv, n, &ops);
  servicedns_ops_free(&ops);
  /* Removed: every key of the name goes; the other names' stay. */
  servicedns_rrset gone = {(char *)name, SERVICEDNS_REMOVE, up, 0};
  servicedns_diff(&gone, kv, n, &ops);
  assert_int_equal(ops.n_puts, 0);
  assert_int_equal(ops.n_deletes, 1);
  n = apply_ops(kv, n, &ops);
  servicedns_ops_free(&ops);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    free(kv[i].key);
    free(kv[i].value);
  }
}

/* The annotation, v1's final form: listed with load balancer ingress; items only with a ready
 * endpoint; a member that is not Ready keeps its last entry; one that left is dropped. */
static void test_ingresses_annotation(void **state) {
  (void)state;
  json_object *lb1 = json_tokener_parse("[{\"ip\":\"1.2.3.4\"}]");
  json_object *lb2 = json_tokener_parse("[{\"hostname\":\"lb.example.org\"}]");
  json_object *none = json_tokener_parse("[]");
  servicedns_member ms[] = {
      {"rohan", 1, lb2, 0},  /* load balancer, no ready endpoint: listed, items null */
      {"gondor", 1, lb1, 1}, /* healthy */
      {"shire", 1, none, 1}, /* no load balancer yet: not listed */
      {"mordor", 1, NULL, 0},
  };
  char *a = servicedns_ingresses_build(NULL, ms, 4);
  assert_string_equal(a, "{\"items\":[{\"cluster\":\"gondor\",\"items\":[{\"ip\":\"1.2.3.4\"}]},"
                         "{\"cluster\":\"rohan\",\"items\":null}]}");
  servicedns_listed *l;
  size_t n;
  kf_error err;
  assert_int_equal(servicedns_ingresses_parse(a, &l, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_string_equal(l[0].cluster, "gondor");
  assert_string_equal(l[0].addresses[0], "1.2.3.4");
  assert_null(l[0].addresses[1]);
  assert_string_equal(l[1].cluster, "rohan");
  assert_null(l[1].addresses[0]);
  servicedns_listed_free(l, n);

  /* gondor not Ready: its last entry stands, whatever its copy says now; rohan healthy (host name). */
  ms[1].ready = 0;
  ms[1].ingress = NULL;
  ms[0].endpoints_ready = 1;
  char *b = servicedns_ingresses_build(a, ms, 4);
  assert_string_equal(b, "{\"items\":[{\"cluster\":\"gondor\",\"items\":[{\"ip\":\"1.2.3.4\"}]},"
                         "{\"cluster\":\"rohan\",\"items\":[{\"hostname\":\"lb.example.org\"}]}]}");
  assert_int_equal(servicedns_ingresses_parse(b, &l, &n, &err), 0);
  assert_string_equal(l[1].addresses[0], "lb.example.org");
  servicedns_listed_free(l, n);
  /* gondor left the federation: dropped. A not-Ready member never listed stays unlisted. */
  char *c = servicedns_ingresses_build(b, ms + 2, 2);
  assert_string_equal(c, "{\"items\":[]}");
  ms[2].ready = 0;
  char *d = servicedns_ingresses_build("not json", ms + 2, 1);
  assert_string_equal(d, "{\"items\":[]}");
  free(a);
  free(b);
  free(c);
  free(d);
  json_object_put(lb1);
  json_object_put(lb2);
  json_object_put(none);

  const char *bad[] = {"", "[]", "{\"items\":{}}", "{\"items\":[{\"items\":[]}]}", "{\"items\":[{\"cluster\":1}]}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(servicedns_ingresses_parse(bad[i], &l, &n, &err), -EINVAL);
    assert_null(l);
    assert_int_equal(n, 0);
  }
  assert_int_equal(servicedns_ingresses_parse(NULL, &l, &n, &err), -EINVAL);
}

static void test_slices_ready(void **state) {
  (void)state;
  json_object *notready = json_tokener_parse("{\"endpoints\":[{\"conditions\":{\"ready\":false}}]}");
  json_object *ready = json_tokener_parse("{\"endpoints\":[{\"conditions\":{\"ready\":false}},"
                                          "{\"conditions\":{\"ready\":true}}]}");
  json_object *unknown = json_tokener_parse("{\"endpoints\":[{\"addresses\":[\"10.244.0.5\"]}]}");
  json_object *empty = json_tokener_parse("{\"endpoints\":null}");
  json_object *one[] = {notready, empty, NULL};
  assert_false(servicedns_slices_ready(one, 3));
  assert_false(servicedns_slices_ready(NULL, 0));
  json_object *two[] = {notready, ready};
  assert_true(servicedns_slices_ready(two, 2));
  assert_true(servicedns_slices_ready(&unknown, 1)); /* nil reads as ready */
  json_object_put(notready);
  json_object_put(ready);
  json_object_put(unknown);
  json_object_put(empty);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_v1_example),
      cmocka_unit_test(test_config_every_variable),
      cmocka_unit_test(test_config_default_endpoint),
      cmocka_unit_test(test_config_refused),
      cmocka_unit_test(test_keys_and_values),
      cmocka_unit_test(test_plan_item_17),
      cmocka_unit_test(test_plan_item_18_and_deletion),
      cmocka_unit_test(test_plan_grouping),
      cmocka_unit_test(test_plan_refused),
      cmocka_unit_test(test_name_is_of),
      cmocka_unit_test(test_diff_set_semantics),
      cmocka_unit_test(test_ingresses_annotation),
      cmocka_unit_test(test_slices_ready),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
