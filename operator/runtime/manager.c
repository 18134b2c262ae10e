/* manager: the process around the controllers (see kf/manager.h).
 *
 * Map: option checks -> the health/metrics handler -> leader callbacks ->
 * shutdown in the order it runs (on_signal -> drain_tick -> finish) ->
 * kf_manager_new / add / run / free. */
#include <kf/manager.h>

#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kf/http.h>
#include <kf/httpd.h>
#include <kf/kcfg.h>
#include <kf/leader.h>
#include <kf/log.h>

#define DEFAULT_DRAIN_MS 10000
#define DRAIN_POLL_MS 100

const char *const kf_manager_log_levels[] = {"debug", "info", "warn", "error", NULL};
const char *const kf_manager_log_formats[] = {"text", "json", NULL};

struct kf_manager {
  kf_manager_opts o; /* strings borrowed, see kf_manager_new */
  uv_loop_t *loop;
  kcfg *cfg;
  kf_metrics *metrics;
  http_engine *eng;
  kc_client *client;
  ev_recorder *events;
  informer_factory *informers; /* shared by every runnable; started with their caches */
  leader_elector *elector;
  srv *health, *metrics_srv;
  uv_signal_t sigterm, sigint;
  uv_timer_t drain_timer;
  uv_timer_t trim_timer; /* gives free heap pages back (kf_manager_trim) */
  int handles;           /* the signal and timer handles are initialised */
  kf_runnable *runnables;
  size_t n;
  size_t closing; /* runnables whose close has not called done */
  char *identity, *lease_namespace;
  const char *namespace_;
  int in_cluster; /* no kubeconfig: the service account's config */
  int running, leading, stopping, finished, exit_code;
  uint64_t stop_started_ms;
};

static int one_of(const char *const *list, const char *s) {
  for (; *list; list++)
    if (strcmp(*list, s) == 0) return 1;
  return 0;
}

int kf_manager_check(const kf_manager_opts *o, kf_error *err) {
  uint64_t lease = o->lease_duration_ms, renew = o->renew_deadline_ms, retry = o->retry_period_ms;
  if (o->log_level && !one_of(kf_manager_log_levels, o->log_level))
    return kf_error_set(err, -EINVAL, "--log-level: unknown level %s (debug, info, warn, error)", o->log_level);
  if (o->log_format && !one_of(kf_manager_log_formats, o->log_format))
    return kf_error_set(err, -EINVAL, "--log-format: expected text or json, got %s", o->log_format);
  /* As client-go: a leader must give up (renew deadline) before a candidate may take over
   * (lease duration), and must get several tries (retry period) within its deadline. The
   * Lease holds whole seconds, so the lease is at least 1 s. */
  if (lease < 1000 || renew >= lease || retry >= renew || retry == 0)
    return kf_error_set(err, -EINVAL,
                        "leader election needs 0 < retry-period < renew-deadline < lease-duration and a lease of "
                        "at least 1s (got %llums, %llums, %llums)",
                        (unsigned long long)retry, (unsigned long long)renew, (unsigned long long)lease);
  return 0;
}

int kf_manager_readyz(int stopping, int synced, int leader_elect, int leading, const char **body) {
  int ready = !stopping && synced && (!leader_elect || leading);
  *body = ready ? "ok\n" : stopping ? "shutting down\n" : !synced ? "caches not synced\n" : "not leading\n";
  return ready ? 200 : 503;
}

static int all_synced(const kf_manager *m) {
  for (size_t i = 0; i < m->n; i++)
    if (m->runnables[i].synced && !m->runnables[i].synced(m->runnables[i].obj)) return 0;
  return 1;
}

/* httpd calls this for every request on either server. */
static void on_http(const char *path, int *status, char **body, void *data) {
  kf_manager *m = data;
  if (strcmp(path, "/healthz") == 0 || strcmp(path, "/livez") == 0) {
    *status = 200;
    *body = kf_strdup("ok\n");
  } else if (strcmp(path, "/readyz") == 0) {
    const char *text;
    /* Runnables are closed (maybe freed) once stopping: ask them only before. */
    int synced = !m->stopping && m->running && all_synced(m);
    *status = kf_manager_readyz(m->stopping, synced, m->o.leader_elect, m->leading, &text);
    *body = kf_strdup(text);
  } else if (strcmp(path, "/metrics") == 0) {
    kf_metrics_set(m->metrics, "process_resident_memory_bytes", "Resident memory size in bytes", "",
                   (double)kf_rss_bytes());
    kf_metrics_set(m->metrics, "process_private_memory_bytes",
                   "Resident memory not shared with other processes (RssAnon)", "", (double)kf_rss_anon_bytes());
    struct mallinfo2 mi = mallinfo2();
    kf_metrics_set(m->metrics, "process_heap_inuse_bytes", "malloc'd memory in use (mallinfo2 uordblks + hblkhd)", "",
                   (double)(mi.uordblks + mi.hblkhd));
    kf_metrics_set(m->metrics, "process_heap_free_bytes", "Free memory held by malloc (mallinfo2 fordblks)", "",
                   (double)mi.fordblks);
    kf_metrics_set(m->metrics, "leader", "1 when this replica leads", "", m->leading);
    if (m->events) {
      static const char help[] = "Events accepted (written or queued) and dropped (spam filter, full queue)";
      kf_metrics_set(m->metrics, "events_total", help, "result=\"accepted\"", (double)ev_recorder_posted(m->events));
      kf_metrics_set(m->metrics, "events_total", help, "result=\"dropped\"", (double)ev_recorder_dropped(m->events));
    }
    *status = 200;
    *body = kf_metrics_render(m->metrics);
  }
}

static void start_all(kf_manager *m) {
  for (size_t i = 0; i < m->n; i++) m->runnables[i].start(m->runnables[i].obj);
}

/* The elector calls these two. */
static void on_started_leading(leader_elector *le, void *data) {
  kf_manager *m = data;
  (void)le;
  m->leading = 1;
  start_all(m);
}

static void on_stopped_leading(leader_elector *le, void *data) {
  kf_manager *m = data;
  (void)le;
  m->leading = 0;
  if (!m->stopping) {
    /* As controller-runtime: a replica that lost the lease exits and restarts clean,
     * rather than racing the new leader with stale in-memory state. */
    KF_ERROR("leader election lost; exiting");
    m->exit_code = 1;
    uv_stop(m->loop);
  }
}

/* Closes what the manager owns; the loop then runs out. Also the failure path of new. */
static void finish(void *data) {
  kf_manager *m = data;
  m->finished = 1;
  ev_recorder_close(m->events);
  m->events = NULL;
  /* The runnables have detached their handlers (or the drain gave up on them). */
  informer_factory_close(m->informers);
  m->informers = NULL;
  if (m->client) kc_client_close(m->client);
  m->client = NULL;
  if (m->eng) http_engine_close(m->eng);
  m->eng = NULL;
  httpd_close(m->health);
  httpd_close(m->metrics_srv);
  m->health = m->metrics_srv = NULL;
  if (m->handles) {
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    if (!uv_is_closing((uv_handle_t *)&m->drain_timer)) uv_close((uv_handle_t *)&m->drain_timer, NULL);
    uv_close((uv_handle_t *)&m->trim_timer, NULL);
    m->handles = 0;
  }
  if (m->running) KF_INFO("stopped");
}

/* A runnable's close calls this once its own work is done. */
static void on_runnable_closed(void *arg) {
  kf_manager *m = arg;
  if (m->closing > 0) m->closing--;
}

static void close_runnables(kf_manager *m) {
  m->closing = m->n;
  for (size_t i = 0; i < m->n; i++) {
    if (m->runnables[i].close) m->runnables[i].close(m->runnables[i].obj, on_runnable_closed, m);
    else on_runnable_closed(m);
  }
}

/* Every DRAIN_POLL_MS after a signal. Requests in flight get up to drain_ms to finish before
 * the lease is released and the connections close: a write cut off mid-way would only be
 * repeated by the next leader. */
static void drain_tick(uv_timer_t *t) {
  kf_manager *m = t->data;
  uint64_t waited = uv_now(m->loop) - m->stop_started_ms;
  int busy = http_engine_inflight(m->eng) > 0 || m->closing > 0;
  if (busy && waited < m->o.drain_ms) return;
  if (http_engine_inflight(m->eng) > 0) KF_WARN("requests still in flight after the drain period; cancelling them");
  if (m->closing > 0) KF_WARN("controllers still closing after the drain period; closing the connections");
  uv_timer_stop(t);
  uv_close((uv_handle_t *)t, NULL);
  if (m->elector) {
    leader_elector *le = m->elector;
    m->elector = NULL;
    leader_release_and_close(le, finish, m);
  } else {
    finish(m);
  }
}

static void on_signal(uv_signal_t *s, int signum) {
  kf_manager *m = s->data;
  if (m->stopping) return;
  m->stopping = 1;
  m->stop_started_ms = uv_now(m->loop);
  KF_INFO("shutting down", "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  /* Stop watching and reconciling; what is already running finishes within the drain. */
  informer_factory_pause(m->informers);
  close_runnables(m);
  uv_timer_start(&m->drain_timer, drain_tick, 0, DRAIN_POLL_MS);
}

/* Frees what finish and the loop do not: the caller made sure the loop ran out. */
static void free_memory(kf_manager *m) {
  uv_loop_close(m->loop);
  kf_metrics_free(m->metrics);
  kcfg_free(m->cfg);
  free(m->runnables);
  free(m->identity);
  free(m->lease_namespace);
  free(m);
}

static int load_config(kf_manager *m, kf_error *err) {
  const char *path = m->o.kubeconfig ? m->o.kubeconfig : getenv("KUBECONFIG");
  int rc;
  if (path && path[0]) {
    rc = kcfg_load_file(path, m->o.context, &m->cfg, err);
  } else {
    m->in_cluster = 1;
    if ((rc = kcfg_load_in_cluster(&m->cfg, err)) != 0) {
      char msg[sizeof(err->msg)];
      snprintf(msg, sizeof(msg), "%s", err->msg);
      kf_error_set(err, rc, "no --kubeconfig or $KUBECONFIG, and in-cluster config failed: %s", msg);
    }
  }
  if (rc != 0 || !m->o.master || !m->o.master[0]) return rc;
  /* client-go's BuildConfigFromFlags(master, kubeconfig): the credentials stay, the server moves. */
  if (strncmp(m->o.master, "https://", 8) != 0)
    return kf_error_set(err, -EINVAL, "--master %s: not an https:// URL", m->o.master);
  free(m->cfg->server);
  m->cfg->server = kf_strdup(m->o.master);
  size_t n = strlen(m->cfg->server);
  while (n > 0 && m->cfg->server[n - 1] == '/') m->cfg->server[--n] = '\0';
  return 0;
}

static int serve(kf_manager *m, const char *addr, const char *flag, srv **out, kf_error *err) {
  if (!addr || strcmp(addr, "0") == 0) return 0;
  if ((*out = httpd_start(m->loop, addr, on_http, m, err))) return 0;
  char msg[sizeof(err->msg)];
  snprintf(msg, sizeof(msg), "%s", err->msg);
  return kf_error_set(err, err->code ? err->code : -EINVAL, "--%s: %s", flag, msg);
}

static int build(kf_manager *m, kf_error *err) {
  const kf_manager_opts *o = &m->o;
  int rc;
  if ((rc = load_config(m, err)) != 0) return rc;
  signal(SIGPIPE, SIG_IGN);
  m->metrics = kf_metrics_new(o->metrics_prefix ? o->metrics_prefix : "");
  if (!(m->eng = http_engine_new(m->loop, err))) return err->code ? err->code : -ENOMEM;
  char *ua = o->user_agent ? NULL : kf_asprintf("%s/%s", o->program, o->version ? o->version : "");
  http_engine_set_user_agent(m->eng, o->user_agent ? o->user_agent : ua);
  free(ua);
  if (!(m->client = kc_client_new(m->eng, m->cfg, err))) return err->code ? err->code : -EINVAL;
  kc_client_set_field_manager(m->client, o->field_manager ? o->field_manager : o->program);
  kc_client_set_metrics(m->client, m->metrics);
  m->informers = informer_factory_new(m->metrics);
  if ((rc = serve(m, o->health_addr, "health-bind-address", &m->health, err)) != 0) return rc;
  if ((rc = serve(m, o->metrics_addr, "metrics-bind-address", &m->metrics_srv, err)) != 0) return rc;

  uv_signal_init(m->loop, &m->sigterm);
  uv_signal_init(m->loop, &m->sigint);
  uv_timer_init(m->loop, &m->drain_timer);
  uv_timer_init(m->loop, &m->trim_timer);
  uv_unref((uv_handle_t *)&m->trim_timer); /* never what keeps the loop alive */
  m->sigterm.data = m->sigint.data = m->drain_timer.data = m->trim_timer.data = m;
  m->handles = 1;
  uv_signal_start(&m->sigterm, on_signal, SIGTERM);
  uv_signal_start(&m->sigint, on_signal, SIGINT);

  char host[256] = "unknown";
  gethostname(host, sizeof(host) - 1);
  m->identity = kf_asprintf("%s_%ld", host, (long)getpid());
  m->events = ev_recorder_new(m->client, o->event_controller ? o->event_controller : o->program, m->identity);
  return 0;
}

/* glibc's malloc tuned for one loop thread with a small pool (key generation): the private memory
 * must not depend on the process's history. By default the mmap threshold follows the largest
 * block freed so far (up to 32 MiB): after the first large response body is freed, later ones come
 * from the heap, where they fragment it and their pages stay resident, so two runs of the same
 * work ended with twice the memory of each other. Fixed thresholds keep large bodies in mmap
 * (returned whole when freed) and trim the heap's top; two arenas bound what the pool's threads
 * keep for themselves. */
#define TRIM_PERIOD_MS 30000
#define TRIM_MIN_FREE (8u << 20)

/* Free heap pages are given back when they are many: glibc returns only the heap's top by itself,
 * so after a burst (a thousand joins, a relist) the holes stay resident and the private memory
 * would say more about the past than about what the process holds. A walk of the heap every 30 s
 * at most, and only when a quarter of it (8 MiB at least) is free. */
static void kf_manager_trim(uv_timer_t *t) {
  (void)t;
  struct mallinfo2 mi = mallinfo2();
  if (mi.fordblks >= TRIM_MIN_FREE && mi.fordblks * 4 >= mi.uordblks) malloc_trim(0);
}

static void kf_manager_malloc_tune(void) {
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  mallopt(M_TRIM_THRESHOLD, 256 * 1024);
}

int kf_manager_new(const kf_manager_opts *o, kf_manager **out, kf_error *err) {
  int rc;
  *out = NULL;
  if ((rc = kf_manager_check(o, err)) != 0) return rc;
  kf_manager_malloc_tune();
  if (o->log_level) kf_log_set_level_name(o->log_level);
  if (o->log_format) kf_log_set_json(strcmp(o->log_format, "json") == 0);
  kf_manager *m = kf_calloc(1, sizeof(*m));
  m->o = *o;
  if (!m->o.drain_ms) m->o.drain_ms = DEFAULT_DRAIN_MS;
  if (!m->o.lease_name) m->o.lease_name = o->program;
  m->namespace_ = o->namespace_ && o->namespace_[0] ? o->namespace_ : NULL;
  m->loop = uv_default_loop();
  if ((rc = build(m, err)) != 0) {
    finish(m);
    uv_run(m->loop, UV_RUN_DEFAULT);
    free_memory(m);
    return rc;
  }
  *out = m;
  return 0;
}

uv_loop_t *kf_manager_loop(const kf_manager *m) { return m->loop; }
kc_client *kf_manager_client(const kf_manager *m) { return m->client; }
kf_metrics *kf_manager_metrics(const kf_manager *m) { return m->metrics; }
ev_recorder *kf_manager_events(const kf_manager *m) { return m->events; }
informer_factory *kf_manager_informers(const kf_manager *m) { return m->informers; }
const char *kf_manager_namespace(const kf_manager *m) { return m->namespace_; }
int kf_manager_in_cluster(const kf_manager *m) { return m->in_cluster; }

int kf_manager_add(kf_manager *m, const kf_runnable *r, kf_error *err) {
  if (m->running || m->stopping)
    return kf_error_set(err, -EBUSY, "runnable %s added after the manager started", r->name);
  if (!r->start) return kf_error_set(err, -EINVAL, "runnable %s has no start", r->name);
  m->runnables = kf_realloc(m->runnables, (m->n + 1) * sizeof(*m->runnables));
  m->runnables[m->n++] = *r;
  return 0;
}

int kf_manager_run(kf_manager *m) {
  m->running = 1;
  uv_timer_start(&m->trim_timer, kf_manager_trim, TRIM_PERIOD_MS, TRIM_PERIOD_MS);
  KF_INFO("starting", "version", m->o.version ? m->o.version : "", "context", m->cfg->context, "server", m->cfg->server,
          "namespace", m->namespace_ ? m->namespace_ : "(all)", "leader-elect", m->o.leader_elect ? "true" : "false");
  for (size_t i = 0; i < m->n; i++)
    if (m->runnables[i].start_caches) m->runnables[i].start_caches(m->runnables[i].obj);
  informer_factory_start(m->informers);
  if (m->o.leader_elect) {
    const char *ns = m->o.lease_namespace ? m->o.lease_namespace : m->namespace_ ? m->namespace_ : m->cfg->namespace_;
    m->lease_namespace = kf_strdup(ns);
    leader_opts lo = {.namespace_ = m->lease_namespace,
                      .name = m->o.lease_name,
                      .identity = m->identity,
                      .lease_duration_ms = m->o.lease_duration_ms,
                      .renew_deadline_ms = m->o.renew_deadline_ms,
                      .retry_period_ms = m->o.retry_period_ms,
                      .on_started_leading = on_started_leading,
                      .on_stopped_leading = on_stopped_leading,
                      .data = m};
    m->elector = leader_new(m->client, &lo);
    leader_start(m->elector);
  } else {
    m->leading = 1;
    start_all(m);
  }
  uv_run(m->loop, UV_RUN_DEFAULT);
  return m->exit_code;
}

void kf_manager_free(kf_manager *m) {
  if (!m) return;
  if (!m->finished) {
    m->stopping = 1;
    close_runnables(m);
    finish(m);
    uv_run(m->loop, UV_RUN_DEFAULT);
  }
  free_memory(m);
}
