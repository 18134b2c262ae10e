#include <kf/ctrl.h>

#include <stdlib.h>
#include <string.h>

#include <kf/log.h>

typedef struct ctrl_source {
  ctrl *c;
  ctrl_map_fn map;
  void *map_data;
  informer *inf; /* ctrl_watch: detached at ctrl_close (the informer may be shared) */
  struct ctrl_source *next;
} ctrl_source;

struct ctrl {
  char *name;
  int workers, active, started, closing;
  ctrl_reconcile_fn reconcile;
  void *data;
  kf_metrics *metrics;
  wq *q;
  ctrl_source *sources;
  json_object *started_at; /* key -> start time (ms) of running reconciles */
  uv_loop_t *loop;
  uint64_t reconciles;
  char labels[128];
};

static void ctrl_pump(ctrl *c);

static void ctrl_ready(wq *q, void *data) {
  (void)q;
  ctrl_pump(data);
}

ctrl *ctrl_new(uv_loop_t *loop, const ctrl_opts *o) {
  ctrl *c = kf_calloc(1, sizeof(*c));
  wq_options qo = o->queue;
  c->name = kf_strdup(o->name ? o->name : "controller");
  c->workers = o->workers > 0 ? o->workers : 16;
  c->reconcile = o->reconcile;
  c->data = o->data;
  c->metrics = o->metrics;
  c->loop = loop;
  c->started_at = json_object_new_object();
  qo.ready = ctrl_ready;
  qo.data = c;
  c->q = wq_new(loop, &qo);
  snprintf(c->labels, sizeof(c->labels), "controller=\"%s\"", c->name);
  return c;
}

static void ctrl_enqueue_obj(ctrl_source *s, json_object *obj) {
  char *key = s->map ? s->map(obj, s->map_data) : informer_key_of(obj);
  if (!key) return;
  wq_add(s->c->q, key);
  free(key);
}

static void ctrl_on_add(informer *inf, json_object *obj, void *data) {
  (void)inf;
  ctrl_enqueue_obj(data, obj);
}

static void ctrl_on_update(informer *inf, json_object *old_obj, json_object *new_obj, void *data) {
  (void)inf;
  const char *a = kc_obj_str(old_obj, "metadata.resourceVersion");
  const char *b = kc_obj_str(new_obj, "metadata.resourceVersion");
  /* Same pointer is a resync: reconcile. Same resourceVersion otherwise is a relist echo. */
  if (old_obj != new_obj && a && b && strcmp(a, b) == 0) return;
  ctrl_enqueue_obj(data, new_obj);
}

static void ctrl_on_delete(informer *inf, json_object *obj, void *data) {
  (void)inf;
  ctrl_enqueue_obj(data, obj);
}

informer_handlers ctrl_handlers(ctrl *c, ctrl_map_fn map, void *map_data) {
  ctrl_source *s = kf_calloc(1, sizeof(*s));
  informer_handlers h = {ctrl_on_add, ctrl_on_update, ctrl_on_delete, s};
  s->c = c;
  s->map = map;
  s->map_data = map_data;
  s->next = c->sources;
  c->sources = s;
  return h;
}

int ctrl_watch(ctrl *c, informer *inf, ctrl_map_fn map, void *map_data) {
  informer_handlers h = ctrl_handlers(c, map, map_data);
  ((ctrl_source *)h.data)->inf = inf;
  return informer_add_handlers(inf, &h);
}

void ctrl_enqueue(ctrl *c, const char *key) { wq_add(c->q, key); }
void ctrl_enqueue_after(ctrl *c, const char *key, uint64_t delay_ms) { wq_add_after(c->q, key, delay_ms); }

void ctrl_start(ctrl *c) {
  c->started = 1;
  ctrl_pump(c);
}

static void ctrl_pump(ctrl *c) {
  const char *key;
  while (c->started && !c->closing && c->active < c->workers && wq_get(c->q, &key) == 0) {
    c->active++;
    json_object_object_add(c->started_at, key, json_object_new_int64((int64_t)uv_now(c->loop)));
    c->reconcile(c, key, c->data);
  }
  kf_metrics_set(c->metrics, "workqueue_depth", "Keys waiting in the work queue", c->labels,
                 (double)(wq_len(c->q) + wq_waiting(c->q)));
}

void ctrl_done(ctrl *c, const char *key, int rc, uint64_t requeue_after_ms) {
  json_object *t;
  char labels[192];
  if (json_object_object_get_ex(c->started_at, key, &t)) {
    double secs = (double)(uv_now(c->loop) - (uint64_t)json_object_get_int64(t)) / 1000.0;
    kf_metrics_observe(c->metrics, "reconcile_duration_seconds", "Reconcile durations", c->labels, secs);
    json_object_object_del(c->started_at, key);
  }
  snprintf(labels, sizeof(labels), "%s,result=\"%s\"", c->labels,
           rc < 0             ? "error"
           : requeue_after_ms ? "requeue_after"
                              : "success");
  kf_metrics_add(c->metrics, "reconcile_total", "Reconciles by controller and result", labels, 1);
  c->reconciles++;
  /* Copy: wq_done may free the queue's copy that `key` points to. */
  char *k = kf_strdup(key);
  if (rc < 0) {
    wq_add_rate_limited(c->q, k);
  } else {
    wq_forget(c->q, k);
    if (requeue_after_ms) wq_add_after(c->q, k, requeue_after_ms);
  }
  wq_done(c->q, k);
  free(k);
  c->active--;
  ctrl_pump(c);
}

int ctrl_idle(const ctrl *c) {
  return c->active == 0 && wq_len(c->q) == 0 && wq_waiting(c->q) == 0 && wq_processing(c->q) == 0;
}

uint64_t ctrl_reconciles(const ctrl *c) { return c->reconciles; }
wq *ctrl_queue(ctrl *c) { return c->q; }

void ctrl_close(ctrl *c) {
  if (!c || c->closing) return;
  c->closing = 1;
  wq_close(c->q, NULL);
  for (ctrl_source *s = c->sources, *n; s; s = n) {
    n = s->next;
    if (s->inf) informer_remove_handlers(s->inf, s);
    free(s);
  }
  json_object_put(c->started_at);
  free(c->name);
  free(c);
}

void ctrl_split_key(const char *key, char **ns, char **name) {
  const char *slash = strchr(key, '/');
  if (slash) {
    *ns = kf_strndup(key, (size_t)(slash - key));
    *name = kf_strdup(slash + 1);
  } else {
    *ns = NULL;
    *name = kf_strdup(key);
  }
}
