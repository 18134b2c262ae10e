/* dns.resolve: load balancer host names to A records. The addrinfo list -> sorted unique IPv4
 * addresses (pure), and the resolver's cache on a real loop: the first get waits and the key is
 * told when the answer comes, later gets are answered from the cache without a lookup, an
 * unchanged refresh tells nobody, a name that is not one gives nothing, a name that does not
 * resolve gives no address and tells the key, one that times out is told and its late answer taken,
 * and closing with a lookup running waits for it.
 * `localhost` comes from /etc/hosts (127.0.0.1), so no DNS server is needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "servicedns/servicedns.h"

typedef struct told {
  int n;
  char keys[8][64];
} told;

static void on_told(const char *key, void *data) {
  told *t = data;
  if (t->n < 8) snprintf(t->keys[t->n], sizeof(t->keys[0]), "%s", key);
  t->n++;
}

static struct addrinfo *ai4(const char *ip, struct sockaddr_in *sa, struct addrinfo *ai, struct addrinfo *next) {
  memset(sa, 0, sizeof(*sa));
  memset(ai, 0, sizeof(*ai));
  sa->sin_family = AF_INET;
  assert_int_equal(inet_pton(AF_INET, ip, &sa->sin_addr), 1);
  ai->ai_family = AF_INET;
  ai->ai_addr = (struct sockaddr *)sa;
  ai->ai_addrlen = sizeof(*sa);
  ai->ai_next = next;
  return ai;
}

static void test_ipv4_of(void **state) {
  (void)state;
  struct sockaddr_in s1, s2, s3;
  struct sockaddr_in6 s6;
  struct addrinfo a1, a2, a3, a6;
  memset(&s6, 0, sizeof(s6));
  memset(&a6, 0, sizeof(a6));
  s6.sin6_family = AF_INET6;
  assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr), 1);
  a6.ai_family = AF_INET6;
  a6.ai_addr = (struct sockaddr *)&s6;
  a6.ai_addrlen = sizeof(s6);
  /* 10.0.0.2, ::, 10.0.0.10, 10.0.0.2 (a duplicate, as getaddrinfo gives one per socket type) */
  struct addrinfo *l = ai4("10.0.0.2", &s1, &a1, &a6);
  a6.ai_next = ai4("10.0.0.10", &s2, &a2, ai4("10.0.0.2", &s3, &a3, NULL));
  char **v = servicedns_ipv4_of(l);
  assert_string_equal(v[0], "10.0.0.10"); /* sorted as strings: what the plan sorts too */
  assert_string_equal(v[1], "10.0.0.2");
  assert_null(v[2]);
  servicedns_strv_free(v);
  v = servicedns_ipv4_of(&a6);
  assert_string_equal(v[0], "10.0.0.10");
  servicedns_strv_free(v);
  v = servicedns_ipv4_of(NULL);
  assert_null(v[0]);
  servicedns_strv_free(v);
  servicedns_strv_free(NULL);
}

typedef struct env {
  uv_loop_t loop;
  servicedns_resolver *r;
  told t;
  int closed;
} env;

static void on_closed(void *arg) { ((env *)arg)->closed = 1; }

static env *env_new(uint64_t ttl_ms, uint64_t timeout_ms) {
  env *e = calloc(1, sizeof(*e));
  assert_int_equal(uv_loop_init(&e->loop), 0);
  servicedns_resolver_opts o = {.ttl_ms = ttl_ms, .timeout_ms = timeout_ms, .cb = on_told, .data = &e->t};
  e->r = servicedns_resolver_new(&e->loop, &o);
  return e;
}

static void env_free(env *e) {
  int n = e->t.n;
  servicedns_resolver_close(e->r, on_closed, e);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  assert_int_equal(e->closed, 1);
  assert_int_equal(e->t.n, n); /* nobody told after close */
  assert_int_equal(uv_loop_close(&e->loop), 0);
  free(e);
}

static void run_until_told(env *e, int n) {
  uint64_t t0 = uv_hrtime();
  while (e->t.n < n) {
    uv_run(&e->loop, UV_RUN_ONCE);
    if (uv_hrtime() - t0 > 30ull * 1000000000) fail_msg("no answer within 30 s");
  }
}

static void test_cache(void **state) {
  (void)state;
  env *e = env_new(0, 0);
  char **v = NULL;
  uint64_t refresh = 0;
  assert_int_equal(servicedns_resolver_get(e->r, "LocalHost.", "default/nginx", &v, &refresh), 1);
  assert_null(v);
  assert_int_equal(e->t.n, 0); /* never from within the get */
  run_until_told(e, 1);
  assert_string_equal(e->t.keys[0], "default/nginx");
  assert_int_equal(servicedns_resolver_get(e->r, "localhost", "default/nginx", &v, &refresh), 0);
  assert_string_equal(v[0], "127.0.0.1");
  assert_null(v[1]);
  assert_true(refresh > 0 && refresh <= SERVICEDNS_RESOLVE_TTL_MS);
  servicedns_strv_free(v);
  uv_run(&e->loop, UV_RUN_DEFAULT); /* the timeout tick stops once nothing runs */
  /* Another Service: from the cache, no lookup (nothing is left running on the loop). */
  assert_int_equal(servicedns_resolver_get(e->r, "localhost", "web/other", &v, &refresh), 0);
  assert_string_equal(v[0], "127.0.0.1");
  servicedns_strv_free(v);
  assert_int_equal(uv_run(&e->loop, UV_RUN_NOWAIT), 0);
  assert_int_equal(e->t.n, 1);
  /* Not a DNS name: no address, no lookup, nobody told. */
  assert_int_equal(servicedns_resolver_get(e->r, "bad..name", "default/nginx", &v, &refresh), 0);
  assert_null(v[0]);
  servicedns_strv_free(v);
  assert_int_equal(e->t.n, 1);
  env_free(e);
}

static void test_refresh_unchanged(void **state) {
  (void)state;
  env *e = env_new(1, 0); /* every answer is due for a refresh at once */
  char **v = NULL;
  uint64_t refresh = 0;
  assert_int_equal(servicedns_resolver_get(e->r, "localhost", "default/nginx", &v, &refresh), 1);
  run_until_told(e, 1);
  uv_sleep(5);
  uv_update_time(&e->loop);
  /* Due: the cached answer now, a refresh in the background... */
  assert_int_equal(servicedns_resolver_get(e->r, "localhost", "default/nginx", &v, &refresh), 0);
  assert_string_equal(v[0], "127.0.0.1");
  servicedns_strv_free(v);
  assert_int_equal(uv_run(&e->loop, UV_RUN_NOWAIT), 1); /* the refresh runs */
  uv_run(&e->loop, UV_RUN_DEFAULT);
  /* ...which gave the same answer: nobody is told. */
  assert_int_equal(e->t.n, 1);
  env_free(e);
}

static void test_unresolvable(void **state) {
  (void)state;
  env *e = env_new(0, 300);
  char **v = NULL;
  uint64_t refresh = 0;
  /* .invalid never resolves (RFC 6761): a failure or, with a silent DNS server, the timeout. */
  assert_int_equal(servicedns_resolver_get(e->r, "elb.invalid", "default/nginx", &v, &refresh), 1);
  run_until_told(e, 1);
  assert_int_equal(servicedns_resolver_get(e->r, "elb.invalid", "default/nginx", &v, &refresh), 0);
  assert_null(v[0]);
  assert_true(refresh <= SERVICEDNS_RESOLVE_RETRY_MS);
  servicedns_strv_free(v);
  env_free(e);
}

/* Every thread of libuv's pool busy for a while: a lookup queued behind them runs late. */
static void sleep_work(uv_work_t *w) {
  (void)w;
  uv_sleep(1200);
}
static void after_sleep(uv_work_t *w, int status) {
  (void)status;
  free(w);
}
static void occupy_pool(uv_loop_t *loop) {
  const char *size = getenv("UV_THREADPOOL_SIZE");
  int n = size && atoi(size) > 0 ? atoi(size) : 4;
  for (int i = 0; i < n; i++)
    assert_int_equal(uv_queue_work(loop, calloc(1, sizeof(uv_work_t)), sleep_work, after_sleep), 0);
}

static void test_timeout_then_late_answer(void **state) {
  (void)state;
  env *e = env_new(0, 100);
  occupy_pool(&e->loop);
  char **v = NULL;
  uint64_t refresh = 0;
  assert_int_equal(servicedns_resolver_get(e->r, "localhost", "default/nginx", &v, &refresh), 1);
  /* Given up after its timeout: told, and no address meanwhile. */
  run_until_told(e, 1);
  assert_int_equal(servicedns_resolver_get(e->r, "localhost", "default/nginx", &v, &refresh), 0);
  assert_null(v[0]);
  servicedns_strv_free(v);
  /* The late answer is taken: told again, and the address is there. */
  run_until_told(e, 2);
  assert_int_equal(servicedns_resolver_get(e->r, "localhost", "default/nginx", &v, &refresh), 0);
  assert_string_equal(v[0], "127.0.0.1");
  servicedns_strv_free(v);
  env_free(e);
}

static void test_close_while_resolving(void **state) {
  (void)state;
  env *e = env_new(0, 0);
  char **v = NULL;
  assert_int_equal(servicedns_resolver_get(e->r, "localhost", "default/nginx", &v, NULL), 1);
  env_free(e); /* waits for the lookup; nobody is told after close */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ipv4_of),
      cmocka_unit_test(test_cache),
      cmocka_unit_test(test_refresh_unchanged),
      cmocka_unit_test(test_unresolvable),
      cmocka_unit_test(test_timeout_then_late_answer),
      cmocka_unit_test(test_close_while_resolving),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
