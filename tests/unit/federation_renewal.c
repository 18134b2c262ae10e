/* federation.renewal: when a leaf certificate must be reissued (fed_leaf_ok): not valid, a SAN
 * missing, within renewBefore of its expiry (or past 2/3 of its lifetime when renewBefore is not
 * below the validity), or asked for by the rotate annotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "federation/objects.h"

#define HOUR 3600
#define DAY (24 * HOUR)

static fed_spec spec(uint64_t validity_s, uint64_t renew_before_s) {
  fed_spec s = {.validity_s = validity_s, .renew_before_s = renew_before_s};
  return s;
}

static fed_leaf_facts leaf(time_t not_before, time_t not_after) {
  fed_leaf_facts f = {.valid = 1, .covers = 1, .not_before = not_before, .not_after = not_after};
  return f;
}

static void test_renew_before_expiry(void **state) {
  (void)state;
  fed_spec s = spec(365 * DAY, 30 * DAY);
  const time_t t0 = 1700000000;
  fed_leaf_facts f = leaf(t0, t0 + 365 * DAY);
  time_t renew_at = 0;
  assert_true(fed_leaf_ok(&s, &f, 0, t0 + DAY, &renew_at));
  assert_int_equal(renew_at, t0 + 335 * DAY);
  /* One second before the renewal moment it stays; at it, it goes. */
  assert_true(fed_leaf_ok(&s, &f, 0, t0 + 335 * DAY - 1, &renew_at));
  assert_false(fed_leaf_ok(&s, &f, 0, t0 + 335 * DAY, &renew_at));
  assert_false(fed_leaf_ok(&s, &f, 0, t0 + 400 * DAY, &renew_at));
}

static void test_renew_before_not_below_validity(void **state) {
  (void)state;
  /* renewBefore >= validity would reissue every new certificate at once: 2/3 of its lifetime. */
  fed_spec s = spec(90 * DAY, 90 * DAY);
  const time_t t0 = 1700000000;
  fed_leaf_facts f = leaf(t0, t0 + 90 * DAY);
  time_t renew_at = 0;
  assert_true(fed_leaf_ok(&s, &f, 0, t0, &renew_at));
  assert_int_equal(renew_at, t0 + 60 * DAY);
  assert_false(fed_leaf_ok(&s, &f, 0, t0 + 60 * DAY, &renew_at));
  s = spec(90 * DAY, 100 * DAY);
  assert_true(fed_leaf_ok(&s, &f, 0, t0 + 59 * DAY, &renew_at));
  assert_int_equal(renew_at, t0 + 60 * DAY);
}

static void test_invalid_sans_and_rotate(void **state) {
  (void)state;
  fed_spec s = spec(365 * DAY, 30 * DAY);
  const time_t t0 = 1700000000;
  time_t renew_at = 42;
  fed_leaf_facts f = leaf(t0, t0 + 365 * DAY);
  f.valid = 0;
  assert_false(fed_leaf_ok(&s, &f, 0, t0, &renew_at));
  f = leaf(t0, t0 + 365 * DAY);
  f.covers = 0; /* the SAN set changed (a new load-balancer address, certSANs) */
  assert_false(fed_leaf_ok(&s, &f, 0, t0, &renew_at));
  f = leaf(t0, t0 + 365 * DAY);
  assert_false(fed_leaf_ok(&s, &f, 1, t0, &renew_at));
  assert_int_equal(renew_at, 42); /* untouched when the leaf goes */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_renew_before_expiry),
      cmocka_unit_test(test_renew_before_not_below_validity),
      cmocka_unit_test(test_invalid_sans_and_rotate),
  };
  return cmocka_run_group_tests_name("federation.renewal", tests, NULL, NULL);
}
