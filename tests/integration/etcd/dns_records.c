/* dns.records: the coredns provider end to end, without Kubernetes: a federated Service's record
 * sets (reference §8 items 17-18) applied through servicedns_zone to a real etcd (`k8s etcd`) and
 * served by a real CoreDNS (`k8s coredns --zone --etcd`), checked with dig. An unchanged plan, also
 * after a restart (a fresh zone loading what etcd holds), sends no write and leaves etcd's revision
 * as it was. All of it twice: over http, and over https against `k8s etcd --tls` (the provider's
 * etcd-ca-file, etcd-cert-file, etcd-key-file; CoreDNS reading it over TLS too), where a client
 * trusting a certificate that did not sign etcd's cannot even read the zone: nothing is written.
 * Prints measured times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <kf/etcd.h>
#include <kf/http.h>

#include "servicedns/servicedns.h"

static char etcd_url[256], dns_addr[64], etcd_name[64], dns_name[64];
static char tls_dir[512]; /* the harness's NAME/tls (ca.crt, client.crt, client.key), or "" over http */
static const char *harness;

typedef struct env {
  uv_loop_t loop;
  http_engine *eng;
  etcd_client *etcd;
  servicedns_zone *zone;
} env;

typedef struct waiter {
  int done, rc;
  int64_t revision;
  size_t n_kvs;
} waiter;

static void on_zone(servicedns_zone *z, int rc, const kf_error *err, void *data) {
  (void)z;
  waiter *w = data;
  if (rc) fprintf(stderr, "zone call failed: %s\n", err ? err->msg : "?");
  w->rc = rc;
  w->done = 1;
}

static void on_etcd(etcd_client *c, const etcd_result *r, void *data) {
  (void)c;
  waiter *w = data;
  w->rc = r->rc;
  w->revision = r->revision;
  w->n_kvs = r->n_kvs;
  w->done = 1;
}

static void wait_for(env *e, waiter *w) {
  uint64_t t0 = uv_now(&e->loop);
  while (!w->done) {
    uv_run(&e->loop, UV_RUN_ONCE);
    uv_update_time(&e->loop);
    if (uv_now(&e->loop) - t0 > 30000) fail_msg("no answer within 30 s");
  }
}

/* etcd's revision and how many keys /skydns/ holds, read directly. */
static void etcd_state(env *e, int64_t *revision, size_t *keys) {
  waiter w = {0};
  kf_error err;
  assert_int_equal(etcd_range(e->etcd, "/skydns/", 1, 1, on_etcd, &w, &err), 0);
  wait_for(e, &w);
  assert_int_equal(w.rc, 0);
  *revision = w.revision;
  *keys = w.n_kvs;
}

typedef struct values {
  int done, rc;
  size_t n;
  char first[512];
} values;

static void on_values(etcd_client *c, const etcd_result *r, void *data) {
  (void)c;
  values *v = data;
  v->rc = r->rc;
  v->n = r->n_kvs;
  if (r->n_kvs) snprintf(v->first, sizeof(v->first), "%s", r->kvs[0].value);
  v->done = 1;
}

/* etcd holds exactly one record for name: host, as the provider writes it (TTL 180). */
static void held(env *e, const char *name, const char *host) {
  char *dir = servicedns_key_dir(name), *want = servicedns_value(name, host);
  values v = {0};
  kf_error err;
  assert_int_equal(etcd_range(e->etcd, dir, 1, 0, on_values, &v, &err), 0);
  uint64_t t0 = uv_now(&e->loop);
  while (!v.done) {
    uv_run(&e->loop, UV_RUN_ONCE);
    uv_update_time(&e->loop);
    if (uv_now(&e->loop) - t0 > 30000) fail_msg("no answer within 30 s");
  }
  assert_int_equal(v.rc, 0);
  assert_int_equal(v.n, 1);
  assert_string_equal(v.first, want);
  free(dir);
  free(want);
}

static void new_zone(env *e) {
  e->zone = servicedns_zone_new(e->etcd, "example.com.");
  waiter w = {0};
  kf_error err;
  assert_int_equal(servicedns_zone_load(e->zone, on_zone, &w, &err), 0);
  wait_for(e, &w);
  assert_int_equal(w.rc, 0);
}

static const servicedns_service SVC = {"nginx", "default", "fellowship", "example.com."};
#define P "nginx.default.fellowship.svc."

/* A neighbour whose names sort right after nginx's: nginx's changes must leave them alone. */
static const servicedns_service NEIGHBOUR = {"nginx-2", "default", "fellowship", "example.com."};
#define P2 "nginx-2.default.fellowship.svc."

/* Applies the plan of svc for clusters; returns 1 when nothing had to be written. */
static int apply_of(env *e, const servicedns_service *svc, servicedns_cluster *cs, size_t n, int deleted) {
  servicedns_plan plan;
  kf_error err;
  assert_int_equal(servicedns_plan_build(svc, cs, n, deleted, &plan, &err), 0);
  waiter w = {0};
  uint64_t t0 = uv_hrtime();
  int rc = servicedns_zone_apply(e->zone, svc, &plan, on_zone, &w, &err);
  servicedns_plan_free(&plan);
  assert_true(rc == 0 || rc == 1);
  if (rc == 0) {
    wait_for(e, &w);
    assert_int_equal(w.rc, 0);
  }
  printf("  apply (%s): %.1f ms\n", rc == 1 ? "no write" : "written", (double)(uv_hrtime() - t0) / 1e6);
  return rc;
}
static int apply(env *e, servicedns_cluster *cs, size_t n, int deleted) { return apply_of(e, &SVC, cs, n, deleted); }

/* dig's short answer for name and type, lines joined by spaces. */
static char *dig(const char *name, const char *type) {
  char cmd[512];
  const char *colon = strrchr(dns_addr, ':');
  snprintf(cmd, sizeof(cmd), "dig +short +time=2 +tries=3 @127.0.0.1 -p %s %s %s", colon + 1, name, type);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  static char out[1024];
  size_t used = 0;
  char line[256];
  out[0] = '\0';
  while (fgets(line, sizeof(line), p)) {
    line[strcspn(line, "\n")] = '\0';
    int w = snprintf(out + used, sizeof(out) - used, "%s%s", used ? " " : "", line);
    if (w > 0 && (size_t)w < sizeof(out) - used) used += (size_t)w;
  }
  assert_int_equal(pclose(p), 0);
  return out;
}

static int nxdomain(const char *name) {
  char cmd[512];
  const char *colon = strrchr(dns_addr, ':');
  snprintf(cmd, sizeof(cmd), "dig +time=2 +tries=3 @127.0.0.1 -p %s %s A | grep -q 'status: NXDOMAIN'", colon + 1,
           name);
  return system(cmd) == 0;
}

static char *slurp(const char *file, size_t *len) {
  char path[768];
  snprintf(path, sizeof(path), "%s/%s", tls_dir, file);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot read %s", path);
  char *buf = calloc(1, 65536);
  *len = fread(buf, 1, 65535, f);
  fclose(f);
  return buf;
}

/* A client of the etcd; over https trusting ca_file (in tls_dir) with the client certificate. */
static etcd_client *client(env *e, const char *ca_file) {
  size_t ca_len = 0, cert_len = 0, key_len = 0;
  char *ca = *tls_dir ? slurp(ca_file, &ca_len) : NULL;
  char *cert = *tls_dir ? slurp("client.crt", &cert_len) : NULL, *key = *tls_dir ? slurp("client.key", &key_len) : NULL;
  const char *eps[] = {etcd_url, NULL};
  etcd_client_opts o = {.endpoints = eps,
                        .ca_pem = ca,
                        .ca_pem_len = ca_len,
                        .cert_pem = cert,
                        .cert_pem_len = cert_len,
                        .key_pem = key,
                        .key_pem_len = key_len};
  etcd_client *c = NULL;
  kf_error err = {0};
  assert_int_equal(etcd_client_new(e->eng, &o, &c, &err), 0);
  free(ca);
  free(cert);
  free(key);
  return c;
}

static int setup(void **state) {
  env *e = calloc(1, sizeof(*e));
  kf_error err = {0};
  assert_int_equal(uv_loop_init(&e->loop), 0);
  e->eng = http_engine_new(&e->loop, &err);
  e->etcd = client(e, "ca.crt");
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  servicedns_zone_free(e->zone);
  etcd_client_close(e->etcd);
  http_engine_close(e->eng);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&e->loop), 0);
  free(e);
  return 0;
}

static void test_records_follow_the_plan(void **state) {
  env *e = *state;
  new_zone(e);
  assert_int_equal(servicedns_zone_keys(e->zone), 0);
  const char *z1[] = {"z1", NULL}, *z2[] = {"z2", NULL}, *a1[] = {"1.2.3.4", NULL}, *a2[] = {"5.6.7.8", NULL};
  servicedns_cluster cs[] = {{"gondor", "r1", z1, a1}, {"rohan", "r2", z2, NULL}};

  printf("item 17: gondor healthy (z1/r1), rohan listed without a ready endpoint (z2/r2)\n");
  assert_int_equal(apply(e, cs, 2, 0), 0);
  assert_string_equal(dig(P "example.com", "A"), "1.2.3.4");
  assert_string_equal(dig(P "r1.example.com", "A"), "1.2.3.4");
  assert_string_equal(dig(P "z1.r1.example.com", "A"), "1.2.3.4");
  /* CoreDNS answers an A query of a CNAME with the chain, which ends at the global name's address
   * (its etcd plugin does not answer CNAME queries: the keys are checked below). */
  assert_string_equal(dig(P "r2.example.com", "A"), P "example.com. 1.2.3.4");
  assert_string_equal(dig(P "z2.r2.example.com", "A"), P "r2.example.com. " P "example.com. 1.2.3.4");
  held(e, P "z2.r2.example.com", P "r2.example.com");
  held(e, P "r2.example.com", P "example.com");

  int64_t rev, rev2;
  size_t keys, keys2;
  etcd_state(e, &rev, &keys);
  assert_int_equal(keys, 5);
  printf("unchanged plan: no write\n");
  assert_int_equal(apply(e, cs, 2, 0), 1);
  etcd_state(e, &rev2, &keys2);
  assert_int_equal(rev2, rev);

  printf("restart: a new zone loads what etcd holds, the same plan writes nothing\n");
  uint64_t writes = servicedns_zone_writes(e->zone);
  servicedns_zone_free(e->zone);
  new_zone(e);
  assert_int_equal(servicedns_zone_keys(e->zone), keys);
  assert_int_equal(apply(e, cs, 2, 0), 1);
  assert_int_equal(servicedns_zone_writes(e->zone), 0);
  etcd_state(e, &rev2, &keys2);
  assert_int_equal(rev2, rev);
  printf("  writes before the restart: %llu\n", (unsigned long long)writes);

  printf("rohan's endpoints ready: its names hold its address, global both\n");
  cs[1].addresses = a2;
  assert_int_equal(apply(e, cs, 2, 0), 0);
  assert_string_equal(dig(P "example.com", "A"), "1.2.3.4 5.6.7.8");
  assert_string_equal(dig(P "r2.example.com", "A"), "5.6.7.8");
  assert_string_equal(dig(P "z2.r2.example.com", "A"), "5.6.7.8");
  assert_string_equal(dig(P "z1.r1.example.com", "A"), "1.2.3.4");
  /* The global set changed by one address: one put, nothing else rewritten. */
  etcd_state(e, &rev2, &keys2);
  assert_int_equal(rev2, rev + 1); /* one transaction */

  printf("item 18: no endpoint anywhere: global gone, zone and region CNAMEs\n");
  cs[0].addresses = NULL;
  cs[1].addresses = NULL;
  assert_int_equal(apply(e, cs, 2, 0), 0);
  assert_true(nxdomain(P "example.com"));
  /* The CNAMEs exist (no NXDOMAIN) and lead nowhere: CoreDNS answers no data. */
  assert_false(nxdomain(P "r1.example.com"));
  assert_string_equal(dig(P "r1.example.com", "A"), "");
  assert_string_equal(dig(P "z1.r1.example.com", "A"), "");
  held(e, P "z1.r1.example.com", P "r1.example.com");
  held(e, P "r1.example.com", P "example.com");
  held(e, P "r2.example.com", P "example.com");

  printf("a neighbour Service nginx-2 in gondor (its names sort among nginx's)\n");
  assert_int_equal(apply_of(e, &NEIGHBOUR, cs, 1, 0), 0);
  assert_string_equal(dig(P2 "z1.r1.example.com", "A"), "");

  printf("rohan leaves: its names go\n");
  cs[0].addresses = a1;
  assert_int_equal(apply(e, cs, 1, 0), 0);
  assert_true(nxdomain(P "z2.r2.example.com"));
  assert_true(nxdomain(P "r2.example.com"));
  assert_string_equal(dig(P "example.com", "A"), "1.2.3.4");
  held(e, P2 "z1.r1.example.com", P2 "r1.example.com");

  printf("the Service is deleted: NXDOMAIN for all its names, no key left\n");
  assert_int_equal(apply(e, cs, 1, 1), 0);
  assert_true(nxdomain(P "example.com"));
  assert_true(nxdomain(P "r1.example.com"));
  assert_true(nxdomain(P "z1.r1.example.com"));
  printf("  the neighbour's names are kept\n");
  held(e, P2 "z1.r1.example.com", P2 "r1.example.com");
  held(e, P2 "r1.example.com", P2 "example.com");
  etcd_state(e, &rev2, &keys2);
  assert_int_equal(keys2, 2);
  assert_int_equal(servicedns_zone_keys(e->zone), 2);
  /* Nothing listed and nothing held: nothing to do. */
  assert_int_equal(apply(e, NULL, 0, 1), 1);
  printf("the neighbour is deleted: no key left\n");
  assert_int_equal(apply_of(e, &NEIGHBOUR, cs, 1, 1), 0);
  etcd_state(e, &rev2, &keys2);
  assert_int_equal(keys2, 0);
  assert_int_equal(servicedns_zone_keys(e->zone), 0);
}

static void test_many_records_in_chunks(void **state) {
  env *e = *state;
  new_zone(e);
  /* 150 addresses in one set: two transactions of at most SERVICEDNS_TXN_OPS ops. */
  static char addrs[150][16];
  const char *list[151];
  for (int i = 0; i < 150; i++) {
    snprintf(addrs[i], sizeof(addrs[i]), "10.0.%d.%d", i / 100, i % 100 + 1);
    list[i] = addrs[i];
  }
  list[150] = NULL;
  const char *z1[] = {"z1", NULL};
  servicedns_cluster c = {"gondor", "r1", z1, list};
  uint64_t w0 = servicedns_zone_writes(e->zone);
  assert_int_equal(apply(e, &c, 1, 0), 0);
  assert_true(servicedns_zone_writes(e->zone) - w0 >= 5); /* 450 puts */
  int64_t rev;
  size_t keys;
  etcd_state(e, &rev, &keys);
  assert_int_equal(keys, 450);
  assert_int_equal(apply(e, &c, 1, 0), 1);
  assert_int_equal(apply(e, &c, 1, 1), 0);
  etcd_state(e, &rev, &keys);
  assert_int_equal(keys, 0);
}

/* A burst of Services at once (a controller's workers after a restart or a member's burst of
 * events): every record lands, in a few transactions that each carry many Services' changes. */
enum { BURST = 60 };
typedef struct burst {
  char name[BURST][16], addr[BURST][16];
  const char *addrs[BURST][2];
  servicedns_service svc[BURST];
  waiter w[BURST];
} burst;

static int apply_burst(env *e, burst *b, int deleted) {
  const char *z1[] = {"z1", NULL};
  int written = 0;
  for (int i = 0; i < BURST; i++) {
    servicedns_cluster c = {"gondor", "r1", z1, b->addrs[i]};
    servicedns_plan plan;
    kf_error err;
    assert_int_equal(servicedns_plan_build(&b->svc[i], &c, 1, deleted, &plan, &err), 0);
    b->w[i] = (waiter){0};
    int rc = servicedns_zone_apply(e->zone, &b->svc[i], &plan, on_zone, &b->w[i], &err);
    servicedns_plan_free(&plan);
    assert_true(rc == 0 || rc == 1);
    if (rc == 1) b->w[i].done = 1;
    written += rc == 0;
  }
  for (int i = 0; i < BURST; i++) {
    wait_for(e, &b->w[i]);
    assert_int_equal(b->w[i].rc, 0);
  }
  return written;
}

static void test_burst_in_few_transactions(void **state) {
  env *e = *state;
  new_zone(e);
  burst *b = calloc(1, sizeof(*b));
  for (int i = 0; i < BURST; i++) {
    snprintf(b->name[i], sizeof(b->name[i]), "web-%02d", i);
    snprintf(b->addr[i], sizeof(b->addr[i]), "10.1.0.%d", i + 1);
    b->addrs[i][0] = b->addr[i];
    b->svc[i] = (servicedns_service){b->name[i], "default", "fellowship", "example.com."};
  }
  int64_t rev0, rev;
  size_t keys;
  etcd_state(e, &rev0, &keys);
  uint64_t w0 = servicedns_zone_writes(e->zone);
  printf("%d Services applied at once, 3 records each\n", BURST);
  assert_int_equal(apply_burst(e, b, 0), BURST);
  uint64_t txns = servicedns_zone_writes(e->zone) - w0;
  etcd_state(e, &rev, &keys);
  printf("  %llu transactions (etcd revisions %lld)\n", (unsigned long long)txns, (long long)(rev - rev0));
  assert_int_equal(keys, 3 * BURST);
  assert_int_equal(rev - rev0, (int64_t)txns);
  assert_true(txns * 10 <= BURST); /* many Services per transaction, not one each */
  assert_string_equal(dig("web-00.default.fellowship.svc.z1.r1.example.com", "A"), "10.1.0.1");
  assert_string_equal(dig("web-59.default.fellowship.svc.example.com", "A"), "10.1.0.60");
  printf("the same burst again: nothing to write\n");
  assert_int_equal(apply_burst(e, b, 0), 0);
  printf("every one deleted at once: no key left\n");
  assert_int_equal(apply_burst(e, b, 1), BURST);
  etcd_state(e, &rev, &keys);
  assert_int_equal(keys, 0);
  assert_int_equal(servicedns_zone_keys(e->zone), 0);
  free(b);
}

/* An etcd that is not there: every queued apply of a burst ends with the error (none hangs),
 * and the mirror holds nothing that was not written. */
static void test_burst_to_no_etcd(void **state) {
  env *e = *state;
  const char *eps[] = {"http://127.0.0.1:1", NULL};
  etcd_client_opts o = {.endpoints = eps, .timeout_ms = 2000};
  etcd_client *dead = NULL;
  kf_error err = {0};
  assert_int_equal(etcd_client_new(e->eng, &o, &dead, &err), 0);
  servicedns_zone *z = servicedns_zone_new(dead, "example.com.");
  const char *z1[] = {"z1", NULL}, *a[] = {"10.2.0.1", NULL};
  servicedns_cluster c = {"gondor", "r1", z1, a};
  char names[8][16];
  servicedns_service svc[8];
  waiter w[8] = {0};
  for (int i = 0; i < 8; i++) {
    snprintf(names[i], sizeof(names[i]), "api-%d", i);
    svc[i] = (servicedns_service){names[i], "default", "fellowship", "example.com."};
    servicedns_plan plan;
    assert_int_equal(servicedns_plan_build(&svc[i], &c, 1, 0, &plan, &err), 0);
    assert_int_equal(servicedns_zone_apply(z, &svc[i], &plan, on_zone, &w[i], &err), 0);
    servicedns_plan_free(&plan);
  }
  for (int i = 0; i < 8; i++) {
    wait_for(e, &w[i]);
    assert_true(w[i].rc < 0);
  }
  printf("8 applies to an etcd that is not there: each ended with an error\n");
  assert_int_equal(servicedns_zone_keys(z), 0);
  servicedns_zone_free(z);
  etcd_client_close(dead);
}

/* Over https, a zone whose client trusts the wrong certificate (the client certificate, which
 * signed nothing) cannot read etcd: the load fails saying why, and nothing is written. */
static void test_wrong_ca_refused(void **state) {
  env *e = *state;
  etcd_client *bad = client(e, "client.crt");
  servicedns_zone *z = servicedns_zone_new(bad, "example.com.");
  waiter w = {0};
  kf_error err;
  int64_t rev0, rev1;
  size_t keys;
  etcd_state(e, &rev0, &keys);
  assert_int_equal(servicedns_zone_load(z, on_zone, &w, &err), 0); /* on_zone prints the reason */
  wait_for(e, &w);
  assert_int_not_equal(w.rc, 0);
  etcd_state(e, &rev1, &keys);
  assert_true(rev1 == rev0);
  etcd_client_close(bad);
  uv_run(&e->loop, UV_RUN_NOWAIT);
  servicedns_zone_free(z);
}

static int run(const char *args, char *out, size_t size) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "'%s' %s", harness, args);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  if (!fgets(out, (int)size, p)) out[0] = '\0';
  out[strcspn(out, "\n")] = '\0';
  return pclose(p);
}

int main(void) {
  harness = getenv("HARNESS");
  if (!harness) {
    fprintf(stderr, "HARNESS is not set\n");
    return 1;
  }
  const char *root = getenv("KUBEFED_TEST_RUN");
  int rc = 0;
  for (int tls = 0; tls < 2; tls++) {
    snprintf(etcd_name, sizeof(etcd_name), "dns-rec-etcd%s-%d", tls ? "-tls" : "", (int)getpid());
    snprintf(dns_name, sizeof(dns_name), "dns-rec-coredns%s-%d", tls ? "-tls" : "", (int)getpid());
    tls_dir[0] = '\0';
    if (tls)
      snprintf(tls_dir, sizeof(tls_dir), "%s/%s/tls", root && *root ? root : "/tmp/kubefed-operator-clusters",
               etcd_name);
    char args[512];
    uint64_t t0 = uv_hrtime();
    snprintf(args, sizeof(args), "etcd %s%s", etcd_name, tls ? " --tls" : "");
    int up = run(args, etcd_url, sizeof(etcd_url)) == 0;
    snprintf(args, sizeof(args), "coredns %s --zone example.com. --etcd %s", dns_name, etcd_url);
    up = up && run(args, dns_addr, sizeof(dns_addr)) == 0;
    printf("etcd %s and CoreDNS %s up in %.1f s\n", etcd_url, dns_addr, (double)(uv_hrtime() - t0) / 1e9);
    if (up) {
      const struct CMUnitTest tests[] = {
          cmocka_unit_test_setup_teardown(test_records_follow_the_plan, setup, teardown),
          cmocka_unit_test_setup_teardown(test_many_records_in_chunks, setup, teardown),
          cmocka_unit_test_setup_teardown(test_burst_in_few_transactions, setup, teardown),
          cmocka_unit_test_setup_teardown(test_burst_to_no_etcd, setup, teardown),
      };
      const struct CMUnitTest tls_tests[] = {
          cmocka_unit_test_setup_teardown(test_records_follow_the_plan, setup, teardown),
          cmocka_unit_test_setup_teardown(test_many_records_in_chunks, setup, teardown),
          cmocka_unit_test_setup_teardown(test_wrong_ca_refused, setup, teardown),
      };
      if ((tls ? cmocka_run_group_tests_name("https", tls_tests, NULL, NULL)
               : cmocka_run_group_tests_name("http", tests, NULL, NULL)) != 0)
        rc = 1;
    } else {
      rc = 1;
    }
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' down %s >&2; '%s' down %s >&2", harness, dns_name, harness, etcd_name);
    if (system(cmd) != 0) rc = 1;
  }
  return rc;
}
