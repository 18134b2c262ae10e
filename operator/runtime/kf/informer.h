/* informer: list+watch into an indexed cache, after client-go's SharedInformer.
 *
 * Lists (paginated), then watches from the list's resourceVersion with
 * bookmarks. A watch that ends normally resumes from the last resourceVersion
 * seen; 410 Gone relists and reports the difference as add/update/delete; other
 * failures reconnect with capped exponential backoff. Objects are cached by
 * "namespace/name" (or "name") with managedFields stripped, and indexed by the
 * label keys the caller names.
 *
 * Memory: the cache holds each object as compact JSON text (a few hundred
 * bytes for a ConfigMap, against kilobytes as a json-c tree) and lists page by
 * page, so a relist never holds more than one page of parsed objects. Readers
 * get a freshly parsed object they own (json_object_put it); handlers and
 * foreach callbacks get objects borrowed for the duration of the call.
 *
 * Shared: one informer per (client, resource, namespace, selectors) serves every controller that
 * needs that kind, each with its own handler set (informer_add_handlers); informer_factory hands
 * out those shared informers, so each kind is watched once per cluster. */
#ifndef KF_INFORMER_H
#define KF_INFORMER_H

#include <json-c/json.h>
#include <stdint.h>

#include <kf/kc.h>

typedef struct informer informer;

typedef struct informer_handlers {
  void (*on_add)(informer *inf, json_object *obj, void *data);
  /* Also called with old == new on every resync. */
  void (*on_update)(informer *inf, json_object *old_obj, json_object *new_obj, void *data);
  void (*on_delete)(informer *inf, json_object *obj, void *data);
  void *data;
} informer_handlers;

typedef struct informer_opts {
  const kc_resource *res;
  const char *namespace_;     /* NULL or "": all namespaces */
  const char *label_selector; /* cache only matching objects (e.g. our children) */
  const char *field_selector;
  uint64_t resync_ms;              /* 0: no periodic resync */
  const char *const *index_labels; /* NULL-terminated label keys to index by */
  long page_size;                  /* list page size, default 500 */
  long watch_timeout_s;            /* default 300 */
  /* Called on each object before it is cached and handed to handlers: drop what no reconcile
   * reads (client-go's SetTransform), keeping metadata.name/namespace/resourceVersion. It sees the
   * object whole; metadata.managedFields and kubectl's last-applied annotation go after it. */
  void (*transform)(json_object *obj, void *data);
  void *transform_data;
  /* The first list may come from the apiserver's watch cache (resourceVersion=0, as client-go's
   * reflector), possibly a moment old; the watch then brings the rest. For the many small
   * informers of a cluster registry, which would otherwise each cost the apiserver an etcd read. */
  int list_from_cache;
  /* The watch's nesting bound (kc_watch_opts.max_depth): WATCH_TYPED_DEPTH for a built-in kind
   * spares each watch 314 KiB of parser stack; 0: deep enough for any custom resource. */
  int max_depth;
} informer_opts;

/* h (copied; may be NULL) is the first handler set. */
informer *informer_new(kc_client *c, const informer_opts *o, const informer_handlers *h);
/* Adds a handler set (copied). Added before the informer has listed, it sees every object as it
 * arrives; added later, it gets the cached objects as adds from the loop, then events. */
int informer_add_handlers(informer *inf, const informer_handlers *h);
/* Removes the handler sets whose data is data: they get no more events. */
void informer_remove_handlers(informer *inf, void *data);
/* Indexes by one more label key; -EBUSY once the informer has started listing. */
int informer_add_index(informer *inf, const char *label);
/* An index computed from each object (client-go's IndexFunc): fn returns the object's value
 * (malloc'd; NULL: not indexed), e.g. the name of the Secret it refers to, so a controller mapping
 * that Secret's events to its referrers reads those, not every object of the cache. fn must be pure
 * (the same object, the same value). -EBUSY once the informer has started listing. */
typedef char *(*informer_index_fn)(json_object *obj, void *data);
int informer_add_indexer(informer *inf, const char *name, informer_index_fn fn, void *data);
/* Calls cb for each cached object whose indexer `name` gave value; returns how many. */
size_t informer_by_index(const informer *inf, const char *name, const char *value,
                         void (*cb)(json_object *obj, void *data), void *data);
/* How many cached objects indexer `name` gave value, with no object parsed. */
size_t informer_index_count(const informer *inf, const char *name, const char *value);
/* Records watch_restarts_total and relists_total by resource. */
void informer_set_metrics(informer *inf, kf_metrics *m);
int informer_start(informer *inf);
/* The periodic resync (0: none); takes effect at informer_start. */
void informer_set_resync(informer *inf, uint64_t resync_ms);
int informer_has_synced(const informer *inf);
/* ns may be NULL for cluster-scoped objects. A new reference the caller puts; NULL when absent. */
json_object *informer_get(const informer *inf, const char *ns, const char *name);
json_object *informer_get_key(const informer *inf, const char *key);
size_t informer_len(const informer *inf);
void informer_foreach(const informer *inf, void (*cb)(json_object *obj, void *data), void *data);
/* Calls cb for each cached object whose label `key` equals value (key must be indexed). */
size_t informer_by_label(const informer *inf, const char *key, const char *value,
                         void (*cb)(json_object *obj, void *data), void *data);
const char *informer_resource_version(const informer *inf);
/* Read your own writes (client-go's MutationCache, in the informer where client-go wanted it):
 * a controller that wrote obj (the server's answer) stores it over the cached copy when that copy
 * is older, so its next reconcile, which may start before the watch delivers the change, does not
 * see the object from before its write and write again. No handler is called; the watch event
 * that follows is an update like any other. 1 when stored. */
int informer_update_cache(informer *inf, json_object *obj);
/* Counters for metrics and tests. */
uint64_t informer_watch_restarts(const informer *inf);
uint64_t informer_relists(const informer *inf);
/* Stops watching (the cache stays, frozen) until informer_resume, which
 * continues from the last resourceVersion seen, relisting if it has expired. */
void informer_pause(informer *inf);
void informer_resume(informer *inf);
/* "ns/name" for namespaced objects, "name" otherwise. Caller frees. */
char *informer_key_of(json_object *obj);
/* Stops list/watch and frees the informer once its requests have ended. */
void informer_close(informer *inf);

/* ---- informer_factory: shared informers ----
 *
 * informer_factory_get returns the informer for (client, resource, namespace, label selector,
 * field selector), creating it on first use: the first caller's page size, watch timeout and
 * transform hold, index labels accumulate (before start), resync is the shortest asked for. The
 * factory owns its informers: callers add handler sets and read caches, and never close them. */
typedef struct informer_factory informer_factory;

informer_factory *informer_factory_new(kf_metrics *m);
/* Borrowed; NULL with *rc set when o asks for an index after the informer started (-EBUSY). */
informer *informer_factory_get(informer_factory *f, kc_client *c, const informer_opts *o, int *rc);
/* Starts every informer not started yet (informers got after this start at once). */
void informer_factory_start(informer_factory *f);
/* 1 when every informer of the factory (of client c, when c is not NULL) has listed. */
int informer_factory_synced(const informer_factory *f, const kc_client *c);
/* Stops every watch, caches kept (shutting down: readers may still run; a drain waits for
 * requests in flight and a watch never ends on its own). */
void informer_factory_pause(informer_factory *f);
/* Closes the informers of client c (a member that left); their handlers get no more events. */
void informer_factory_forget(informer_factory *f, const kc_client *c);
/* Closes every informer and frees the factory; callers' handlers get no more events. */
void informer_factory_close(informer_factory *f);

#endif
