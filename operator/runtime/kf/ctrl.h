/* ctrl: ties informers, a work queue and an asynchronous reconcile function,
 * like controller-runtime's Controller.
 *
 * Informer events become keys ("ns/name") on a rate-limited queue; up to
 * `workers` keys reconcile at once, never the same key twice at once. The
 * reconcile function is asynchronous: it must call ctrl_done exactly once for
 * the key it was given, possibly from a later loop iteration. */
#ifndef KF_CTRL_H
#define KF_CTRL_H

#include <json-c/json.h>
#include <stdint.h>
#include <uv.h>

#include <kf/informer.h>
#include <kf/metrics.h>
#include <kf/wq.h>

typedef struct ctrl ctrl;

/* key stays valid until ctrl_done(c, key, ...) returns. */
typedef void (*ctrl_reconcile_fn)(ctrl *c, const char *key, void *data);
/* Maps an event's object to the key of the object to reconcile (malloc'd), or NULL to ignore. */
typedef char *(*ctrl_map_fn)(json_object *obj, void *data);

typedef struct ctrl_opts {
  const char *name; /* for logs and metrics */
  int workers;      /* concurrent reconciles, default 16 */
  ctrl_reconcile_fn reconcile;
  void *data;
  kf_metrics *metrics;
  wq_options queue; /* ready/data are set by the controller */
} ctrl_opts;

ctrl *ctrl_new(uv_loop_t *loop, const ctrl_opts *o);
/* Handlers that feed this controller's queue: map NULL enqueues the object's own
 * key. The returned struct's data is owned by the controller. */
informer_handlers ctrl_handlers(ctrl *c, ctrl_map_fn map, void *map_data);
/* controller-runtime's Watches: a handler set on inf (shared with other controllers) that feeds
 * this queue; ctrl_close detaches it, so the informer may outlive the controller. */
int ctrl_watch(ctrl *c, informer *inf, ctrl_map_fn map, void *map_data);
void ctrl_enqueue(ctrl *c, const char *key);
void ctrl_enqueue_after(ctrl *c, const char *key, uint64_t delay_ms);
/* Keys are queued from the start but only reconciled after ctrl_start (e.g. once leading). */
void ctrl_start(ctrl *c);
/* rc < 0: failure, retried with backoff. requeue_after_ms > 0: reconcile again later. */
void ctrl_done(ctrl *c, const char *key, int rc, uint64_t requeue_after_ms);
int ctrl_idle(const ctrl *c); /* nothing queued, delayed or running */
uint64_t ctrl_reconciles(const ctrl *c);
wq *ctrl_queue(ctrl *c);
void ctrl_close(ctrl *c);

/* "ns/name" -> ns and name (both malloc'd; ns NULL for cluster-scoped keys). */
void ctrl_split_key(const char *key, char **ns, char **name);

#endif
