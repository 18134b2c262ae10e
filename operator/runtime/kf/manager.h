/* manager (kf_manager_): the process around a program's controllers, as
 * controller-runtime's Manager.
 *
 * It loads the kubeconfig (or the in-cluster config), owns the HTTP engine,
 * the API client, the metrics registry and the Event recorder, serves
 * /healthz /livez /readyz /metrics, optionally elects a leader on a Lease,
 * and runs the registered runnables on the default libuv loop until SIGTERM
 * or SIGINT:
 *
 *   run:      every runnable's start_caches, then (leading, or at once without
 *             election) every start. /readyz is 200 only while not stopping,
 *             every runnable is synced and, with election, this replica leads.
 *   signal:   every close; requests in flight get up to drain_ms to finish;
 *             then the Lease is released and the handles close. run returns 0.
 *   lost lease (not stopping): log, stop the loop, run returns 1 at once: a
 *             replica that lost the lease restarts clean rather than race the
 *             new leader with stale state.
 *
 * The runtime names no product: the program passes its identity in
 * kf_manager_opts. The common flags fill the same struct (KF_MANAGER_FLAGS). */
#ifndef KF_MANAGER_H
#define KF_MANAGER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <kf/error.h>
#include <kf/ev.h>
#include <kf/flags.h>
#include <kf/informer.h>
#include <kf/kc.h>
#include <kf/metrics.h>

typedef struct kf_manager kf_manager;

typedef struct kf_manager_opts {
  /* The program's identity: borrowed, must outlive the manager (string literals). */
  const char *program; /* in messages and log lines; the default lease name */
  const char *version;
  const char *user_agent;       /* NULL: program/version */
  const char *field_manager;    /* server-side apply field manager; NULL: program */
  const char *metrics_prefix;   /* e.g. "kubefed_"; NULL: none */
  const char *event_controller; /* Events' reportingController; NULL: program */
  /* Set by the common flags (KF_MANAGER_FLAGS); borrowed from argv or the flag table. */
  const char *kubeconfig; /* NULL: $KUBECONFIG; NULL or "" there: the in-cluster config */
  const char *context;
  const char *master;     /* NULL or "": the kubeconfig's server; else this URL instead */
  const char *namespace_; /* NULL or "": all namespaces */
  int leader_elect;
  const char *lease_namespace; /* NULL: namespace_, else the config's namespace */
  const char *lease_name;      /* NULL: program */
  uint64_t lease_duration_ms, renew_deadline_ms, retry_period_ms;
  const char *health_addr;  /* /healthz /livez /readyz; NULL or "0": none */
  const char *metrics_addr; /* /metrics (the health paths too); NULL or "0": none */
  const char *log_level;    /* debug, info, warn, error; NULL: as is */
  const char *log_format;   /* text or json; NULL: as is */
  uint64_t drain_ms;        /* how long requests in flight may finish; 0: 10 s */
} kf_manager_opts;

extern const char *const kf_manager_log_levels[]; /* for KF_MANAGER_FLAGS */
extern const char *const kf_manager_log_formats[];

/* The common flags, as kf_flag initialisers for the program's one table: off is the offsetof
 * the kf_manager_opts member in the program's options struct; lease_default the default
 * --leader-election-id (a string literal). */
#define KF_MANAGER_OFF(off, field) ((off) + offsetof(kf_manager_opts, field))
#define KF_MANAGER_FLAGS(off, lease_default)                                                                      \
  {"kubeconfig",                                                                                                  \
   0,                                                                                                             \
   KF_FLAG_STRING,                                                                                                \
   0,                                                                                                             \
   KF_MANAGER_OFF(off, kubeconfig),                                                                               \
   "PATH",                                                                                                        \
   "kubeconfig to use (default: $KUBECONFIG, else the in-cluster config)",                                        \
   NULL,                                                                                                          \
   NULL,                                                                                                          \
   NULL},                                                                                                         \
      {"context",                                                                                                 \
       0,                                                                                                         \
       KF_FLAG_STRING,                                                                                            \
       0,                                                                                                         \
       KF_MANAGER_OFF(off, context),                                                                              \
       "NAME",                                                                                                    \
       "kubeconfig context (default: current-context)",                                                           \
       NULL,                                                                                                      \
       NULL,                                                                                                      \
       NULL},                                                                                                     \
      {"namespace",                                                                                               \
       0,                                                                                                         \
       KF_FLAG_STRING,                                                                                            \
       0,                                                                                                         \
       KF_MANAGER_OFF(off, namespace_),                                                                           \
       "NS",                                                                                                      \
       "watch only this namespace (default: all namespaces)",                                                     \
       NULL,                                                                                                      \
       NULL,                                                                                                      \
       NULL},                                                                                                     \
      {"leader-elect",                                                                                            \
       0,                                                                                                         \
       KF_FLAG_BOOL,                                                                                              \
       0,                                                                                                         \
       KF_MANAGER_OFF(off, leader_elect),                                                                         \
       NULL,                                                                                                      \
       "elect a leader on a Lease before reconciling",                                                            \
       "false",                                                                                                   \
       NULL,                                                                                                      \
       NULL},                                                                                                     \
      {"leader-election-namespace",                                                                               \
       0,                                                                                                         \
       KF_FLAG_STRING,                                                                                            \
       0,                                                                                                         \
       KF_MANAGER_OFF(off, lease_namespace),                                                                      \
       "NS",                                                                                                      \
       "namespace of the Lease (default: --namespace, the in-cluster namespace, or the context's namespace)",     \
       NULL,                                                                                                      \
       NULL,                                                                                                      \
       NULL},                                                                                                     \
      {"leader-election-id",                                                                                      \
       0,                                                                                                         \
       KF_FLAG_STRING,                                                                                            \
       0,                                                                                                         \
       KF_MANAGER_OFF(off, lease_name),                                                                           \
       "NAME",                                                                                                    \
       "name of the Lease",                                                                                       \
       lease_default,                                                                                             \
       NULL,                                                                                                      \
       NULL},                                                                                                     \
      {"leader-elect-lease-duration",                                                                             \
       0,                                                                                                         \
       KF_FLAG_DURATION,                                                                                          \
       0,                                                                                                         \
       KF_MANAGER_OFF(off, lease_duration_ms),                                                                    \
       "DURATION",                                                                                                \
       "how long a non-leader waits after the last renewal before taking over, e.g. after a crash (at least 1s)", \
       "15s",                                                                                                     \
       NULL,                                                                                                      \
       NULL},                                                                                                     \
      {"leader-elect-renew-deadline",                                                                             \
       0,                                                                                                         \
       KF_FLAG_DURATION,                                                                                          \
       0,                                                                                                         \
       KF_MANAGER_OFF(off, renew_deadline_ms),                                                                    \
       "DURATION",                                                                                                \
       "the leader stops leading when it cannot renew within this (less than the lease duration)",                \
       "10s",                                                                                                     \
       NULL,                                                                                                      \
       NULL},                                                                                                     \
      {"leader-elect-retry-period",                                                                               \
       0,                                                                                                         \
       KF_FLAG_DURATION,                                                                                          \
       0,                                                                                                         \
       KF_MANAGER_OFF(off, retry_period_ms),                                                                      \
       "DURATION",                                                                                                \
       "how often candidates and the leader read and renew the Lease (less than the renew deadline)",             \
       "2s",                                                                                                      \
       NULL,                                                                                                      \
       NULL},                                                                                                     \
      {"health-bind-address",                                                                                     \
       0,                                                                                                         \
       KF_FLAG_STRING,                                                                                            \
       0,                                                                                                         \
       KF_MANAGER_OFF(off, health_addr),                                                                          \
       "ADDR",                                                                                                    \
       "/healthz, /livez and /readyz; \"0\" disables",                                                            \
       ":8081",                                                                                                   \
       NULL,                                                                                                      \
       NULL},                                                                                                     \
      {"metrics-bind-address",     0,       KF_FLAG_STRING, 0,   KF_MANAGER_OFF(off, metrics_addr), "ADDR",       \
       "/metrics; \"0\" disables", ":8080", NULL,           NULL},                                                \
      {"log-level", 0,      KF_FLAG_ENUM,          0,   KF_MANAGER_OFF(off, log_level), NULL,                     \
       "log level", "info", kf_manager_log_levels, NULL},                                                         \
  {                                                                                                               \
    "log-format", 0, KF_FLAG_ENUM, 0, KF_MANAGER_OFF(off, log_format), NULL, "log format", "text",                \
        kf_manager_log_formats, NULL                                                                              \
  }

/* A controller (or anything the process runs) as the manager drives it. obj is the
 * runnable's; the manager never frees it. Every callback but start and close may be NULL. */
typedef void (*kf_manager_done_cb)(void *arg);
typedef struct kf_runnable {
  const char *name;
  void *obj;
  void (*start_caches)(void *obj); /* at kf_manager_run, on every replica: warm caches */
  int (*synced)(const void *obj);  /* for /readyz; never called once stopping */
  void (*start)(void *obj);        /* when leading, or at run without election: reconcile */
  /* On SIGTERM/SIGINT: stop taking work, let what runs finish, free obj. Calls done(arg) once when
   * its own work is finished (may be before close returns). The manager also waits for requests
   * in flight on its engine, and gives up on both after drain_ms. */
  void (*close)(void *obj, kf_manager_done_cb done, void *arg);
} kf_runnable;

/* The option rules that need no cluster: leader timings (retry < renew < lease, lease >= 1s),
 * log level and format. Returns 0 or -EINVAL with the message (usage error: exit 2). */
int kf_manager_check(const kf_manager_opts *o, kf_error *err);

/* Checks o, applies the log options, loads the config, and creates the engine, client,
 * recorder and servers on the default loop. o's strings are borrowed for the manager's life.
 * Returns 0 and *out, or a negative code with err set (exit 1); nothing is left behind. */
int kf_manager_new(const kf_manager_opts *o, kf_manager **out, kf_error *err);

/* Borrowed, valid for the manager's life: build the runnables with them. */
uv_loop_t *kf_manager_loop(const kf_manager *m);
kc_client *kf_manager_client(const kf_manager *m);
kf_metrics *kf_manager_metrics(const kf_manager *m);
ev_recorder *kf_manager_events(const kf_manager *m);
/* The shared informers (borrowed): runnables get theirs here and attach handler sets (ctrl_watch),
 * so each kind is watched once; the manager starts them after every start_caches and closes them
 * after the runnables have closed. */
informer_factory *kf_manager_informers(const kf_manager *m);
const char *kf_manager_namespace(const kf_manager *m); /* NULL: all namespaces */
int kf_manager_in_cluster(const kf_manager *m);        /* 1: no kubeconfig, the in-cluster config */

/* Registers r (copied) before kf_manager_run. 0, or -EBUSY once running. */
int kf_manager_add(kf_manager *m, const kf_runnable *r, kf_error *err);

/* Runs the loop until the process should exit and returns its exit status: 0 after a signal
 * and a drain (then call kf_manager_free), 1 after losing the lease (exit at once: the loop
 * still holds live handles, so do not free). */
int kf_manager_run(kf_manager *m);

/* Frees a manager that was never run, or whose run returned 0. NULL is a no-op. A manager
 * never run closes its runnables first (without a drain). */
void kf_manager_free(kf_manager *m);

/* The /readyz decision: 200 "ok\n", or 503 with the reason as the body. Pure. */
int kf_manager_readyz(int stopping, int synced, int leader_elect, int leading, const char **body);

#endif
