/* dns.etcd: the etcd v3 JSON client (kf/etcd.h) against a real etcd from `k8s etcd`: put, range
 * (a key, a prefix, keys only), a transaction in one revision, prefix delete, an error answer from
 * etcd, failover past a dead endpoint, and closing with a call in flight. And over https against
 * `k8s etcd --tls` (the coredns provider's etcd-ca-file, etcd-cert-file, etcd-key-file): a record
 * written with the right CA; with a CA that did not sign etcd's certificate, or none (the system's
 * roots), the write fails with a message saying why and nothing is written: https:// is never used
 * unverified. Prints measured times. */
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

static char etcd_url[256];
static char etcd_name[64];
static char tls_url[256];
static char tls_name[64];
static char tls_dir[512];   /* the harness's NAME/tls: ca.crt, client.crt, client.key */
static char wrong_dir[256]; /* a CA of our own, which signed nothing etcd has */

typedef struct done {
  int n;
  int rc;
  char msg[512];
  int64_t revision, deleted;
  size_t n_kvs;
  char keys[16][128];
  char values[16][256];
  size_t value_len[16];
} done;

static void on_done(etcd_client *c, const etcd_result *r, void *data) {
  (void)c;
  done *d = data;
  d->n++;
  d->rc = r->rc;
  snprintf(d->msg, sizeof(d->msg), "%s", r->rc ? r->error.msg : "");
  d->revision = r->revision;
  d->deleted = r->deleted;
  d->n_kvs = r->n_kvs;
  for (size_t i = 0; i < r->n_kvs && i < 16; i++) {
    snprintf(d->keys[i], sizeof(d->keys[i]), "%s", r->kvs[i].key);
    memcpy(d->values[i], r->kvs[i].value, r->kvs[i].value_len < 255 ? r->kvs[i].value_len : 255);
    d->value_len[i] = r->kvs[i].value_len;
  }
}

typedef struct env {
  uv_loop_t loop;
  http_engine *eng;
  etcd_client *c;
} env;

static void wait_done(env *e, done *d, int want) {
  uint64_t t0 = uv_now(&e->loop);
  while (d->n < want) {
    uv_run(&e->loop, UV_RUN_ONCE);
    uv_update_time(&e->loop);
    if (uv_now(&e->loop) - t0 > 30000) fail_msg("no etcd answer within 30 s");
  }
}

static int setup(void **state) {
  env *e = calloc(1, sizeof(*e));
  kf_error err = {0};
  assert_int_equal(uv_loop_init(&e->loop), 0);
  e->eng = http_engine_new(&e->loop, &err);
  assert_non_null(e->eng);
  /* A dead endpoint first: every call fails over to the live one. */
  const char *eps[] = {"http://127.0.0.1:1", etcd_url, NULL};
  etcd_client_opts o = {.endpoints = eps, .timeout_ms = 5000};
  assert_int_equal(etcd_client_new(e->eng, &o, &e->c, &err), 0);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  etcd_client_close(e->c);
  http_engine_close(e->eng);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&e->loop), 0);
  free(e);
  return 0;
}

static void test_put_range_txn_delete(void **state) {
  env *e = *state;
  kf_error err = {0};
  done d = {0};
  uint64_t t0 = uv_hrtime();
  assert_int_equal(etcd_put(e->c, "/skydns/com/example/a/1", "{\"host\":\"1.2.3.4\"}", 18, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, 0);
  int64_t r1 = d.revision;
  assert_true(r1 > 0);
  printf("put through a dead endpoint then the live one: %.1f ms\n", (double)(uv_hrtime() - t0) / 1e6);

  /* A value with a NUL byte survives base64 both ways. */
  memset(&d, 0, sizeof(d));
  assert_int_equal(etcd_put(e->c, "/skydns/com/example/b/1", "x\0y", 3, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, 0);

  memset(&d, 0, sizeof(d));
  assert_int_equal(etcd_range(e->c, "/skydns/com/example/", 1, 0, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, 0);
  assert_int_equal(d.n_kvs, 2);
  assert_string_equal(d.keys[0], "/skydns/com/example/a/1");
  assert_string_equal(d.values[0], "{\"host\":\"1.2.3.4\"}");
  assert_string_equal(d.keys[1], "/skydns/com/example/b/1");
  assert_int_equal(d.value_len[1], 3);
  assert_memory_equal(d.values[1], "x\0y", 3);

  /* One key, not a prefix: "/skydns/com/example/a" itself does not exist. */
  memset(&d, 0, sizeof(d));
  assert_int_equal(etcd_range(e->c, "/skydns/com/example/a", 0, 0, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, 0);
  assert_int_equal(d.n_kvs, 0);

  /* A transaction: two puts and a delete in one revision. */
  int64_t before = d.revision;
  etcd_op ops[] = {{0, "/skydns/com/example/a/2", "two", 3},
                   {0, "/skydns/com/example/a/3", "three", 5},
                   {1, "/skydns/com/example/a/1", NULL, 0}};
  memset(&d, 0, sizeof(d));
  t0 = uv_hrtime();
  assert_int_equal(etcd_txn(e->c, ops, 3, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, 0);
  assert_int_equal(d.revision, before + 1);
  printf("txn of 3 ops: %.1f ms, revision %lld -> %lld\n", (double)(uv_hrtime() - t0) / 1e6, (long long)before,
         (long long)d.revision);

  memset(&d, 0, sizeof(d));
  assert_int_equal(etcd_range(e->c, "/skydns/com/example/a/", 1, 1, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.n_kvs, 2);
  assert_string_equal(d.keys[0], "/skydns/com/example/a/2");
  assert_string_equal(d.keys[1], "/skydns/com/example/a/3");
  assert_int_equal(d.value_len[0], 0); /* keys only */

  memset(&d, 0, sizeof(d));
  assert_int_equal(etcd_delete(e->c, "/skydns/com/example/", 1, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, 0);
  assert_int_equal(d.deleted, 3);

  /* The whole keyspace ("" prefix) is empty again. */
  memset(&d, 0, sizeof(d));
  assert_int_equal(etcd_range(e->c, "", 1, 1, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, 0);
  assert_int_equal(d.n_kvs, 0);
  assert_int_equal(etcd_delete(e->c, "", 1, on_done, &d, &err), -EINVAL);
  assert_int_equal(etcd_txn(e->c, ops, 0, on_done, &d, &err), -EINVAL);
}

static void test_error_answer(void **state) {
  env *e = *state;
  kf_error err = {0};
  done d = {0};
  /* etcd refuses an empty key: its message comes back, naming the endpoint. */
  assert_int_equal(etcd_put(e->c, "", "v", 1, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, -EIO);
  if (!strstr(d.msg, "key is not provided") || !strstr(d.msg, etcd_url)) fail_msg("unexpected message: %s", d.msg);
  printf("etcd's error: %s\n", d.msg);
}

static void plain_done(http_request *req, const http_response *res, void *data) {
  (void)req;
  (void)res;
  (void)data;
  fail_msg("a refused request has no callback");
}

static void test_no_endpoint_answers(void **state) {
  env *e = *state;
  kf_error err = {0};
  const char *dead[] = {"http://127.0.0.1:1", "http://127.0.0.1:2", NULL};
  etcd_client *c = NULL;
  etcd_client_opts o = {.endpoints = dead, .timeout_ms = 2000};
  assert_int_equal(etcd_client_new(e->eng, &o, &c, &err), 0);
  done d = {0};
  assert_int_equal(etcd_range(c, "/x", 0, 0, on_done, &d, &err), 0);
  assert_int_equal(d.n, 0); /* never from within the call */
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, -EHOSTUNREACH);
  assert_non_null(strstr(d.msg, "127.0.0.1:2"));
  assert_int_equal(etcd_client_requests(c), 2);
  etcd_client_close(c);

  /* The runtime sends http:// only for a request that opts in (the etcd client does). */
  http_request_opts plain = {.method = "GET", .url = etcd_url, .on_done = NULL};
  plain.on_done = plain_done;
  assert_int_equal(http_request_start(e->eng, &plain, NULL, &err), -EPROTONOSUPPORT);

  const char *bad[] = {"etcd:2379", NULL};
  o.endpoints = bad;
  assert_int_equal(etcd_client_new(e->eng, &o, &c, &err), -EINVAL);
  const char *none[] = {NULL};
  o.endpoints = none;
  assert_int_equal(etcd_client_new(e->eng, &o, &c, &err), -EINVAL);
}

static void test_close_in_flight(void **state) {
  env *e = *state;
  kf_error err = {0};
  const char *eps[] = {etcd_url, NULL};
  etcd_client *c = NULL;
  etcd_client_opts o = {.endpoints = eps};
  assert_int_equal(etcd_client_new(e->eng, &o, &c, &err), 0);
  done d = {0};
  assert_int_equal(etcd_range(c, "/", 1, 0, on_done, &d, &err), 0);
  etcd_client_close(c);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, -ECANCELED);
}

/* ---- https ---- */

static char *slurp(const char *dir, const char *file, size_t *len) {
  char path[768];
  snprintf(path, sizeof(path), "%s/%s", dir, file);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot read %s", path);
  char *buf = calloc(1, 65536);
  *len = fread(buf, 1, 65535, f);
  fclose(f);
  return buf;
}

/* A client of the TLS etcd trusting ca_dir's ca.crt (NULL: no CA given), with the client cert. */
static etcd_client *tls_client(env *e, const char *ca_dir) {
  size_t ca_len = 0, cert_len = 0, key_len = 0;
  char *ca = ca_dir ? slurp(ca_dir, "ca.crt", &ca_len) : NULL;
  char *cert = slurp(tls_dir, "client.crt", &cert_len), *key = slurp(tls_dir, "client.key", &key_len);
  const char *eps[] = {tls_url, NULL};
  etcd_client_opts o = {.endpoints = eps,
                        .timeout_ms = 5000,
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

static void test_tls_verified(void **state) {
  env *e = *state;
  kf_error err = {0};
  etcd_client *c = tls_client(e, tls_dir);
  done d = {0};
  uint64_t t0 = uv_hrtime();
  assert_int_equal(etcd_put(c, "/skydns/com/example/tls/1", "{\"host\":\"127.0.0.1\"}", 20, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  if (d.rc != 0) fail_msg("put over verified https: %s", d.msg);
  printf("put over https, etcd's certificate verified against its CA: %.1f ms\n", (double)(uv_hrtime() - t0) / 1e6);
  memset(&d, 0, sizeof(d));
  assert_int_equal(etcd_range(c, "/skydns/com/example/tls/", 1, 0, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, 0);
  assert_int_equal(d.n_kvs, 1);
  assert_string_equal(d.values[0], "{\"host\":\"127.0.0.1\"}");
  memset(&d, 0, sizeof(d));
  assert_int_equal(etcd_delete(c, "/skydns/com/example/tls/", 1, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, 0);
  etcd_client_close(c);
}

/* A put through a client that must not verify etcd: refused with a message naming why; nothing
 * written (read back through a verifying client). */
static void expect_unverified(env *e, const char *ca_dir, const char *what) {
  kf_error err = {0};
  etcd_client *c = tls_client(e, ca_dir);
  done d = {0};
  assert_int_equal(etcd_put(c, "/skydns/com/example/tls/2", "{\"host\":\"127.0.0.2\"}", 20, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_not_equal(d.rc, 0);
  if (!strstr(d.msg, "certificate") || !strstr(d.msg, tls_url)) fail_msg("%s: unclear message: %s", what, d.msg);
  printf("%s: %s\n", what, d.msg);
  etcd_client_close(c);
  c = tls_client(e, tls_dir);
  memset(&d, 0, sizeof(d));
  assert_int_equal(etcd_range(c, "/skydns/com/example/tls/2", 0, 0, on_done, &d, &err), 0);
  wait_done(e, &d, 1);
  assert_int_equal(d.rc, 0);
  assert_int_equal(d.n_kvs, 0);
  etcd_client_close(c);
}

static void test_tls_wrong_ca(void **state) { expect_unverified(*state, wrong_dir, "another CA"); }

static void test_tls_no_ca(void **state) { expect_unverified(*state, NULL, "no CA (the system's roots)"); }

/* `HARNESS etcd NAME ARGS`: its one line into url. */
static int start_etcd(const char *harness, const char *name, const char *args, char *url, size_t len) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "'%s' etcd %s %s", harness, name, args);
  uint64_t t0 = uv_hrtime();
  FILE *p = popen(cmd, "r");
  if (!p || !fgets(url, (int)len, p)) {
    fprintf(stderr, "'%s' printed nothing\n", cmd);
    if (p) pclose(p);
    return 1;
  }
  int prc = pclose(p);
  url[strcspn(url, "\n")] = '\0';
  if (prc != 0 || strncmp(url, *args ? "https://127.0.0.1:" : "http://127.0.0.1:", *args ? 18 : 17) != 0) {
    fprintf(stderr, "'%s' failed (%d, '%s')\n", cmd, prc, url);
    return 1;
  }
  printf("k8s etcd %s %s: %s (%.1f s)\n", name, args, url, (double)(uv_hrtime() - t0) / 1e9);
  return 0;
}

int main(void) {
  const char *harness = getenv("HARNESS");
  if (!harness) {
    fprintf(stderr, "HARNESS is not set\n");
    return 1;
  }
  snprintf(etcd_name, sizeof(etcd_name), "dns-etcd-%d", (int)getpid());
  snprintf(tls_name, sizeof(tls_name), "dns-etcd-tls-%d", (int)getpid());
  const char *run = getenv("KUBEFED_TEST_RUN");
  snprintf(tls_dir, sizeof(tls_dir), "%s/%s/tls", run && *run ? run : "/tmp/kubefed-operator-clusters", tls_name);
  snprintf(wrong_dir, sizeof(wrong_dir), "/tmp/dns-etcd-wrong-ca-%d", (int)getpid());
  char cmd[1024];
  snprintf(cmd, sizeof(cmd),
           "mkdir -p %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
           "-subj /CN=not-etcds-ca -keyout %s/ca.key -out %s/ca.crt 2>/dev/null",
           wrong_dir, wrong_dir, wrong_dir);
  int rc = 1;
  if (system(cmd) != 0) {
    fprintf(stderr, "openssl could not make a CA in %s\n", wrong_dir);
    return 1;
  }
  if (start_etcd(harness, etcd_name, "", etcd_url, sizeof(etcd_url)) != 0) goto out;
  if (start_etcd(harness, tls_name, "--tls", tls_url, sizeof(tls_url)) != 0) goto out;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_put_range_txn_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_answer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_endpoint_answers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_in_flight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_verified, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_wrong_ca, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_no_ca, setup, teardown),
  };
  rc = cmocka_run_group_tests(tests, NULL, NULL);
out:
  snprintf(cmd, sizeof(cmd), "'%s' down %s >&2; '%s' down %s >&2", harness, etcd_name, harness, tls_name);
  if (system(cmd) != 0) rc = 1;
  snprintf(cmd, sizeof(cmd), "rm -rf %s", wrong_dir);
  if (system(cmd) != 0) rc = 1;
  return rc;
}
