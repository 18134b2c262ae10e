/* kube.leader: two kubefed-operator processes with --leader-elect: exactly one
 * leads (Lease holder, /readyz); after SIGKILL of the leader the other takes
 * over within lease duration + retry period; SIGTERM releases the lease. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "it.h"

typedef struct proc {
  pid_t pid;
  int port;         /* /healthz, /readyz */
  int metrics_port; /* /metrics */
} proc;

static int free_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  getsockname(fd, (struct sockaddr *)&a, &len);
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/* GET path on 127.0.0.1:port: the HTTP status (-1 when nothing answers); the
 * response, headers and body, into buf when given. */
static int http_get(int port, const char *path, char *buf, size_t size) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  char local[256];
  int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;
  struct timeval tv = {2, 0};
  size_t got = 0;
  if (!buf) {
    buf = local;
    size = sizeof(local);
  }
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    if (write(fd, req, strlen(req)) > 0) {
      ssize_t n;
      while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0) got += (size_t)n;
      buf[got] = '\0';
      if (got > 12) status = atoi(buf + 9);
    }
  }
  close(fd);
  return status;
}

static int http_status(int port, const char *path) { return http_get(port, path, NULL, 0); }

#define RECONCILES "kubefed_reconcile_total{controller=\"federation\","

/* Federation reconciles this process reported on /metrics. */
static double reconciles(const proc *p) {
  static char buf[65536];
  double total = 0;
  if (http_get(p->metrics_port, "/metrics", buf, sizeof(buf)) != 200) return -1;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
    if (strncmp(line, RECONCILES, strlen(RECONCILES)) == 0) total += atof(strrchr(line, ' ') + 1);
  return total;
}

static pid_t started[4];
static int nstarted;

/* Group teardown: whatever an assertion left running is killed, so a failed run
 * never leaves an operator holding the pipe or the lease. */
static int kill_started(void **state) {
  (void)state;
  for (int i = 0; i < nstarted; i++)
    if (kill(started[i], SIGKILL) == 0) waitpid(started[i], NULL, 0);
  nstarted = 0;
  return 0;
}

static proc start_operator(const char *ns, const char *log) {
  proc p = {0, free_port(), free_port()};
  char health[64], metrics[64];
  snprintf(health, sizeof(health), "127.0.0.1:%d", p.port);
  snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", p.metrics_port);
  p.pid = fork();
  assert_true(p.pid >= 0);
  if (p.pid == 0) {
    if (!freopen(log, "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(126);
    execl(getenv("KF_OPERATOR"), "kubefed-operator", "--kubeconfig", it_kubeconfig_path(), "--leader-elect",
          "--leader-election-namespace", ns, "--namespace", ns, "--health-bind-address", health,
          "--metrics-bind-address", metrics, "--log-level", "debug", (char *)NULL);
    _exit(127);
  }
  started[nstarted++] = p.pid;
  return p;
}

static char *lease_holder(it_env *env, const char *ns) {
  it_result r = {0};
  kc_get(env->c, &KC_LEASES, ns, "kubefed-operator", it_cb, &r);
  it_wait(env, &r, 30000);
  char *holder = (r.rc == 0 && kc_obj_str(r.obj, "spec.holderIdentity"))
                     ? kf_strdup(kc_obj_str(r.obj, "spec.holderIdentity"))
                     : NULL;
  it_result_reset(&r);
  return holder;
}

static int holder_pid(const char *holder) {
  const char *us = holder ? strrchr(holder, '_') : NULL;
  return us ? atoi(us + 1) : 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until the lease names one of the pids; returns that pid, or 0 on timeout. */
static int wait_leader(it_env *env, const char *ns, pid_t a, pid_t b, double timeout_s) {
  double end = now_s() + timeout_s;
  while (now_s() < end) {
    char *h = lease_holder(env, ns);
    int pid = holder_pid(h);
    free(h);
    if (pid && (pid == a || pid == b)) return pid;
    usleep(200000);
  }
  return 0;
}

static void test_one_leader_and_failover(void **state) {
  it_env env;
  (void)state;
  it_env_init(&env);
  const char *ns = it_namespace(&env, "it-leader");
  /* CRDs first, as an install does: readiness waits for the Federation cache to sync. */
  char *crds = kf_asprintf("\"$(%s bin kubectl)\" --kubeconfig %s apply -f crds/ >/dev/null", getenv("HARNESS"),
                           it_kubeconfig_path());
  assert_int_equal(system(crds), 0);
  free(crds);
  proc a = start_operator(ns, "/tmp/kf-it-leader-a.log");
  proc b = start_operator(ns, "/tmp/kf-it-leader-b.log");

  int leader = wait_leader(&env, ns, a.pid, b.pid, 60);
  assert_true(leader != 0);
  proc *lead = leader == a.pid ? &a : &b, *follow = leader == a.pid ? &b : &a;

  /* Only the leader is ready; the follower is alive but not ready. */
  for (int i = 0; i < 50 && http_status(lead->port, "/readyz") != 200; i++) usleep(100000);
  assert_int_equal(http_status(lead->port, "/readyz"), 200);
  assert_int_equal(http_status(follow->port, "/readyz"), 503);
  assert_int_equal(http_status(follow->port, "/healthz"), 200);

  /* A Federation is reconciled by the leader only: its CA Secret appears, and
   * only the leader's reconcile counter moves. */
  char *cmd = kf_asprintf("\"$(%s bin kubectl)\" --kubeconfig %s -n %s apply -f - >/dev/null <<'EOF'\n"
                          "apiVersion: kubefed.dev/v1alpha1\nkind: Federation\nmetadata: {name: fellowship}\n"
                          "spec: {dns: {provider: google-clouddns, zoneName: example.com.}}\nEOF\n",
                          getenv("HARNESS"), it_kubeconfig_path(), ns);
  /* The CRDs may need a moment to be served. */
  int applied = 1;
  for (int i = 0; i < 50 && (applied = system(cmd)) != 0; i++) usleep(200000);
  assert_int_equal(applied, 0);
  free(cmd);
  it_result r = {0};
  for (int i = 0; i < 150; i++) {
    it_result_reset(&r);
    kc_get(env.c, &KC_SECRETS, ns, "fellowship-ca", it_cb, &r);
    it_wait(&env, &r, 30000);
    if (r.rc == 0) break;
    usleep(200000);
  }
  assert_int_equal(r.rc, 0);
  it_result_reset(&r);

  /* The follower keeps its hands off for a few renew periods. */
  sleep(5);
  char *h = lease_holder(&env, ns);
  assert_int_equal(holder_pid(h), lead->pid);
  free(h);
  double led = reconciles(lead), followed = reconciles(follow);
  fprintf(stderr, "kube.leader: federation reconciles: leader %.0f, follower %.0f\n", led, followed);
  assert_true(led >= 1);
  assert_true(followed == 0);

  double killed = now_s();
  kill(lead->pid, SIGKILL);
  waitpid(lead->pid, NULL, 0);
  int next = wait_leader(&env, ns, follow->pid, follow->pid, 40);
  double took = now_s() - killed;
  assert_int_equal(next, follow->pid);
  fprintf(stderr, "kube.leader: takeover after SIGKILL took %.1f s (lease 15 s, retry 2 s)\n", took);
  /* Lease duration 15 s plus one retry period 2 s, with a little slack for a slow machine. */
  assert_true(took < 15.0 + 2.0 + 3.0);
  for (int i = 0; i < 50 && http_status(follow->port, "/readyz") != 200; i++) usleep(100000);
  assert_int_equal(http_status(follow->port, "/readyz"), 200);

  /* SIGTERM: the lease is released (empty holder) and the process exits 0. */
  int status;
  kill(follow->pid, SIGTERM);
  assert_int_equal(waitpid(follow->pid, &status, 0), follow->pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  h = lease_holder(&env, ns);
  assert_non_null(h);
  assert_string_equal(h, "");
  free(h);
  it_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_leader_and_failover),
  };
  return cmocka_run_group_tests_name("kube.leader", tests, NULL, kill_started);
}
