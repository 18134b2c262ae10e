/* Unit tests for operator/runtime/manager.c: the readiness decision, the option
 * rules, the common flags, and a whole run without a cluster (runnables that
 * make no requests, SIGTERM from a timer), which ASan checks for leaks. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include <kf/flags.h>
#include <kf/manager.h>

static void test_readyz(void **state) {
  const char *body;
  (void)state;
  assert_int_equal(kf_manager_readyz(0, 1, 0, 0, &body), 200);
  assert_string_equal(body, "ok\n");
  assert_int_equal(kf_manager_readyz(0, 1, 1, 1, &body), 200);
  assert_int_equal(kf_manager_readyz(0, 1, 1, 0, &body), 503);
  assert_string_equal(body, "not leading\n");
  assert_int_equal(kf_manager_readyz(0, 0, 1, 1, &body), 503);
  assert_string_equal(body, "caches not synced\n");
  assert_int_equal(kf_manager_readyz(0, 0, 1, 0, &body), 503);
  assert_string_equal(body, "caches not synced\n"); /* a standby says so first */
  assert_int_equal(kf_manager_readyz(1, 1, 0, 1, &body), 503);
  assert_string_equal(body, "shutting down\n");
}

typedef struct t_flags {
  kf_manager_opts m;
  const char *extra;
} t_flags;
static const kf_flag FLAGS[] = {
    KF_MANAGER_FLAGS(offsetof(t_flags, m), "my-lease"),
    {"extra", 0, KF_FLAG_STRING, 0, offsetof(t_flags, extra), "X", "the program's own flag", NULL, NULL, NULL},
};
static const kf_flags FS = {FLAGS, sizeof(FLAGS) / sizeof(FLAGS[0]), 0, KF_FLAGS_HELP | KF_FLAGS_VERSION, NULL};

static int parse(t_flags *o, kf_error *err, ...) {
  char *argv[32] = {"prog"};
  int argc = 1, npos;
  va_list ap;
  va_start(ap, err);
  for (char *a; (a = va_arg(ap, char *)) && argc < 31;) argv[argc++] = a;
  va_end(ap);
  memset(o, 0, sizeof(*o));
  kf_error_clear(err);
  return kf_flags_parse(&FS, o, argc, argv, NULL, 0, &npos, err);
}

/* The common flags' defaults are client-go's and pass the rules; every flag is in --help. */
static void test_common_flags(void **state) {
  t_flags o;
  kf_error err;
  (void)state;
  assert_int_equal(parse(&o, &err, NULL), 0);
  assert_int_equal(o.m.lease_duration_ms, 15000);
  assert_int_equal(o.m.renew_deadline_ms, 10000);
  assert_int_equal(o.m.retry_period_ms, 2000);
  assert_string_equal(o.m.lease_name, "my-lease");
  assert_string_equal(o.m.health_addr, ":8081");
  assert_string_equal(o.m.metrics_addr, ":8080");
  assert_string_equal(o.m.log_level, "info");
  assert_string_equal(o.m.log_format, "text");
  assert_int_equal(o.m.leader_elect, 0);
  assert_null(o.m.kubeconfig);
  assert_int_equal(kf_manager_check(&o.m, &err), 0);

  assert_int_equal(parse(&o, &err, "--kubeconfig", "/k", "--context=c", "--namespace=ns", "--leader-elect",
                         "--leader-election-namespace=l", "--leader-election-id=id", "--leader-elect-lease-duration=2s",
                         "--leader-elect-renew-deadline=1500ms", "--leader-elect-retry-period=500ms",
                         "--health-bind-address=127.0.0.1:1", "--metrics-bind-address=0", "--log-level=debug",
                         "--log-format=json", "--extra=x", NULL),
                   0);
  assert_string_equal(o.m.kubeconfig, "/k");
  assert_string_equal(o.m.context, "c");
  assert_string_equal(o.m.namespace_, "ns");
  assert_int_equal(o.m.leader_elect, 1);
  assert_string_equal(o.m.lease_namespace, "l");
  assert_string_equal(o.m.lease_name, "id");
  assert_int_equal(o.m.lease_duration_ms, 2000);
  assert_int_equal(o.m.renew_deadline_ms, 1500);
  assert_int_equal(o.m.retry_period_ms, 500);
  assert_string_equal(o.m.health_addr, "127.0.0.1:1");
  assert_string_equal(o.m.metrics_addr, "0");
  assert_string_equal(o.m.log_level, "debug");
  assert_string_equal(o.m.log_format, "json");
  assert_string_equal(o.extra, "x");
  assert_int_equal(kf_manager_check(&o.m, &err), 0);
  assert_int_equal(parse(&o, &err, "--leader-elect=false", NULL), 0);
  assert_int_equal(o.m.leader_elect, 0);
  assert_int_equal(parse(&o, &err, "--log-level=loud", NULL), -EINVAL);
  assert_int_equal(parse(&o, &err, "--log-format=xml", NULL), -EINVAL);

  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  kf_flags_usage(f, &FS);
  fclose(f);
  const char *want[] = {"--kubeconfig=PATH",
                        "--context=NAME",
                        "--namespace=NS",
                        "--leader-elect\n",
                        "--leader-election-namespace=NS",
                        "--leader-election-id=NAME",
                        "(default \"my-lease\")",
                        "--leader-elect-lease-duration=DURATION",
                        "(default 15s)",
                        "--leader-elect-renew-deadline=DURATION",
                        "(default 10s)",
                        "--leader-elect-retry-period=DURATION",
                        "(default 2s)",
                        "--health-bind-address=ADDR",
                        "(default \":8081\")",
                        "--metrics-bind-address=ADDR",
                        "(default \":8080\")",
                        "--log-level=debug|info|warn|error",
                        "(default \"info\")",
                        "--log-format=text|json",
                        "(default \"text\")",
                        "--extra=X",
                        "--help",
                        "--version"};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    if (!strstr(buf, want[i])) fail_msg("--help lacks %s in:\n%s", want[i], buf);
  free(buf);
}

static void test_check(void **state) {
  kf_manager_opts o = {.lease_duration_ms = 15000, .renew_deadline_ms = 10000, .retry_period_ms = 2000};
  kf_error err;
  (void)state;
  kf_error_clear(&err);
  assert_int_equal(kf_manager_check(&o, &err), 0);
  o.retry_period_ms = 0;
  assert_int_equal(kf_manager_check(&o, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "retry-period < renew-deadline < lease-duration"));
  o.retry_period_ms = 10000;
  assert_int_equal(kf_manager_check(&o, &err), -EINVAL);
  o.retry_period_ms = 2000;
  o.renew_deadline_ms = 15000;
  assert_int_equal(kf_manager_check(&o, &err), -EINVAL);
  o.lease_duration_ms = 900, o.renew_deadline_ms = 600, o.retry_period_ms = 300;
  assert_int_equal(kf_manager_check(&o, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "at least 1s"));
  o.lease_duration_ms = 15000, o.renew_deadline_ms = 10000, o.retry_period_ms = 2000;
  o.log_level = "trace";
  assert_int_equal(kf_manager_check(&o, &err), -EINVAL);
  o.log_level = "warn";
  o.log_format = "xml";
  assert_int_equal(kf_manager_check(&o, &err), -EINVAL);
}

/* A runnable that records what the manager did to it. */
typedef struct t_run {
  char trace[64];
  int synced;
  int defer_done; /* call done from a timer, 30 ms later */
  int never_done;
  uv_timer_t timer;
  kf_manager_done_cb done;
  void *done_arg;
} t_run;

static void rec(t_run *r, char c) { r->trace[strlen(r->trace)] = c; }
static void run_caches(void *o) { rec(o, 'c'); }
static int run_synced(const void *o) { return ((const t_run *)o)->synced; }
static void run_start(void *o) { rec(o, 's'); }
static void on_deferred(uv_timer_t *t) {
  t_run *r = t->data;
  rec(r, 'd');
  uv_close((uv_handle_t *)t, NULL);
  r->done(r->done_arg);
}
static void run_close(void *o, kf_manager_done_cb done, void *arg) {
  t_run *r = o;
  rec(r, 'x');
  if (r->never_done) return;
  if (!r->defer_done) {
    rec(r, 'd');
    done(arg);
    return;
  }
  r->done = done;
  r->done_arg = arg;
  uv_timer_init(uv_default_loop(), &r->timer);
  r->timer.data = r;
  uv_timer_start(&r->timer, on_deferred, 30, 0);
}

static void send_sigterm(uv_timer_t *t) {
  uv_close((uv_handle_t *)t, NULL);
  assert_int_equal(uv_kill(getpid(), SIGTERM), 0);
}

static kf_manager_opts test_opts(void) {
  static char path[512];
  const char *dir = getenv("KF_TESTDATA");
  assert_non_null(dir);
  snprintf(path, sizeof(path), "%s/kubeconfig/data.yaml", dir);
  kf_manager_opts o = {.program = "prog",
                       .version = "1.0",
                       .metrics_prefix = "t_",
                       .kubeconfig = path,
                       .lease_duration_ms = 15000,
                       .renew_deadline_ms = 10000,
                       .retry_period_ms = 2000,
                       .health_addr = "127.0.0.1:0",
                       .metrics_addr = "0",
                       .drain_ms = 300};
  return o;
}

static void test_lifecycle(void **state) {
  kf_manager_opts o = test_opts();
  kf_manager *m;
  kf_error err;
  t_run a = {.synced = 1}, b = {.synced = 1, .defer_done = 1}, c = {.never_done = 1};
  uv_timer_t kill;
  (void)state;
  kf_error_clear(&err);
  o.namespace_ = "";
  assert_int_equal(kf_manager_new(&o, &m, &err), 0);
  assert_null(kf_manager_namespace(m)); /* "" is all namespaces */
  assert_int_equal(kf_manager_in_cluster(m), 0);
  assert_non_null(kf_manager_client(m));
  assert_non_null(kf_manager_events(m));
  assert_non_null(kf_manager_metrics(m));
  kf_runnable ra = {"a", &a, run_caches, run_synced, run_start, run_close};
  kf_runnable rb = {"b", &b, run_caches, run_synced, run_start, run_close};
  kf_runnable rc = {"c", &c, NULL, NULL, run_start, run_close};
  assert_int_equal(kf_manager_add(m, &ra, &err), 0);
  assert_int_equal(kf_manager_add(m, &rb, &err), 0);
  assert_int_equal(kf_manager_add(m, &rc, &err), 0);
  kf_runnable bad = {"bad", &a, NULL, NULL, NULL, NULL};
  assert_int_equal(kf_manager_add(m, &bad, &err), -EINVAL);

  uv_timer_init(kf_manager_loop(m), &kill);
  uv_timer_start(&kill, send_sigterm, 20, 0);
  uint64_t t0 = uv_hrtime();
  assert_int_equal(kf_manager_run(m), 0);
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  /* Without election: caches then start at once; on SIGTERM close, and b's deferred done. */
  assert_string_equal(a.trace, "csxd");
  assert_string_equal(b.trace, "csxd");
  assert_string_equal(c.trace, "sx");
  /* c never reports done: the drain gives up after drain_ms, no sooner. */
  assert_true(ms >= 300);
  kf_manager_free(m);
}

/* A manager that never ran closes its runnables on free; failures leave nothing behind. */
static void test_free_and_failures(void **state) {
  kf_manager_opts o = test_opts();
  kf_manager *m;
  kf_error err;
  t_run a = {.synced = 1};
  (void)state;
  kf_error_clear(&err);
  assert_int_equal(kf_manager_new(&o, &m, &err), 0);
  kf_runnable ra = {"a", &a, run_caches, run_synced, run_start, run_close};
  assert_int_equal(kf_manager_add(m, &ra, &err), 0);
  kf_manager_free(m);
  assert_string_equal(a.trace, "xd");
  kf_manager_free(NULL);

  o.health_addr = "not-an-address";
  assert_int_not_equal(kf_manager_new(&o, &m, &err), 0);
  assert_null(m);
  assert_non_null(strstr(err.msg, "--health-bind-address: "));
  o = test_opts();
  o.kubeconfig = "/nonexistent/kubeconfig";
  assert_int_not_equal(kf_manager_new(&o, &m, &err), 0);
  assert_null(m);
  assert_non_null(strstr(err.msg, "/nonexistent/kubeconfig"));
  o = test_opts();
  o.retry_period_ms = 0;
  assert_int_equal(kf_manager_new(&o, &m, &err), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_readyz),    cmocka_unit_test(test_common_flags),      cmocka_unit_test(test_check),
      cmocka_unit_test(test_lifecycle), cmocka_unit_test(test_free_and_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
