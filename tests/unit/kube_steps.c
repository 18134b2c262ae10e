/* steps: a named sequence runs each step once, in order, then done; abort stops it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <kf/steps.h>

typedef struct trace {
  steps s;
  char log[64];
  int done;
  int abort_at_b;
} trace;

static void step_a(void *ctx) {
  trace *t = ctx;
  strcat(t->log, "a");
  assert_string_equal(steps_current(&t->s), "first");
  steps_next(&t->s);
}

static void step_b(void *ctx) {
  trace *t = ctx;
  strcat(t->log, "b");
  if (t->abort_at_b) {
    steps_abort(&t->s);
    return;
  }
  steps_next(&t->s);
}

static void step_c(void *ctx) { strcat(((trace *)ctx)->log, "c"); /* waits: the test calls next */ }

static void on_done(void *ctx) { ((trace *)ctx)->done++; }

static const steps_step TABLE[] = {{"first", step_a}, {"second", step_b}, {"third", step_c}};

static void test_order_and_done(void **state) {
  (void)state;
  trace t = {0};
  assert_string_equal(steps_current(&t.s), "");
  steps_begin(&t.s, TABLE, STEPS_LEN(TABLE), &t, on_done);
  assert_string_equal(t.log, "abc");
  assert_string_equal(steps_current(&t.s), "third");
  assert_int_equal(t.done, 0);
  steps_next(&t.s); /* third's I/O finished */
  assert_int_equal(t.done, 1);
  assert_string_equal(steps_current(&t.s), "done");
  steps_next(&t.s); /* a stray second completion runs nothing */
  assert_int_equal(t.done, 1);
  assert_string_equal(t.log, "abc");
}

static void test_abort(void **state) {
  (void)state;
  trace t = {.abort_at_b = 1};
  steps_begin(&t.s, TABLE, STEPS_LEN(TABLE), &t, on_done);
  assert_string_equal(t.log, "ab");
  steps_next(&t.s);
  assert_string_equal(t.log, "ab");
  assert_int_equal(t.done, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_order_and_done), cmocka_unit_test(test_abort)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
