/* Unit tests for operator/workqueue.c, on a real uv loop.
 *
 * Timing checks are lower bounds with slack only: a loaded CI machine may be
 * arbitrarily slow, and libuv's loop clock counts whole milliseconds (so a
 * 10 ms timer may fire after 9.x ms of wall time). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include <kf/error.h>
#include <kf/wq.h>

#define MAX_GOT 20000

typedef struct t_ctx {
  uv_loop_t loop;
  wq *q;
  int ready_calls;
  int ready_depth, max_ready_depth;
  bool drain; /* ready: take every key */
  bool done;  /* ... and wq_done it right away */
  bool close_in_ready;
  const char *add_in_ready; /* ready: add this key (once) */
  size_t ngot;
  char *got[MAX_GOT];
  double got_at[MAX_GOT]; /* ms since t0 */
  double t0;
  int closed;
  void *closed_data;
} t_ctx;

static double now_ms(void) { return (double)uv_hrtime() / 1e6; }

static void on_close(wq *q, void *data) {
  t_ctx *c = data;
  (void)q;
  c->closed++;
  c->closed_data = data;
}

static void on_ready(wq *q, void *data) {
  t_ctx *c = data;
  const char *key;
  c->ready_calls++;
  c->ready_depth++;
  if (c->ready_depth > c->max_ready_depth) c->max_ready_depth = c->ready_depth;
  if (c->add_in_ready) {
    const char *k = c->add_in_ready;
    c->add_in_ready = NULL;
    wq_add(q, k); /* must not call us back from in here */
  }
  while (c->drain && wq_get(q, &key) == 0) {
    assert_true(c->ngot < MAX_GOT);
    c->got[c->ngot] = kf_strdup(key);
    c->got_at[c->ngot] = now_ms() - c->t0;
    c->ngot++;
    if (c->done) wq_done(q, key);
  }
  if (c->close_in_ready) {
    c->close_in_ready = false;
    wq_close(q, on_close);
  }
  c->ready_depth--;
}

static t_ctx *ctx_new(const wq_options *extra) {
  t_ctx *c = kf_calloc(1, sizeof(*c));
  wq_options o = {0};
  if (extra) o = *extra;
  o.ready = on_ready;
  o.data = c;
  assert_int_equal(uv_loop_init(&c->loop), 0);
  c->q = wq_new(&c->loop, &o);
  assert_non_null(c->q);
  c->drain = true;
  c->done = true;
  return c;
}

/* Closes the queue (unless already closed), checks every handle is gone. */
static void ctx_free(t_ctx *c) {
  if (c->q && !c->closed) wq_close(c->q, on_close);
  uv_run(&c->loop, UV_RUN_DEFAULT);
  assert_int_equal(c->closed, 1);
  assert_ptr_equal(c->closed_data, c);
  assert_int_equal(uv_loop_close(&c->loop), 0);
  for (size_t i = 0; i < c->ngot; i++) free(c->got[i]);
  free(c);
}

static void tick(uv_timer_t *t) { (void)t; }

/* Runs the loop until pred holds or timeout_ms passes; a 1 ms ticker keeps
 * uv_run(ONCE) from blocking while pred is polled. */
static bool run_until(t_ctx *c, bool (*pred)(t_ctx *), double timeout_ms) {
  uv_timer_t t;
  double deadline = now_ms() + timeout_ms;
  bool ok;
  uv_timer_init(&c->loop, &t);
  uv_timer_start(&t, tick, 1, 1);
  while (!(ok = pred(c)) && now_ms() < deadline) uv_run(&c->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&c->loop, UV_RUN_NOWAIT);
  return ok;
}

static size_t want_got;
static bool got_enough(t_ctx *c) { return c->ngot >= want_got; }
static bool never(t_ctx *c) {
  (void)c;
  return false;
}

static void run_for(t_ctx *c, double ms) { run_until(c, never, ms); }

static size_t got_index(const t_ctx *c, const char *key) {
  for (size_t i = 0; i < c->ngot; i++)
    if (strcmp(c->got[i], key) == 0) return i;
  fail_msg("key %s was never handed out", key);
  return SIZE_MAX;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_bad_args(void **state) {
  uv_loop_t loop;
  wq_options o = {0};
  const char *key;
  (void)state;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_null(wq_new(NULL, &o));
  assert_null(wq_new(&loop, NULL));
  assert_null(wq_new(&loop, &o)); /* ready is required */
  o.ready = on_ready;
  o.qps = NAN;
  assert_null(wq_new(&loop, &o));
  assert_int_equal(wq_get(NULL, &key), -EINVAL);
  wq_add(NULL, "x");
  wq_done(NULL, "x");
  assert_int_equal(wq_len(NULL), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_dedup_while_queued(void **state) {
  t_ctx *c = ctx_new(NULL);
  const char *key;
  (void)state;

  c->drain = false;
  wq_add(c->q, "a");
  wq_add(c->q, "b");
  wq_add(c->q, "a");
  wq_add(c->q, "a");
  assert_int_equal(wq_len(c->q), 2);
  /* Never called from inside wq_add. */
  assert_int_equal(c->ready_calls, 0);
  uv_run(&c->loop, UV_RUN_NOWAIT);
  assert_int_equal(c->ready_calls, 1);

  assert_int_equal(wq_get(c->q, &key), 0);
  assert_string_equal(key, "a");
  assert_int_equal(wq_get(c->q, &key), 0);
  assert_string_equal(key, "b");
  assert_int_equal(wq_get(c->q, &key), -EAGAIN);
  assert_null(key);
  assert_int_equal(wq_processing(c->q), 2);
  wq_done(c->q, "a");
  wq_done(c->q, "b");
  assert_int_equal(wq_processing(c->q), 0);
  assert_int_equal(wq_len(c->q), 0);
  ctx_free(c);
}

static void test_not_handed_out_twice(void **state) {
  t_ctx *c = ctx_new(NULL);
  const char *key, *again;
  (void)state;

  c->drain = false;
  wq_add(c->q, "ns/obj");
  assert_int_equal(wq_get(c->q, &key), 0);
  assert_int_equal(wq_processing(c->q), 1);

  /* Added while processing: not queued, not handed out. */
  wq_add(c->q, "ns/obj");
  wq_add(c->q, "ns/obj");
  assert_int_equal(wq_len(c->q), 0);
  assert_int_equal(wq_get(c->q, &again), -EAGAIN);
  /* The key pointer is still valid. */
  assert_string_equal(key, "ns/obj");

  /* Done re-queues it, once. */
  wq_done(c->q, key);
  assert_int_equal(wq_processing(c->q), 0);
  assert_int_equal(wq_len(c->q), 1);
  assert_int_equal(wq_get(c->q, &key), 0);
  assert_string_equal(key, "ns/obj");
  assert_int_equal(wq_get(c->q, &again), -EAGAIN);

  /* Done without a pending add: gone for good; a second done is a no-op. */
  wq_done(c->q, key); /* key is the queue's own string, freed here */
  wq_done(c->q, "ns/obj");
  wq_done(c->q, "never-seen");
  assert_int_equal(wq_len(c->q), 0);
  assert_int_equal(wq_processing(c->q), 0);

  /* The re-queue after done notifies the consumer. */
  c->drain = true;
  c->done = false;
  wq_add(c->q, "x");
  uv_run(&c->loop, UV_RUN_NOWAIT);
  assert_int_equal(c->ngot, 1);
  wq_add(c->q, "x");
  uv_run(&c->loop, UV_RUN_NOWAIT);
  assert_int_equal(c->ngot, 1);
  wq_done(c->q, "x");
  uv_run(&c->loop, UV_RUN_NOWAIT);
  assert_int_equal(c->ngot, 2);
  assert_string_equal(c->got[1], "x");
  wq_done(c->q, "x");
  ctx_free(c);
}

static void test_ready_not_reentrant(void **state) {
  t_ctx *c = ctx_new(NULL);
  (void)state;
  c->add_in_ready = "second";
  wq_add(c->q, "first");
  want_got = 2;
  assert_true(run_until(c, got_enough, 5000));
  assert_int_equal(c->max_ready_depth, 1);
  assert_string_equal(c->got[0], "first");
  assert_string_equal(c->got[1], "second");
  ctx_free(c);
}

static void test_add_after_order(void **state) {
  t_ctx *c = ctx_new(NULL);
  (void)state;

  uv_update_time(&c->loop);
  c->t0 = now_ms();
  wq_add_after(c->q, "c", 60);
  wq_add_after(c->q, "a", 20);
  wq_add_after(c->q, "b", 40);
  wq_add_after(c->q, "now", 0); /* 0: immediately */
  /* Earlier deadline wins; a later one is ignored. */
  wq_add_after(c->q, "early", 500);
  wq_add_after(c->q, "early", 30);
  wq_add_after(c->q, "early", 900);
  assert_int_equal(wq_waiting(c->q), 4);
  assert_int_equal(wq_len(c->q), 1);

  want_got = 5;
  assert_true(run_until(c, got_enough, 10000));
  assert_string_equal(c->got[0], "now");
  assert_string_equal(c->got[1], "a");
  assert_string_equal(c->got[2], "early");
  assert_string_equal(c->got[3], "b");
  assert_string_equal(c->got[4], "c");
  assert_true(c->got_at[1] >= 18);
  assert_true(c->got_at[2] >= 28);
  assert_true(c->got_at[3] >= 38);
  assert_true(c->got_at[4] >= 58);
  /* Nothing is left waiting: the 500 and 900 ms deadlines were dropped. */
  assert_int_equal(wq_waiting(c->q), 0);
  run_for(c, 20);
  assert_int_equal(c->ngot, 5);

  /* A delayed key that is also added directly comes out once. */
  wq_add_after(c->q, "dup", 10);
  wq_add(c->q, "dup");
  want_got = 6;
  assert_true(run_until(c, got_enough, 5000));
  run_for(c, 30);
  /* It was done right away, so the timer's add is a second, legitimate
   * hand-out (client-go's waiting entry is independent of the queue). */
  assert_int_equal(c->ngot, 7);
  ctx_free(c);
}

static void test_backoff_and_forget(void **state) {
  wq_options o = {.qps = -1}; /* bucket off: backoff alone */
  t_ctx *c = ctx_new(&o);
  static const double want[] = {5, 10, 20, 40, 80};
  (void)state;

  for (size_t i = 0; i < 5; i++) {
    uv_update_time(&c->loop);
    c->t0 = now_ms();
    wq_add_rate_limited(c->q, "k");
    assert_int_equal(wq_num_requeues(c->q, "k"), i + 1);
    assert_int_equal(wq_waiting(c->q), 1);
    want_got = i + 1;
    assert_true(run_until(c, got_enough, 10000));
    print_message("failure %zu: delay %.1f ms (want >= %.0f)\n", i + 1, c->got_at[i], want[i]);
    assert_true(c->got_at[i] >= want[i] - 2);
  }
  wq_forget(c->q, "k");
  assert_int_equal(wq_num_requeues(c->q, "k"), 0);
  wq_add_rate_limited(c->q, "k");
  assert_int_equal(wq_num_requeues(c->q, "k"), 1);
  want_got = 6;
  assert_true(run_until(c, got_enough, 10000));
  wq_forget(c->q, "k");
  assert_int_equal(wq_num_requeues(c->q, "unknown"), 0);
  ctx_free(c);
}

/* 2^n overflows long before 200 failures; the cap must hold without UB. */
static void test_backoff_cap(void **state) {
  wq_options o = {.qps = -1, .base_delay_ms = 1000, .max_delay_ms = UINT64_MAX / 2};
  t_ctx *c = ctx_new(&o);
  (void)state;
  c->done = false;
  for (int i = 0; i < 200; i++) wq_add_rate_limited(c->q, "k");
  assert_int_equal(wq_num_requeues(c->q, "k"), 200);
  /* One waiting entry, at the first (earliest) deadline of 1 s. */
  assert_int_equal(wq_waiting(c->q), 1);
  wq_close(c->q, on_close);
  uv_run(&c->loop, UV_RUN_DEFAULT);

  /* Small cap: the 10th failure waits max_delay_ms (30), not 5 * 2^9 = 2560. */
  c->closed = 0;
  o = (wq_options){.qps = -1, .base_delay_ms = 5, .max_delay_ms = 30, .ready = on_ready, .data = c};
  c->q = wq_new(&c->loop, &o);
  c->done = true;
  for (int i = 0; i < 9; i++) wq_add_rate_limited(c->q, "j");
  want_got = 1;
  assert_true(run_until(c, got_enough, 5000)); /* at 5 ms, the earliest deadline */
  assert_int_equal(wq_num_requeues(c->q, "j"), 9);
  uv_update_time(&c->loop);
  c->t0 = now_ms();
  wq_add_rate_limited(c->q, "j");
  want_got = 2;
  assert_true(run_until(c, got_enough, 2000));
  print_message("10th failure: %.1f ms\n", c->got_at[1]);
  assert_true(c->got_at[1] >= 28);
  ctx_free(c);
}

static void test_bucket_limit(void **state) {
  wq_options o = {.qps = 100, .burst = 5, .base_delay_ms = 1};
  t_ctx *c = ctx_new(&o);
  char key[16];
  (void)state;

  uv_update_time(&c->loop);
  c->t0 = now_ms();
  for (int i = 0; i < 10; i++) {
    snprintf(key, sizeof(key), "k%d", i);
    wq_add_rate_limited(c->q, key);
  }
  assert_int_equal(wq_waiting(c->q), 10);
  want_got = 10;
  assert_true(run_until(c, got_enough, 10000));
  for (int i = 0; i < 10; i++) {
    size_t at;
    snprintf(key, sizeof(key), "k%d", i);
    at = got_index(c, key);
    print_message("%s after %.1f ms\n", key, c->got_at[at]);
    /* The first 5 ride the burst; then one token per 10 ms. */
    if (i >= 5) {
      assert_true(c->got_at[at] >= (i - 4) * 10.0 - 2);
      assert_true(at >= 5);
    } else {
      assert_true(at < 5);
    }
  }
  ctx_free(c);
}

static void test_shutdown(void **state) {
  t_ctx *c = ctx_new(NULL);
  const char *key;
  (void)state;

  c->drain = false;
  wq_add(c->q, "a");
  wq_add(c->q, "b");
  wq_add_after(c->q, "c", 10);
  wq_add_rate_limited(c->q, "d");
  assert_int_equal(wq_get(c->q, &key), 0);
  assert_string_equal(key, "a");
  wq_add(c->q, "a"); /* dirty while processing */

  wq_shutdown(c->q);
  assert_int_equal(wq_get(c->q, &key), -ESHUTDOWN);
  assert_int_equal(wq_len(c->q), 0);
  assert_int_equal(wq_waiting(c->q), 0);
  wq_add(c->q, "e");
  wq_add_after(c->q, "f", 5);
  wq_add_rate_limited(c->q, "g");
  assert_int_equal(wq_len(c->q), 0);
  assert_int_equal(wq_waiting(c->q), 0);
  assert_int_equal(wq_num_requeues(c->q, "g"), 0);
  assert_int_equal(wq_processing(c->q), 1);
  /* "a" was dirty, but nothing is re-queued after shutdown. */
  wq_done(c->q, "a");
  assert_int_equal(wq_processing(c->q), 0);
  assert_int_equal(wq_len(c->q), 0);

  /* Nothing keeps the loop alive and the consumer hears nothing. */
  assert_int_equal(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(c->ready_calls, 0);
  wq_shutdown(c->q); /* idempotent */
  ctx_free(c);
}

static void test_close_frees_everything(void **state) {
  t_ctx *c = ctx_new(NULL);
  const char *key;
  (void)state;

  c->drain = false;
  wq_add(c->q, "queued");
  wq_add(c->q, "processing");
  wq_add_after(c->q, "waiting", 100000);
  wq_add_rate_limited(c->q, "failed");
  wq_get(c->q, &key); /* "queued" */
  wq_get(c->q, &key); /* "processing", never done */
  wq_add(c->q, "processing");
  wq_close(c->q, on_close);
  wq_close(c->q, on_close);       /* second close ignored */
  assert_int_equal(c->closed, 0); /* only from the loop */
  uv_run(&c->loop, UV_RUN_DEFAULT);
  assert_int_equal(c->closed, 1);
  assert_int_equal(c->ready_calls, 0);
  ctx_free(c);

  /* NULL close callback. */
  c = ctx_new(NULL);
  wq_add(c->q, "x");
  wq_close(c->q, NULL);
  uv_run(&c->loop, UV_RUN_DEFAULT);
  assert_int_equal(c->ready_calls, 0);
  assert_int_equal(uv_loop_close(&c->loop), 0);
  free(c);
}

static void test_close_from_ready(void **state) {
  t_ctx *c = ctx_new(NULL);
  (void)state;
  c->close_in_ready = true;
  c->done = false;
  wq_add(c->q, "a");
  wq_add_after(c->q, "b", 5);
  uv_run(&c->loop, UV_RUN_DEFAULT);
  assert_int_equal(c->closed, 1);
  assert_int_equal(c->ngot, 1);
  ctx_free(c);
}

static void test_many_keys(void **state) {
  enum { N = 10000 };
  t_ctx *c = ctx_new(NULL);
  char key[32];
  double t;
  (void)state;

  t = now_ms();
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < N; i++) {
      snprintf(key, sizeof(key), "ns-%d/obj-%d", i % 97, i);
      wq_add(c->q, key);
    }
  assert_int_equal(wq_len(c->q), N);
  want_got = N;
  assert_true(run_until(c, got_enough, 30000));
  /* FIFO order of first add. */
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof(key), "ns-%d/obj-%d", i % 97, i);
    assert_string_equal(c->got[i], key);
  }
  assert_int_equal(wq_len(c->q), 0);
  assert_int_equal(wq_processing(c->q), 0);

  /* Delayed: out in deadline order. */
  for (size_t i = 0; i < c->ngot; i++) free(c->got[i]);
  c->ngot = 0;
  uv_update_time(&c->loop);
  c->t0 = now_ms();
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof(key), "d/%d", i);
    wq_add_after(c->q, key, 1 + (uint64_t)((i * 7919) % 50));
  }
  assert_int_equal(wq_waiting(c->q), N);
  assert_true(run_until(c, got_enough, 30000));
  assert_int_equal(wq_waiting(c->q), 0);
  /* Each after its own delay (deadlines count from each add, so hand-out
   * order is only approximately by delay). */
  for (size_t i = 0; i < c->ngot; i++) {
    int k = atoi(c->got[i] + 2);
    assert_true(c->got_at[i] >= 1 + (k * 7919) % 50 - 2);
  }
  for (size_t i = 1; i < c->ngot; i++) assert_true(c->got_at[i] >= c->got_at[i - 1]);
  print_message("%d keys x 3 adds + %d delayed keys: %.0f ms\n", N, N, now_ms() - t);
  ctx_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_dedup_while_queued),
      cmocka_unit_test(test_not_handed_out_twice),
      cmocka_unit_test(test_ready_not_reentrant),
      cmocka_unit_test(test_add_after_order),
      cmocka_unit_test(test_backoff_and_forget),
      cmocka_unit_test(test_backoff_cap),
      cmocka_unit_test(test_bucket_limit),
      cmocka_unit_test(test_shutdown),
      cmocka_unit_test(test_close_frees_everything),
      cmocka_unit_test(test_close_from_ready),
      cmocka_unit_test(test_many_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
