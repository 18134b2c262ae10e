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
 * foreach callbacks get objects borrowed for the duration of the call. */
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
  const char *namespace_;        /* NULL or "": all namespaces */
  const char *label_selector;    /* cache only matching objects (e.g. our children) */
  const char *field_selector;
  uint64_t resync_ms;            /* 0: no periodic resync */
  const char *const *index_labels; /* NULL-terminated label keys to index by */
  long page_size;                /* list page size, default 500 */
  long watch_timeout_s;          /* default 300 */
  /* Optional: trims an object in place before it is cached and handed to the handlers (drop
   * what no reader compares, e.g. a Secret's keys but one), so a cache per member stays small. */
  void (*transform)(json_object *obj);
} informer_opts;

informer *informer_new(kc_client *c, const informer_opts *o, const informer_handlers *h);
/* Records kubefed_watch_restarts_total and kubefed_relists_total by resource. */
void informer_set_metrics(informer *inf, kf_metrics *m);
int informer_start(informer *inf);
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

#endif
