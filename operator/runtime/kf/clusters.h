/* clusters: a registry of member clusters, each one cached client plus its watches and probe.
 *
 * A controller that talks to many clusters (a member per FederatedCluster, a federation API per
 * Federation) must not build a client per reconcile: each new client is a TLS handshake, and the
 * watches that catch drift in a member need a connection that lives as long as the member. The
 * registry keeps, per key:
 *
 *   client   built from a kubeconfig (bytes, context, server override) on the parent client's
 *            engine and field manager (kc_client_derive), and rebuilt only when those inputs
 *            change (compared by SHA-256, so no copy of the credential is kept beyond the client's
 *            own); closed when the member goes. Each client has a connection of its own
 *            (kc_client_isolate): one TLS connection per member that its watches, probes and
 *            requests multiplex over (HTTP/2), as when each member is its own cluster, even where
 *            members share a server and credentials.
 *   watches  up to CLUSTERS_MAX_WATCHES informers on that client, by slot; any add, update or
 *            delete in one calls on_change with the member's key (e.g. to enqueue its owner).
 *            A slot is restarted only when its options change or the client is rebuilt.
 *   probe    GET /readyz (/healthz when the server has no /readyz) every period from its own timer,
 *            each result reported to on_probe: health is a runnable of its own, not a side effect
 *            of reconciles.
 *
 * Everything runs on the parent's loop. Pointers returned (client, informer) are borrowed: valid
 * until the member is removed or its client rebuilt (its calls then end with KC_ERR_CANCELED).
 * No product names: callers pass theirs through the parent client. */
#ifndef KF_CLUSTERS_H
#define KF_CLUSTERS_H

#include <stddef.h>
#include <stdint.h>

#include <kf/informer.h>
#include <kf/kc.h>
#include <kf/metrics.h>

#define CLUSTERS_MAX_WATCHES 6

typedef struct clusters clusters;

typedef struct clusters_opts {
  kc_client *parent;   /* engine and field manager of every member client */
  kf_metrics *metrics; /* may be NULL */
  const char *target;  /* the metrics target of member clients (kc_client_set_metrics_target) */
  uint64_t timeout_ms; /* per-attempt timeout of member requests (0: the client's default) */
  int max_attempts;    /* attempts per member call (0: the client's default) */
  /* A watched object of member key changed (added, updated or deleted). */
  void (*on_change)(clusters *cl, const char *key, json_object *obj, void *data);
  /* One probe of member key ended: rc 0 (healthy) or the error (err never NULL then). */
  void (*on_probe)(clusters *cl, const char *key, int rc, const kf_error *err, void *data);
  void *data;
} clusters_opts;

/* Where a member's client comes from. */
typedef struct clusters_source {
  const char *kubeconfig; /* kubeconfig text (not necessarily NUL-terminated) */
  size_t len;
  const char *context; /* NULL: the current context */
  const char *server;  /* NULL: the kubeconfig's server; else this one instead */
} clusters_source;

clusters *clusters_new(const clusters_opts *o);

/* The client of member key for src: the cached one when src is what it was built from, else a
 * new one (the old one, its watches and probe are closed and the watches restarted on the new
 * one). Returns 0 and *out (borrowed), or the kubeconfig's error (-ENOTSUP for credentials the
 * runtime refuses, -EINVAL, ...) with err set; the member keeps its previous client then. */
int clusters_client(clusters *cl, const char *key, const clusters_source *src, kc_client **out, kf_error *err);
/* The member's client, or NULL when it has none (never built). */
kc_client *clusters_get(const clusters *cl, const char *key);

/* Runs an informer with opts (handlers are the registry's) in the member's slot, replacing what
 * the slot ran when opts differ (resource, namespace, selectors); opts NULL stops the slot.
 * -ENOENT when the member has no client, -EINVAL for a bad slot. */
int clusters_watch(clusters *cl, const char *key, size_t slot, const informer_opts *opts);
/* The slot's informer once it has synced (its cache is complete), else NULL. */
const informer *clusters_cache(const clusters *cl, const char *key, size_t slot);
/* Stops (and resumes) every watch of the member, caches kept: a member that does not answer is
 * not asked again and again (kubefed v2 stops the informers of a cluster that goes offline). */
void clusters_pause(clusters *cl, const char *key);
void clusters_resume(clusters *cl, const char *key);

/* Probes the member every period_ms, each probe cut at timeout_ms; the first probe comes within
 * min(period, 1 s) (spread, so members added together are not probed together). A change of
 * either restarts the timer; period_ms 0 stops probing. -ENOENT when the member has no client. */
int clusters_probe(clusters *cl, const char *key, uint64_t period_ms, uint64_t timeout_ms);

/* Caller data kept with the member (e.g. its health), freed with free_fn when the member goes. */
void *clusters_data(const clusters *cl, const char *key);
int clusters_set_data(clusters *cl, const char *key, void *data, void (*free_fn)(void *));

/* Shutting down: every member's watches paused and probes stopped, clients kept for the calls
 * still running (a drain waits for requests in flight; a watch never ends on its own). */
void clusters_quiesce(clusters *cl);
/* Closes the member's watches, probe and client. A key that is not there is fine. */
void clusters_remove(clusters *cl, const char *key);
size_t clusters_len(const clusters *cl);
/* Removes every member and frees the registry once their requests have ended. */
void clusters_close(clusters *cl);

#endif
