/* kubefed-operator: the process. Parses flags, loads the kubeconfig or the
 * in-cluster config, serves /healthz /readyz /metrics, optionally elects a
 * leader, and runs the controllers on one libuv loop until SIGTERM/SIGINT. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kf/ev.h>
#include "federation/federation.h"
#include "federatedcluster/federatedcluster.h"
#include <kf/httpd.h>
#include <kf/kc.h>
#include <kf/kcfg.h>
#include <kf/leader.h>
#include <kf/log.h>
#include <kf/metrics.h>
#include <kubefed/api.h>

typedef struct kf_operator {
  uv_loop_t *loop;
  http_engine *eng;
  kc_client *client;
  kf_metrics *metrics;
  leader_elector *elector;
  ev_recorder *events;
  fed_controller *federations;
  fc_controller *clusters;
  srv *health, *metrics_srv;
  uv_signal_t sigterm, sigint;
  uv_timer_t drain_timer;
  int leader_elect;
  int leading;
  int stopping;
  int exit_code;
  uint64_t stop_started_ms;
  char *lease_namespace;
} kf_operator;

static void usage(FILE *out) {
  fputs("Usage: kubefed-operator [flags]\n"
        "\n"
        "Reconciles Federation and FederatedCluster resources (kubefed.dev/v1alpha1).\n"
        "\n"
        "Flags:\n"
        "  --kubeconfig PATH              kubeconfig to use (default: $KUBECONFIG, else in-cluster config)\n"
        "  --context NAME                 kubeconfig context (default: current-context)\n"
        "  --namespace NS                 watch only this namespace (default: all namespaces)\n"
        "  --leader-elect                 elect a leader on a Lease before reconciling\n"
        "  --leader-election-namespace NS namespace of the Lease (default: --namespace, the in-cluster\n"
        "                                 namespace, or the context's namespace)\n"
        "  --leader-election-id NAME      name of the Lease (default: kubefed-operator)\n"
        "  --leader-elect-lease-duration D  how long a non-leader waits after the last renewal\n"
        "                                 before taking over, e.g. after a crash (default: 15s)\n"
        "  --leader-elect-renew-deadline D  the leader stops leading when it cannot renew within D\n"
        "                                 (default: 10s; less than the lease duration)\n"
        "  --leader-elect-retry-period D    how often candidates and the leader read and renew the Lease\n"
        "                                 (default: 2s; less than the renew deadline)\n"
        "  --health-bind-address ADDR     /healthz and /readyz (default: :8081; \"0\" disables)\n"
        "  --metrics-bind-address ADDR    /metrics (default: :8080; \"0\" disables)\n"
        "  --log-level LEVEL              debug, info, warn or error (default: info)\n"
        "  --log-format FORMAT            text or json (default: text)\n"
        "  --federation-api-access MODE   how to reach each federation's API server for its bootstrap:\n"
        "                                 service (https://F-apiserver.NS.svc, default in cluster) or\n"
        "                                 endpoint (status.endpoint, default with --kubeconfig)\n"
        "  --version                      print the version and exit\n"
        "  --help                         print this help and exit\n",
        out);
}

static void health_handler(const char *path, int *status, char **body, void *data) {
  kf_operator *op = data;
  if (strcmp(path, "/healthz") == 0 || strcmp(path, "/livez") == 0) {
    *status = 200;
    *body = kf_strdup("ok\n");
  } else if (strcmp(path, "/readyz") == 0) {
    int synced = op->federations && fed_controller_synced(op->federations) && op->clusters &&
                 fc_controller_synced(op->clusters);
    int ready = !op->stopping && synced && (!op->leader_elect || op->leading);
    *status = ready ? 200 : 503;
    *body = kf_strdup(ready ? "ok\n" : op->stopping ? "shutting down\n" : !synced ? "caches not synced\n"
                                                                                 : "not leading\n");
  } else if (strcmp(path, "/metrics") == 0) {
    kf_metrics_set(op->metrics, "process_resident_memory_bytes", "Resident memory size in bytes", "",
                   (double)kf_rss_bytes());
    kf_metrics_set(op->metrics, "process_private_memory_bytes",
                   "Resident memory not shared with other processes (RssAnon)", "", (double)kf_rss_anon_bytes());
    kf_metrics_set(op->metrics, "leader", "1 when this replica leads", "", op->leading);
    *status = 200;
    *body = kf_metrics_render(op->metrics);
  }
}

static void on_started_leading(leader_elector *le, void *data) {
  kf_operator *op = data;
  (void)le;
  op->leading = 1;
  fed_controller_start(op->federations);
  fc_controller_start(op->clusters);
}

static void on_stopped_leading(leader_elector *le, void *data) {
  kf_operator *op = data;
  (void)le;
  op->leading = 0;
  if (!op->stopping) {
    /* As controller-runtime: a replica that lost the lease exits and restarts clean,
     * rather than racing the new leader with stale in-memory state. */
    KF_ERROR("leader election lost; exiting");
    op->exit_code = 1;
    uv_stop(op->loop);
  }
}

static void op_finish(void *data) {
  kf_operator *op = data;
  ev_recorder_close(op->events);
  op->events = NULL;
  if (op->client) kc_client_close(op->client);
  op->client = NULL;
  if (op->eng) http_engine_close(op->eng);
  op->eng = NULL;
  httpd_close(op->health);
  httpd_close(op->metrics_srv);
  op->health = op->metrics_srv = NULL;
  uv_close((uv_handle_t *)&op->sigterm, NULL);
  uv_close((uv_handle_t *)&op->sigint, NULL);
  KF_INFO("stopped");
}

#define KF_DRAIN_MS 10000

/* Requests in flight get up to KF_DRAIN_MS to finish before the lease is
 * released and the connections close: a write cut off mid-way would only be
 * repeated by the next leader. */
static void op_drain(uv_timer_t *t) {
  kf_operator *op = t->data;
  uint64_t waited = uv_now(op->loop) - op->stop_started_ms;
  if (http_engine_inflight(op->eng) > 0 && waited < KF_DRAIN_MS) return;
  if (http_engine_inflight(op->eng) > 0)
    KF_WARN("requests still in flight after the drain period; cancelling them");
  uv_timer_stop(t);
  uv_close((uv_handle_t *)t, NULL);
  if (op->elector) {
    leader_elector *le = op->elector;
    op->elector = NULL;
    leader_release_and_close(le, op_finish, op);
  } else {
    op_finish(op);
  }
}

static void on_signal(uv_signal_t *s, int signum) {
  kf_operator *op = s->data;
  if (op->stopping) return;
  op->stopping = 1;
  op->stop_started_ms = uv_now(op->loop);
  KF_INFO("shutting down", "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  /* Stop watching and reconciling; what is already running finishes within the drain. */
  fed_controller_close(op->federations);
  op->federations = NULL;
  fc_controller_close(op->clusters);
  op->clusters = NULL;
  uv_timer_init(op->loop, &op->drain_timer);
  op->drain_timer.data = op;
  uv_timer_start(&op->drain_timer, op_drain, 0, 100);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"kubeconfig", required_argument, NULL, 'k'},
      {"context", required_argument, NULL, 'c'},
      {"namespace", required_argument, NULL, 'n'},
      {"leader-elect", optional_argument, NULL, 'l'},
      {"leader-election-namespace", required_argument, NULL, 'L'},
      {"leader-election-id", required_argument, NULL, 'I'},
      {"leader-elect-lease-duration", required_argument, NULL, 'D'},
      {"leader-elect-renew-deadline", required_argument, NULL, 'R'},
      {"leader-elect-retry-period", required_argument, NULL, 'P'},
      {"health-bind-address", required_argument, NULL, 'H'},
      {"metrics-bind-address", required_argument, NULL, 'M'},
      {"log-level", required_argument, NULL, 'v'},
      {"log-format", required_argument, NULL, 'f'},
      {"federation-api-access", required_argument, NULL, 'A'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *kubeconfig = getenv("KUBECONFIG"), *context = NULL, *watch_ns = NULL;
  const char *lease_ns = NULL, *lease_id = "kubefed-operator";
  const char *health_addr = ":8081", *metrics_addr = ":8080", *access = NULL;
  /* client-go's defaults; the Lease holds whole seconds, so the lease is at least 1 s. */
  uint64_t lease_ms = 15000, renew_ms = 10000, retry_ms = 2000;
  kf_operator op;
  kcfg *cfg = NULL;
  kf_error err;
  int c;

  memset(&op, 0, sizeof(op));
  kf_error_clear(&err);
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'k': kubeconfig = optarg; break;
      case 'c': context = optarg; break;
      case 'n': watch_ns = optarg; break;
      case 'l': op.leader_elect = !optarg || strcmp(optarg, "true") == 0; break;
      case 'L': lease_ns = optarg; break;
      case 'I': lease_id = optarg; break;
      case 'D':
      case 'R':
      case 'P': {
        uint64_t *dst = c == 'D' ? &lease_ms : c == 'R' ? &renew_ms : &retry_ms;
        if (kf_parse_duration_ms(optarg, dst) != 0 || *dst == 0) {
          fprintf(stderr, "kubefed-operator: --leader-elect-%s: want a positive duration such as 15s or 500ms, got %s\n",
                  c == 'D' ? "lease-duration" : c == 'R' ? "renew-deadline" : "retry-period", optarg);
          return 2;
        }
        break;
      }
      case 'H': health_addr = optarg; break;
      case 'M': metrics_addr = optarg; break;
      case 'v':
        if (kf_log_set_level_name(optarg) != 0) {
          fprintf(stderr, "kubefed-operator: --log-level: unknown level %s (debug, info, warn, error)\n", optarg);
          return 2;
        }
        break;
      case 'f':
        if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
          fprintf(stderr, "kubefed-operator: --log-format: expected text or json, got %s\n", optarg);
          return 2;
        }
        kf_log_set_json(strcmp(optarg, "json") == 0);
        break;
      case 'A':
        if (strcmp(optarg, "service") != 0 && strcmp(optarg, "endpoint") != 0) {
          fprintf(stderr, "kubefed-operator: --federation-api-access: expected service or endpoint, got %s\n", optarg);
          return 2;
        }
        access = optarg;
        break;
      case 'V': printf("kubefed-operator %s\n", KF_VERSION); return 0;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (watch_ns && !watch_ns[0]) watch_ns = NULL;
  /* As client-go: a leader must give up (renew deadline) before a candidate may take over
   * (lease duration), and must get several tries (retry period) within its deadline. */
  if (lease_ms < 1000 || renew_ms >= lease_ms || retry_ms >= renew_ms) {
    fprintf(stderr,
            "kubefed-operator: leader election needs retry-period < renew-deadline < lease-duration and a lease of at "
            "least 1s (got %llums, %llums, %llums)\n",
            (unsigned long long)retry_ms, (unsigned long long)renew_ms, (unsigned long long)lease_ms);
    return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "kubefed-operator: unexpected argument %s\n", argv[optind]);
    usage(stderr);
    return 2;
  }

  /* In the host cluster the Service is reachable; from outside only the published endpoint is. */
  fed_options fo = {.namespace_ = watch_ns,
                    .access = access ? (strcmp(access, "endpoint") == 0 ? FED_ACCESS_ENDPOINT : FED_ACCESS_SERVICE)
                              : (kubeconfig && kubeconfig[0]) ? FED_ACCESS_ENDPOINT
                                                              : FED_ACCESS_SERVICE};
  if (kubeconfig && kubeconfig[0]) {
    if (kcfg_load_file(kubeconfig, context, &cfg, &err) != 0) {
      fprintf(stderr, "kubefed-operator: %s\n", err.msg);
      return 1;
    }
  } else if (kcfg_load_in_cluster(&cfg, &err) != 0) {
    fprintf(stderr, "kubefed-operator: no --kubeconfig or $KUBECONFIG, and in-cluster config failed: %s\n",
            err.msg);
    return 1;
  }

  signal(SIGPIPE, SIG_IGN);
  op.loop = uv_default_loop();
  op.metrics = kf_metrics_new("kubefed_");
  op.eng = http_engine_new(op.loop, &err);
  if (op.eng) {
    http_engine_set_user_agent(op.eng, API_OPERATOR "/" KF_VERSION);
    op.client = kc_client_new(op.eng, cfg, &err);
  }
  if (!op.client) {
    fprintf(stderr, "kubefed-operator: %s\n", err.msg);
    return 1;
  }
  kc_client_set_field_manager(op.client, API_OPERATOR);
  kc_client_set_metrics(op.client, op.metrics);

  if (strcmp(health_addr, "0") != 0 &&
      !(op.health = httpd_start(op.loop, health_addr, health_handler, &op, &err))) {
    fprintf(stderr, "kubefed-operator: --health-bind-address: %s\n", err.msg);
    return 1;
  }
  if (strcmp(metrics_addr, "0") != 0 &&
      !(op.metrics_srv = httpd_start(op.loop, metrics_addr, health_handler, &op, &err))) {
    fprintf(stderr, "kubefed-operator: --metrics-bind-address: %s\n", err.msg);
    return 1;
  }

  uv_signal_init(op.loop, &op.sigterm);
  uv_signal_init(op.loop, &op.sigint);
  op.sigterm.data = op.sigint.data = &op;
  uv_signal_start(&op.sigterm, on_signal, SIGTERM);
  uv_signal_start(&op.sigint, on_signal, SIGINT);

  KF_INFO("starting", "version", KF_VERSION, "context", cfg->context, "server", cfg->server,
          "namespace", watch_ns ? watch_ns : "(all)", "leader-elect", op.leader_elect ? "true" : "false");

  char host[256] = "unknown";
  gethostname(host, sizeof(host) - 1);
  char *identity = kf_asprintf("%s_%ld", host, (long)getpid());
  op.events = ev_recorder_new(op.client, API_EVENT_CONTROLLER, identity);
  fo.metrics = op.metrics;
  fo.events = op.events;
  op.federations = fed_controller_new(op.loop, op.client, &fo);
  fed_controller_start_informers(op.federations);
  op.clusters = fc_controller_new(op.loop, op.client, &fo);
  fc_controller_start_informers(op.clusters);
  if (op.leader_elect) {
    op.lease_namespace = kf_strdup(lease_ns ? lease_ns : watch_ns ? watch_ns : cfg->namespace_);
    leader_opts lo = {.namespace_ = op.lease_namespace, .name = lease_id, .identity = identity,
                  .lease_duration_ms = lease_ms, .renew_deadline_ms = renew_ms, .retry_period_ms = retry_ms,
                  .on_started_leading = on_started_leading, .on_stopped_leading = on_stopped_leading,
                  .data = &op};
    op.elector = leader_new(op.client, &lo);
    leader_start(op.elector);
  } else {
    op.leading = 1;
    fed_controller_start(op.federations);
    fc_controller_start(op.clusters);
  }
  free(identity);

  uv_run(op.loop, UV_RUN_DEFAULT);
  if (op.exit_code) return op.exit_code;  /* lost leadership: exit now, handles and all */
  uv_loop_close(op.loop);
  kf_metrics_free(op.metrics);
  free(op.lease_namespace);
  kcfg_free(cfg);
  return 0;
}
