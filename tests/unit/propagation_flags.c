/* propagation.flags: kubefed-controller-manager's command line, as the program parses it and as
 * the operator checks a Federation's controllerManager.extraArgs: kubefed v1's flags accepted
 * (the meaningless ones remembered for a warning), --controllers as v1's map, unknown flags
 * and controllers refused with the message the user sees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kubefed/cm_options.h>

static int check(const char *const *args, size_t n, kf_error *err) {
  kf_error_clear(err);
  return cm_options_check_args(args, n, err);
}

static void test_v1_command_line_accepted(void **state) {
  (void)state;
  kf_error err;
  /* kubefed init's own arguments for the controller manager, plus --controllermanager-arg-overrides. */
  const char *const v1[] = {"--master=https://fellowship-apiserver",
                            "--kubeconfig=/etc/federation/cm/kubeconfig",
                            "--dns-provider=coredns",
                            "--dns-provider-config=/etc/federation/dns.conf",
                            "--federation-name=fellowship",
                            "--zone-name=example.com.",
                            "--controllers=services=false",
                            "--v=4",
                            "--cluster-monitor-period=40s",
                            "--federated-api-qps=20",
                            "--federated-api-burst=30",
                            "--port=10253",
                            "--address=0.0.0.0",
                            "--profiling=false",
                            "--federation-only-namespace=federation-only",
                            "--concurrent-service-syncs=5",
                            "--hpa-scale-forbidden-window=1m"};
  assert_int_equal(check(v1, sizeof(v1) / sizeof(v1[0]), &err), 0);
}

static void test_refusals(void **state) {
  (void)state;
  kf_error err;
  const char *const unknown[] = {"--no-such-flag=1"};
  assert_int_equal(check(unknown, 1, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "--no-such-flag"));
  const char *const bad_duration[] = {"--cluster-monitor-period=soon"};
  assert_int_equal(check(bad_duration, 1, &err), -EINVAL); /* ignored, but still checked */
  const char *const bad_controller[] = {"--controllers=widgets=false"};
  assert_int_equal(check(bad_controller, 1, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "unknown controller widgets"));
  const char *const bad_value[] = {"--controllers=services=yes"};
  assert_int_equal(check(bad_value, 1, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "true or false"));
  const char *const positional[] = {"extra"};
  assert_int_equal(check(positional, 1, &err), -EINVAL);
  const char *const zero_workers[] = {"--concurrent-replicaset-syncs=0"};
  assert_int_equal(check(zero_workers, 1, &err), -EINVAL);
}

static void test_controllers_map_merges(void **state) {
  (void)state;
  size_t n;
  const kf_flags fs = {cm_options_flags(&n), n, 0, 0, NULL};
  cm_options o;
  memset(&o, 0, sizeof(o));
  char *argv[] = {
      "cm",   "--controllers=services=false, configmaps = false", "--controllers=secrets=true", "--v=2", "--port=1",
      "--v=3"};
  int npos = 0;
  kf_error err;
  kf_error_clear(&err);
  assert_int_equal(kf_flags_parse(&fs, &o, 6, argv, NULL, 0, &npos, &err), 0);
  assert_int_equal(o.controllers[CM_SERVICES], CM_OFF);
  assert_int_equal(o.controllers[CM_CONFIGMAPS], CM_OFF);
  assert_int_equal(o.controllers[CM_SECRETS], CM_ON);
  assert_int_equal(o.controllers[CM_NAMESPACES], CM_DEFAULT);
  assert_int_equal(o.concurrent_replicaset_syncs, 10);
  /* Each ignored flag once, in the order given. */
  assert_int_equal(o.n_ignored, 2);
  assert_string_equal(o.ignored[0], "v");
  assert_string_equal(o.ignored[1], "port");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1_command_line_accepted),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_controllers_map_merges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
