/* cluster.health: the member health threshold machine (kubelet's probe semantics) and the
 * conditions it shows: Offline after failureThreshold consecutive failures, Ready again after
 * successThreshold consecutive successes, and no change (no status write) while nothing changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "federatedcluster/fc.h"

static fc_health machine(int ft, int st) {
  fc_health h = {.failure_threshold = ft, .success_threshold = st, .timeout_s = 3};
  return h;
}

static void test_offline_after_failure_threshold(void **state) {
  (void)state;
  fc_health h = machine(3, 1);
  assert_int_equal(fc_health_observe(&h, 1, NULL), 1);
  assert_int_equal(h.state, FC_HEALTH_READY);
  assert_int_equal(fc_health_observe(&h, 1, NULL), 0); /* steady: nothing to write */
  assert_int_equal(fc_health_observe(&h, 0, "timed out"), 1);
  assert_int_equal(h.state, FC_HEALTH_NOT_READY);
  assert_int_equal(fc_health_observe(&h, 0, "timed out"), 0); /* same words, same state */
  assert_int_equal(fc_health_observe(&h, 0, "timed out"), 1);
  assert_int_equal(h.state, FC_HEALTH_OFFLINE);
  assert_int_equal(fc_health_observe(&h, 0, "timed out"), 0);
  assert_int_equal(fc_health_observe(&h, 0, "HTTP 500"), 1); /* new words: the message changes */
  assert_int_equal(h.state, FC_HEALTH_OFFLINE);
  free(h.why);
}

static void test_ready_again_after_success_threshold(void **state) {
  (void)state;
  fc_health h = machine(1, 2);
  assert_int_equal(fc_health_observe(&h, 0, "refused"), 1);
  assert_int_equal(h.state, FC_HEALTH_OFFLINE);
  /* One good answer from a flapping member is not enough. */
  assert_int_equal(fc_health_observe(&h, 1, NULL), 0);
  assert_int_equal(h.state, FC_HEALTH_OFFLINE);
  assert_int_equal(fc_health_observe(&h, 1, NULL), 1);
  assert_int_equal(h.state, FC_HEALTH_READY);
  assert_null(h.why);
  /* A failure between successes starts the count again. */
  h.failure_threshold = 2;
  assert_int_equal(fc_health_observe(&h, 0, "refused"), 1);
  assert_int_equal(fc_health_observe(&h, 1, NULL), 0);
  assert_int_equal(h.state, FC_HEALTH_NOT_READY);
  assert_int_equal(fc_health_observe(&h, 0, "refused"), 0);
  assert_int_equal(h.state, FC_HEALTH_NOT_READY); /* failures counted again from 1 */
  free(h.why);
}

static void test_first_success_below_threshold_is_not_ready(void **state) {
  (void)state;
  fc_health h = machine(3, 2);
  assert_int_equal(fc_health_observe(&h, 1, NULL), 1);
  assert_int_equal(h.state, FC_HEALTH_NOT_READY);
  assert_int_equal(fc_health_observe(&h, 1, NULL), 1);
  assert_int_equal(h.state, FC_HEALTH_READY);
}

static void test_conditions(void **state) {
  (void)state;
  cond ready = {0}, offline = {0};
  fc_health_conds(NULL, NULL, &ready, &offline);
  assert_string_equal(ready.status, "Unknown");
  assert_string_equal(ready.reason, "NotProbed");
  assert_string_equal(offline.reason, "Reachable");
  cond_free(&ready);
  cond_free(&offline);

  /* Before this process's first probe (a restarted operator), the object's verdict stands. */
  json_object *live = json_tokener_parse(
      "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Healthy\","
      "\"message\":\"the member's API server answers /readyz\"},{\"type\":\"Offline\",\"status\":\"False\","
      "\"reason\":\"Reachable\",\"message\":\"the member answers its health probes\"}]}}");
  fc_health fresh = machine(3, 1);
  fc_health_conds(&fresh, live, &ready, &offline);
  assert_string_equal(ready.status, "True");
  assert_string_equal(ready.reason, "Healthy");
  assert_string_equal(ready.message, "the member's API server answers /readyz");
  assert_string_equal(offline.status, "False");
  cond_free(&ready);
  cond_free(&offline);
  /* ... but only until it has probed: then its own result. */
  fc_health_observe(&fresh, 0, "connection refused or host unreachable");
  fc_health_conds(&fresh, live, &ready, &offline);
  assert_string_equal(ready.status, "False");
  assert_string_equal(ready.reason, "NotReady");
  cond_free(&ready);
  cond_free(&offline);
  free(fresh.why);
  json_object_put(live);

  fc_health h = machine(2, 1);
  fc_health_observe(&h, 0, "no answer within spec.health.timeoutSeconds (3s): timed out");
  fc_health_observe(&h, 0, "no answer within spec.health.timeoutSeconds (3s): timed out");
  fc_health_conds(&h, NULL, &ready, &offline);
  assert_string_equal(ready.status, "False");
  assert_string_equal(ready.reason, "Offline");
  assert_non_null(strstr(ready.message, "timed out"));
  assert_string_equal(offline.status, "True");
  assert_string_equal(offline.reason, "ProbeFailed");
  assert_string_equal(offline.message, "failureThreshold (2) consecutive probes failed: no answer within "
                                       "spec.health.timeoutSeconds (3s): timed out");
  cond_free(&ready);
  cond_free(&offline);
  /* A condition the reconcile set itself (Unreachable) is kept. */
  cond_set(&ready, "False", "Unreachable", "x");
  fc_health_conds(&h, NULL, &ready, &offline);
  assert_string_equal(ready.reason, "Unreachable");
  cond_free(&ready);
  cond_free(&offline);
  free(h.why);
}

static void test_why_words(void **state) {
  (void)state;
  char buf[256];
  kf_error err;
  kf_error_clear(&err);
  kf_error_set(&err, KC_ERR_TIMEOUT, "Operation timed out after 2001 milliseconds");
  fc_health_why(KC_ERR_TIMEOUT, &err, 2, buf, sizeof(buf));
  assert_string_equal(buf, "no answer within spec.health.timeoutSeconds (2s): timed out");
  kf_error_clear(&err);
  kf_error_set(&err, KC_ERR_THROTTLED, "too many requests");
  err.http_status = 429;
  fc_health_why(KC_ERR_THROTTLED, &err, 2, buf, sizeof(buf));
  assert_non_null(strstr(buf, "throttled by the member (HTTP 429)"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_offline_after_failure_threshold),
      cmocka_unit_test(test_ready_again_after_success_threshold),
      cmocka_unit_test(test_first_success_below_threshold_is_not_ready),
      cmocka_unit_test(test_conditions),
      cmocka_unit_test(test_why_words),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
