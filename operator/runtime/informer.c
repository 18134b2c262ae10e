#include <kf/informer.h>

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <kf/kj.h>
#include <kf/log.h>
#include <kf/watch.h>

#define INFORMER_BACKOFF_MIN_MS 200
#define INFORMER_BACKOFF_MAX_MS 30000
/* A list at least this long leaves enough parsed pages in malloc's free lists to give back;
 * malloc_trim walks the whole heap, so the many small lists of a cluster registry's watches (a
 * few objects each, thousands at once) must not each pay for it. */
#define INFORMER_TRIM_ITEMS 500

typedef struct informer__indexer {
  char *name;
  informer_index_fn fn;
  void *data;
} informer__indexer;

struct informer {
  kc_client *c;
  const kc_resource *res;
  char *ns, *label_selector, *field_selector;
  char **index_labels;
  size_t n_index_labels;
  informer__indexer *indexers;
  size_t n_indexers;
  uint64_t resync_ms;
  long page_size, watch_timeout_s;
  informer_handlers *sets; /* every handler set, in the order added */
  size_t n_sets;
  size_t replay_from; /* sets at or after this index still get the cached objects as adds */
  void (*transform)(json_object *obj, void *data);
  void *transform_data;
  int list_from_cache; /* first list with resourceVersion=0 (client-go's reflector) */
  int max_depth;       /* the watch's nesting bound; 0: the default */
  json_object *store;  /* key -> compact JSON text of the object (json string) */
  json_object *fresh;  /* during a relist: keys seen so far */
  json_object *index;  /* "label=value" -> {key: null} */
  char *rv;            /* last resourceVersion seen */
  int synced;
  int closing;
  int paused;
  int listing;       /* a list is in flight */
  size_t list_items; /* objects in the list so far */
  kc_watch *watch;
  uv_timer_t timer; /* backoff before relist/rewatch */
  uv_timer_t resync;
  uv_timer_t replay; /* hands the cache to handler sets added after the list, from the loop */
  int handles_open;
  uint64_t backoff_ms;
  uint64_t restarts, relists;
  kf_metrics *metrics;
  char labels[96];
};

static void informer_list(informer *inf);
static void informer_watch(informer *inf);

char *informer_key_of(json_object *obj) {
  const char *ns = kc_obj_str(obj, "metadata.namespace");
  const char *name = kc_obj_str(obj, "metadata.name");
  if (!name) return NULL;
  return (ns && ns[0]) ? kf_asprintf("%s/%s", ns, name) : kf_strdup(name);
}

informer *informer_new(kc_client *c, const informer_opts *o, const informer_handlers *h) {
  informer *inf = kf_calloc(1, sizeof(*inf));
  uv_loop_t *loop = http_engine_loop(kc_client_engine(c));
  inf->c = c;
  inf->res = o->res;
  inf->ns = (o->namespace_ && o->namespace_[0]) ? kf_strdup(o->namespace_) : NULL;
  inf->label_selector = o->label_selector ? kf_strdup(o->label_selector) : NULL;
  inf->field_selector = o->field_selector ? kf_strdup(o->field_selector) : NULL;
  inf->resync_ms = o->resync_ms;
  inf->page_size = o->page_size > 0 ? o->page_size : 500;
  inf->watch_timeout_s = o->watch_timeout_s > 0 ? o->watch_timeout_s : 300;
  for (const char *const *l = o->index_labels; l && *l; l++) inf->n_index_labels++;
  inf->index_labels = kf_calloc(inf->n_index_labels + 1, sizeof(char *));
  for (size_t i = 0; i < inf->n_index_labels; i++) inf->index_labels[i] = kf_strdup(o->index_labels[i]);
  inf->transform = o->transform;
  inf->transform_data = o->transform_data;
  inf->list_from_cache = o->list_from_cache;
  inf->max_depth = o->max_depth;
  inf->store = json_object_new_object();
  inf->index = json_object_new_object();
  uv_timer_init(loop, &inf->timer);
  uv_timer_init(loop, &inf->resync);
  uv_timer_init(loop, &inf->replay);
  inf->timer.data = inf;
  inf->resync.data = inf;
  inf->replay.data = inf;
  inf->handles_open = 3;
  if (h) informer_add_handlers(inf, h);
  snprintf(inf->labels, sizeof(inf->labels), "resource=\"%s\"", inf->res->resource);
  return inf;
}

void informer_set_metrics(informer *inf, kf_metrics *m) { inf->metrics = m; }
void informer_set_resync(informer *inf, uint64_t resync_ms) { inf->resync_ms = resync_ms; }

/* ---- cache ---- */

static json_object *informer_parse(json_object *text) {
  return text ? kj_parse(json_object_get_string(text), (size_t)json_object_get_string_len(text)) : NULL;
}

/* Adds key to (or removes it from) the index entry ik; takes ik. */
static void informer_index_set(informer *inf, char *ik, const char *key, int add) {
  json_object *set;
  if (!json_object_object_get_ex(inf->index, ik, &set)) {
    if (!add) {
      free(ik);
      return;
    }
    set = json_object_new_object();
    json_object_object_add(inf->index, ik, set);
  }
  if (add) {
    json_object_object_add(set, key, NULL);
  } else {
    json_object_object_del(set, key);
    if (json_object_object_length(set) == 0) json_object_object_del(inf->index, ik);
  }
  free(ik);
}

static void informer_index_update(informer *inf, const char *key, json_object *obj, int add) {
  json_object *labels = kc_obj_get(obj, "metadata.labels");
  /* Indexer entries are "#name=value": no label key starts with '#'. */
  for (size_t i = 0; obj && i < inf->n_indexers; i++) {
    char *v = inf->indexers[i].fn(obj, inf->indexers[i].data);
    if (v) informer_index_set(inf, kf_asprintf("#%s=%s", inf->indexers[i].name, v), key, add);
    free(v);
  }
  for (size_t i = 0; labels && i < inf->n_index_labels; i++) {
    const char *v = kc_obj_key_str(labels, inf->index_labels[i]);
    if (v) informer_index_set(inf, kf_asprintf("%s=%s", inf->index_labels[i], v), key, add);
  }
}

/* ---- handler sets ---- */

/* Events go to the sets that have had the cache; newer ones get it by replay first. */
static void informer_emit(informer *inf, json_object *old, json_object *obj, int deleted) {
  for (size_t i = 0; i < inf->n_sets && i < inf->replay_from; i++) {
    const informer_handlers *h = &inf->sets[i];
    if (deleted && h->on_delete) h->on_delete(inf, obj, h->data);
    else if (!deleted && old && h->on_update) h->on_update(inf, old, obj, h->data);
    else if (!deleted && !old && h->on_add) h->on_add(inf, obj, h->data);
  }
}

static void informer_replay_cb(uv_timer_t *t) {
  informer *inf = t->data;
  size_t from = inf->replay_from;
  inf->replay_from = inf->n_sets;
  json_object_object_foreach (inf->store, k, text) {
    (void)k;
    json_object *obj = informer_parse(text);
    for (size_t i = from; i < inf->n_sets; i++)
      if (inf->sets[i].on_add) inf->sets[i].on_add(inf, obj, inf->sets[i].data);
    json_object_put(obj);
  }
}

int informer_add_handlers(informer *inf, const informer_handlers *h) {
  if (!h || inf->closing) return -EINVAL;
  inf->sets = kf_realloc(inf->sets, (inf->n_sets + 1) * sizeof(*inf->sets));
  inf->sets[inf->n_sets++] = *h;
  /* Before the first list, every set sees every object as it arrives. After it, a new set gets
   * the cache as adds from the loop, then events like the others (client-go's AddEventHandler). */
  if (!inf->synced && !inf->listing) inf->replay_from = inf->n_sets;
  else uv_timer_start(&inf->replay, informer_replay_cb, 0, 0);
  return 0;
}

void informer_remove_handlers(informer *inf, void *data) {
  for (size_t i = 0; i < inf->n_sets;) {
    if (inf->sets[i].data != data) {
      i++;
      continue;
    }
    memmove(&inf->sets[i], &inf->sets[i + 1], (inf->n_sets - i - 1) * sizeof(*inf->sets));
    inf->n_sets--;
    if (i < inf->replay_from) inf->replay_from--;
  }
}

int informer_add_indexer(informer *inf, const char *name, informer_index_fn fn, void *data) {
  for (size_t i = 0; i < inf->n_indexers; i++)
    if (strcmp(inf->indexers[i].name, name) == 0) return 0;
  if (inf->synced || inf->listing) return -EBUSY; /* the index is built as objects arrive */
  inf->indexers = kf_realloc(inf->indexers, (inf->n_indexers + 1) * sizeof(*inf->indexers));
  inf->indexers[inf->n_indexers++] = (informer__indexer){kf_strdup(name), fn, data};
  return 0;
}

int informer_add_index(informer *inf, const char *label) {
  for (size_t i = 0; i < inf->n_index_labels; i++)
    if (strcmp(inf->index_labels[i], label) == 0) return 0;
  if (inf->synced || inf->listing) return -EBUSY; /* the index is built as objects arrive */
  inf->index_labels = kf_realloc(inf->index_labels, (inf->n_index_labels + 2) * sizeof(char *));
  inf->index_labels[inf->n_index_labels++] = kf_strdup(label);
  inf->index_labels[inf->n_index_labels] = NULL;
  return 0;
}

/* Drops what no reconciler reads but which dominates an object's size. The transform comes first:
 * it may keep a digest of what goes (the propagation's: who wrote spec.replicas, and when). */
static void informer_trim(informer *inf, json_object *obj) {
  if (inf->transform) inf->transform(obj, inf->transform_data);
  json_object *meta = kc_obj_get(obj, "metadata");
  json_object *ann = kc_obj_get(obj, "metadata.annotations");
  if (meta) json_object_object_del(meta, "managedFields");
  if (ann) json_object_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
}

/* Stores obj (trimmed, as text). Returns the previous object, parsed (the caller
 * puts it), or NULL. */
static json_object *informer_store(informer *inf, const char *key, json_object *obj) {
  json_object *old_text = NULL, *old = NULL;
  size_t len;
  if (json_object_object_get_ex(inf->store, key, &old_text)) {
    old = informer_parse(old_text);
    informer_index_update(inf, key, old, 0);
  }
  informer_trim(inf, obj);
  const char *text = json_object_to_json_string_length(obj, KC_JSON_FLAGS, &len);
  json_object_object_add(inf->store, key, json_object_new_string_len(text, (int)len));
  informer_index_update(inf, key, obj, 1);
  return old;
}

static json_object *informer_remove(informer *inf, const char *key) {
  json_object *text = NULL, *old;
  if (!json_object_object_get_ex(inf->store, key, &text)) return NULL;
  old = informer_parse(text);
  informer_index_update(inf, key, old, 0);
  json_object_object_del(inf->store, key);
  return old;
}

static const char *informer_rv_of_text(json_object *text, char *buf, size_t size) {
  /* resourceVersion without a full parse: the text is our own compact JSON, with
   * metadata ahead of spec/status as the apiserver writes it. A miss only costs
   * a spurious update event, never a lost one. */
  const char *s = json_object_get_string(text), *p = strstr(s, "\"resourceVersion\":\"");
  size_t n = 0;
  if (!p) return NULL;
  p += strlen("\"resourceVersion\":\"");
  while (p[n] && p[n] != '"' && n + 1 < size) n++;
  memcpy(buf, p, n);
  buf[n] = '\0';
  return buf;
}

static void informer_set_rv(informer *inf, const char *rv) {
  if (!rv || !rv[0]) return;
  free(inf->rv);
  inf->rv = kf_strdup(rv);
}

static void informer_apply_event(informer *inf, const char *type, json_object *obj) {
  char *key = informer_key_of(obj);
  json_object *old;
  if (!key) return;
  if (strcmp(type, "DELETED") == 0) {
    old = informer_remove(inf, key);
    informer_emit(inf, NULL, obj, 1);
    if (old) json_object_put(old);
  } else {
    old = informer_store(inf, key, obj);
    informer_emit(inf, old, obj, 0);
    if (old) json_object_put(old);
  }
  free(key);
}

/* ---- list ---- */

static void informer_timer_list(uv_timer_t *t) { informer_list(t->data); }
static void informer_timer_watch(uv_timer_t *t) { informer_watch(t->data); }

static void informer_retry(informer *inf, void (*what)(informer *)) {
  if (inf->closing) return;
  inf->backoff_ms = inf->backoff_ms ? inf->backoff_ms * 2 : INFORMER_BACKOFF_MIN_MS;
  if (inf->backoff_ms > INFORMER_BACKOFF_MAX_MS) inf->backoff_ms = INFORMER_BACKOFF_MAX_MS;
  uint64_t d = inf->backoff_ms / 2 + (uint64_t)kf_random() % (inf->backoff_ms / 2 + 1);
  uv_timer_start(&inf->timer, what == informer_list ? informer_timer_list : informer_timer_watch, d, 0);
}

static void informer_maybe_free(informer *inf);
static void informer_list_page(informer *inf, const char *cont);

static void informer_list_finish(informer *inf, const char *rv) {
  /* Whatever the cache holds that the list did not was deleted while we were away. */
  json_object *gone = json_object_new_array();
  json_object_object_foreach (inf->store, k, text) {
    if (!json_object_object_get_ex(inf->fresh, k, NULL)) json_object_array_add(gone, informer_parse(text));
  }
  for (size_t i = 0; i < json_object_array_length(gone); i++)
    informer_apply_event(inf, "DELETED", json_object_array_get_idx(gone, i));
  json_object_put(gone);
  json_object_put(inf->fresh);
  inf->fresh = NULL;
  informer_set_rv(inf, rv);
  inf->synced = 1;
  inf->backoff_ms = 0;
  /* A long (re)list leaves parsed pages behind in malloc's free lists: give them back. */
  if (inf->list_items >= INFORMER_TRIM_ITEMS) malloc_trim(0);
  informer_watch(inf); /* no-op while paused */
}

static void informer_list_done(kc_client *c, int rc, json_object *page, const kf_error *err, void *data) {
  informer *inf = data;
  json_object *items;
  char rvbuf[32];
  (void)c;
  inf->listing = 0;
  if (inf->closing) {
    informer_maybe_free(inf);
    return;
  }
  if (rc != 0) {
    /* An expired continue token (410) or any failure restarts the list from the top. */
    KF_WARN("list failed, retrying", "resource", inf->res->resource, "error", err ? err->msg : "");
    json_object_put(inf->fresh);
    inf->fresh = NULL;
    informer_retry(inf, informer_list);
    return;
  }
  items = kc_obj_get(page, "items");
  inf->list_items += items ? json_object_array_length(items) : 0;
  /* Level-based replace, one page at a time: report what changed against the cache. */
  for (size_t i = 0; items && i < json_object_array_length(items); i++) {
    json_object *obj = json_object_array_get_idx(items, i), *old_text = NULL;
    char *key = informer_key_of(obj);
    if (!key) continue;
    /* List items lack kind/apiVersion; handlers are easier with them. */
    if (!kc_obj_get(obj, "kind")) json_object_object_add(obj, "kind", json_object_new_string(inf->res->kind));
    if (!kc_obj_get(obj, "apiVersion")) {
      char *av = inf->res->group[0] ? kf_asprintf("%s/%s", inf->res->group, inf->res->version)
                                    : kf_strdup(inf->res->version);
      json_object_object_add(obj, "apiVersion", json_object_new_string(av));
      free(av);
    }
    json_object_object_add(inf->fresh, key, NULL);
    json_object_object_get_ex(inf->store, key, &old_text);
    const char *old_rv = old_text ? informer_rv_of_text(old_text, rvbuf, sizeof(rvbuf)) : NULL;
    const char *new_rv = kc_obj_str(obj, "metadata.resourceVersion");
    if (!(old_rv && new_rv && strcmp(old_rv, new_rv) == 0)) informer_apply_event(inf, "MODIFIED", obj);
    free(key);
  }
  const char *cont = kc_obj_str(page, "metadata.continue");
  if (cont && cont[0]) {
    char *next = kf_strdup(cont);
    informer_list_page(inf, next);
    free(next);
    return;
  }
  informer_list_finish(inf, kc_obj_str(page, "metadata.resourceVersion"));
}

static void informer_list_page(informer *inf, const char *cont) {
  kc_list_opts o = {.label_selector = inf->label_selector,
                    .field_selector = inf->field_selector,
                    /* Before anything was seen, the apiserver's watch cache may answer (no quorum
                     * read of etcd); a relist after 410 Gone must be consistent. */
                    .resource_version = inf->list_from_cache && !inf->rv && !cont ? "0" : NULL,
                    .limit = inf->page_size,
                    .continue_token = cont};
  inf->listing = 1;
  if (kc_list(inf->c, inf->res, inf->ns, &o, informer_list_done, inf) != 0 && !inf->closing) {
    inf->listing = 0;
    json_object_put(inf->fresh);
    inf->fresh = NULL;
    informer_retry(inf, informer_list);
  }
}

static void informer_list(informer *inf) {
  if (inf->closing || inf->listing) return;
  json_object_put(inf->fresh);
  inf->fresh = json_object_new_object();
  inf->list_items = 0;
  inf->relists++;
  kf_metrics_add(inf->metrics, "relists_total", "Informer lists (initial and after 410 Gone)", inf->labels, 1);
  informer_list_page(inf, NULL);
}

/* ---- watch ---- */

static void informer_on_event(kc_watch *w, const char *type, json_object *obj, void *data) {
  informer *inf = data;
  (void)w;
  informer_set_rv(inf, kc_obj_str(obj, "metadata.resourceVersion"));
  inf->backoff_ms = 0;
  if (strcmp(type, "BOOKMARK") == 0) return;
  informer_apply_event(inf, type, obj);
}

static void informer_on_watch_end(kc_watch *w, int rc, const kf_error *err, void *data) {
  informer *inf = data;
  (void)w;
  inf->watch = NULL;
  if (inf->closing) {
    informer_maybe_free(inf);
    return;
  }
  if (inf->paused) return;
  inf->restarts++;
  kf_metrics_add(inf->metrics, "watch_restarts_total", "Watches that ended and were restarted", inf->labels, 1);
  if (rc == 0) {
    informer_watch(inf); /* server-side timeout: resume where we were */
  } else if (rc == KC_ERR_GONE) {
    KF_INFO("watch expired, relisting", "resource", inf->res->resource);
    informer_list(inf);
  } else {
    KF_WARN("watch failed, reconnecting", "resource", inf->res->resource, "error", err ? err->msg : "");
    informer_retry(inf, informer_watch);
  }
}

static void informer_watch(informer *inf) {
  kf_error err;
  kc_watch_opts o = {.label_selector = inf->label_selector,
                     .field_selector = inf->field_selector,
                     .resource_version = inf->rv,
                     .timeout_seconds = inf->watch_timeout_s,
                     .max_depth = inf->max_depth};
  if (inf->closing || inf->paused || inf->watch) return;
  if (kc_watch_start(inf->c, inf->res, inf->ns, &o, informer_on_event, informer_on_watch_end, inf, &inf->watch, &err) !=
      0) {
    KF_WARN("watch could not start", "resource", inf->res->resource, "error", err.msg);
    informer_retry(inf, informer_watch);
  }
}

/* ---- read your own writes ---- */

/* resourceVersion as etcd's revision; 0 when it is not one (then nothing is assumed). */
static unsigned long long informer_rv_number(const char *rv) {
  char *end;
  if (!rv || !rv[0]) return 0;
  unsigned long long n = strtoull(rv, &end, 10);
  return *end ? 0 : n;
}

int informer_update_cache(informer *inf, json_object *obj) {
  char *key = obj ? informer_key_of(obj) : NULL;
  json_object *text = NULL;
  char buf[32];
  int stored = 0;
  if (!key) return 0;
  unsigned long long mine = informer_rv_number(kc_obj_str(obj, "metadata.resourceVersion"));
  /* Only over an older copy: the watch may already have brought something newer, and an
   * object the cache lacks (deleted, or not matching the selector) stays out. */
  if (mine && json_object_object_get_ex(inf->store, key, &text)) {
    unsigned long long cached = informer_rv_number(informer_rv_of_text(text, buf, sizeof(buf)));
    if (cached && cached < mine) {
      json_object *copy = NULL;
      json_object_deep_copy(obj, &copy, NULL);
      json_object *old = informer_store(inf, key, copy);
      if (old) json_object_put(old);
      json_object_put(copy);
      stored = 1;
    }
  }
  free(key);
  return stored;
}

/* ---- resync ---- */

static void informer_resync_cb(uv_timer_t *t) {
  informer *inf = t->data;
  if (!inf->synced) return;
  /* Handlers only enqueue keys; they never mutate the store during this walk. */
  json_object_object_foreach (inf->store, k, text) {
    (void)k;
    json_object *obj = informer_parse(text);
    informer_emit(inf, obj, obj, 0);
    json_object_put(obj);
  }
}

int informer_start(informer *inf) {
  if (inf->resync_ms) uv_timer_start(&inf->resync, informer_resync_cb, inf->resync_ms, inf->resync_ms);
  informer_list(inf);
  return 0;
}

/* ---- queries ---- */

int informer_has_synced(const informer *inf) { return inf->synced; }

json_object *informer_get_key(const informer *inf, const char *key) {
  json_object *text = NULL;
  if (!json_object_object_get_ex(inf->store, key, &text)) return NULL;
  return informer_parse(text);
}

json_object *informer_get(const informer *inf, const char *ns, const char *name) {
  if (!ns || !ns[0]) return informer_get_key(inf, name);
  char *key = kf_asprintf("%s/%s", ns, name);
  json_object *obj = informer_get_key(inf, key);
  free(key);
  return obj;
}

size_t informer_len(const informer *inf) { return (size_t)json_object_object_length(inf->store); }

void informer_foreach(const informer *inf, void (*cb)(json_object *obj, void *data), void *data) {
  json_object_object_foreach (inf->store, k, text) {
    (void)k;
    json_object *obj = informer_parse(text);
    cb(obj, data);
    json_object_put(obj);
  }
}

static size_t informer_by_entry(const informer *inf, char *ik, void (*cb)(json_object *obj, void *data), void *data);

size_t informer_by_index(const informer *inf, const char *name, const char *value,
                         void (*cb)(json_object *obj, void *data), void *data) {
  return informer_by_entry(inf, kf_asprintf("#%s=%s", name, value), cb, data);
}

size_t informer_by_label(const informer *inf, const char *key, const char *value,
                         void (*cb)(json_object *obj, void *data), void *data) {
  return informer_by_entry(inf, kf_asprintf("%s=%s", key, value), cb, data);
}

/* Takes ik. */
static size_t informer_by_entry(const informer *inf, char *ik, void (*cb)(json_object *obj, void *data), void *data) {
  json_object *set;
  size_t n = 0;
  if (json_object_object_get_ex(inf->index, ik, &set)) {
    json_object_object_foreach (set, k, unused) {
      (void)unused;
      json_object *obj = informer_get_key(inf, k);
      if (obj) {
        cb(obj, data);
        json_object_put(obj);
        n++;
      }
    }
  }
  free(ik);
  return n;
}

size_t informer_index_count(const informer *inf, const char *name, const char *value) {
  char *ik = kf_asprintf("#%s=%s", name, value);
  json_object *set;
  size_t n = json_object_object_get_ex(inf->index, ik, &set) ? (size_t)json_object_object_length(set) : 0;
  free(ik);
  return n;
}

const char *informer_resource_version(const informer *inf) { return inf->rv; }
uint64_t informer_watch_restarts(const informer *inf) { return inf->restarts; }
uint64_t informer_relists(const informer *inf) { return inf->relists; }

void informer_pause(informer *inf) {
  inf->paused = 1;
  uv_timer_stop(&inf->timer);
  if (inf->watch) kc_watch_stop(inf->watch);
}

void informer_resume(informer *inf) {
  if (!inf->paused) return;
  inf->paused = 0;
  if (inf->synced) informer_watch(inf);
  else informer_list(inf);
}

/* ---- teardown ---- */

static void informer_handle_closed(uv_handle_t *h) {
  informer *inf = h->data;
  inf->handles_open--;
  informer_maybe_free(inf);
}

static void informer_maybe_free(informer *inf) {
  if (!inf->closing || inf->watch || inf->listing || inf->handles_open) return;
  json_object_put(inf->store);
  json_object_put(inf->index);
  json_object_put(inf->fresh);
  for (size_t i = 0; i < inf->n_index_labels; i++) free(inf->index_labels[i]);
  free(inf->index_labels);
  for (size_t i = 0; i < inf->n_indexers; i++) free(inf->indexers[i].name);
  free(inf->indexers);
  free(inf->ns);
  free(inf->label_selector);
  free(inf->field_selector);
  free(inf->rv);
  free(inf->sets);
  free(inf);
}

void informer_close(informer *inf) {
  if (!inf || inf->closing) return;
  inf->closing = 1;
  if (inf->watch) kc_watch_stop(inf->watch);
  uv_close((uv_handle_t *)&inf->timer, informer_handle_closed);
  uv_close((uv_handle_t *)&inf->resync, informer_handle_closed);
  uv_close((uv_handle_t *)&inf->replay, informer_handle_closed);
}
