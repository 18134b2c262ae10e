#include <kf/ev.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/log.h>

#define EV_SERIES_WINDOW_MS (6 * 60 * 1000)
#define EV_FLUSH_MS 30000
#define EV_MAX_ENTRIES 4096
#define EV_BURST 25.0
#define EV_REFILL_PER_MS (1.0 / 300000.0)
#define EV_MAX_NOTE 1024
/* Sent one at a time, as client-go's broadcaster sends to its sink: Events are best effort, and
 * under a burst they must not take the apiserver's CPU from the writes they report (in
 * bench.propagation they were a sixth of the federation API's CPU). Queued up to client-go's
 * maxQueuedEvents, then dropped and counted. */
#define EV_MAX_INFLIGHT 1
#define EV_MAX_PENDING 1000

typedef struct ev_entry {
  char *key;
  char *name, *ns;
  uint64_t first_ms, last_ms;
  unsigned count, sent_count;
  int created; /* POST succeeded: later counts can be patched */
  struct ev_entry *next;
} ev_entry;

#define EV_MAX_TERMINATING 8
#define EV_TERMINATING_MS 30000

typedef struct ev_bucket {
  char *object;
  double tokens;
  uint64_t at_ms;
  struct ev_bucket *next;
} ev_bucket;

struct ev_recorder {
  kc_client *c;
  char *controller, *instance;
  ev_entry *entries;
  size_t n_entries;
  ev_bucket *buckets;
  size_t n_buckets;
  uv_timer_t flush;
  uint64_t posted, dropped;
  /* A namespace being deleted refuses new Events (403) until it is gone: a cascade there would
   * otherwise post one refused Event per object. Remembered for EV_TERMINATING_MS. */
  char *terminating[EV_MAX_TERMINATING];
  uint64_t terminating_until[EV_MAX_TERMINATING];
  int closing;
  int timer_closed;
  unsigned inflight;
  struct ev_req *pending, **pending_tail; /* waiting for a free slot, oldest first */
  size_t npending;
};

/* Freed once closing, with the timer closed and no request in flight. */
static void ev_maybe_free(ev_recorder *r) {
  if (!r->closing || !r->timer_closed || r->inflight || r->pending) return;
  for (int i = 0; i < EV_MAX_TERMINATING; i++) free(r->terminating[i]);
  free(r->controller);
  free(r->instance);
  free(r);
}

static uv_loop_t *ev_loop(ev_recorder *r) { return http_engine_loop(kc_client_engine(r->c)); }

static void ev_flush_cb(uv_timer_t *t);

ev_recorder *ev_recorder_new(kc_client *c, const char *controller, const char *instance) {
  ev_recorder *r = kf_calloc(1, sizeof(*r));
  r->c = c;
  r->controller = kf_strdup(controller);
  r->instance = kf_strdup(instance);
  r->pending_tail = &r->pending;
  uv_timer_init(ev_loop(r), &r->flush);
  r->flush.data = r;
  uv_timer_start(&r->flush, ev_flush_cb, EV_FLUSH_MS, EV_FLUSH_MS);
  uv_unref((uv_handle_t *)&r->flush); /* never keeps the process alive on its own */
  return r;
}

static void ev_entry_free(ev_entry *e) {
  free(e->key);
  free(e->name);
  free(e->ns);
  free(e);
}

/* Drops entries whose window has passed; returns how many remain. */
static size_t ev_expire(ev_recorder *r, uint64_t now) {
  ev_entry **pp = &r->entries;
  while (*pp) {
    ev_entry *e = *pp;
    if (now - e->last_ms > EV_SERIES_WINDOW_MS && e->count == e->sent_count) {
      *pp = e->next;
      ev_entry_free(e);
      r->n_entries--;
    } else {
      pp = &e->next;
    }
  }
  ev_bucket **bp = &r->buckets;
  while (*bp) {
    ev_bucket *b = *bp;
    /* A full bucket carries no state worth keeping. */
    if (b->tokens + (double)(now - b->at_ms) * EV_REFILL_PER_MS >= EV_BURST) {
      *bp = b->next;
      free(b->object);
      free(b);
      r->n_buckets--;
    } else {
      bp = &b->next;
    }
  }
  return r->n_entries;
}

static int ev_take_token(ev_recorder *r, const char *object, uint64_t now) {
  ev_bucket *b;
  for (b = r->buckets; b; b = b->next)
    if (strcmp(b->object, object) == 0) break;
  if (!b) {
    if (r->n_buckets >= EV_MAX_ENTRIES) return 0;
    b = kf_calloc(1, sizeof(*b));
    b->object = kf_strdup(object);
    b->tokens = EV_BURST;
    b->at_ms = now;
    b->next = r->buckets;
    r->buckets = b;
    r->n_buckets++;
  }
  b->tokens += (double)(now - b->at_ms) * EV_REFILL_PER_MS;
  if (b->tokens > EV_BURST) b->tokens = EV_BURST;
  b->at_ms = now;
  if (b->tokens < 1.0) return 0;
  b->tokens -= 1.0;
  return 1;
}

/* One write: the Event's create, or a series count's patch (name set). */
typedef struct ev_req {
  ev_recorder *r;
  char *key;
  char *ns;
  char *name;        /* patch: the Event's name; create: NULL */
  json_object *body; /* owned */
  unsigned count;
  struct ev_req *next;
} ev_req;

static void ev_req_free(ev_req *q) {
  free(q->key);
  free(q->ns);
  free(q->name);
  json_object_put(q->body);
  free(q);
}

static int ev_terminating(ev_recorder *r, const char *ns, uint64_t now) {
  for (int i = 0; ns && i < EV_MAX_TERMINATING; i++)
    if (r->terminating[i] && now < r->terminating_until[i] && strcmp(r->terminating[i], ns) == 0) return 1;
  return 0;
}

static void ev_note_terminating(ev_recorder *r, const char *ns, uint64_t now) {
  int slot = 0;
  for (int i = 0; i < EV_MAX_TERMINATING; i++)
    if (!r->terminating[i] || r->terminating_until[i] < r->terminating_until[slot]) slot = i;
  free(r->terminating[slot]);
  r->terminating[slot] = kf_strdup(ns);
  r->terminating_until[slot] = now + EV_TERMINATING_MS;
}

static ev_entry *ev_find(ev_recorder *r, const char *key) {
  for (ev_entry *e = r->entries; e; e = e->next)
    if (strcmp(e->key, key) == 0) return e;
  return NULL;
}

static void ev_start_queued(ev_recorder *r, unsigned max_inflight);

static void ev_done(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  ev_req *q = data;
  ev_recorder *r = q->r;
  (void)c;
  (void)obj;
  ev_entry *e = ev_find(r, q->key);
  if (rc == 0 && e) {
    e->created = 1;
    if (q->count > e->sent_count) e->sent_count = q->count;
  } else if (rc != 0) {
    /* Events are best effort: a failure is logged, never retried into a storm. */
    KF_DEBUG("event write failed", "error", err ? err->msg : "");
    if (rc == KC_ERR_FORBIDDEN && q->ns && err && strstr(err->msg, "being terminated"))
      ev_note_terminating(r, q->ns, uv_now(ev_loop(r)));
    if (e) e->sent_count = e->count;
  }
  r->inflight--;
  ev_req_free(q);
  ev_start_queued(r, EV_MAX_INFLIGHT);
  ev_maybe_free(r);
}

static void ev_start(ev_recorder *r, ev_req *q) {
  r->inflight++;
  int rc = q->name ? kc_patch(r->c, &KC_EVENTS, q->ns, q->name, KC_PATCH_MERGE, q->body, NULL, ev_done, q)
                   : kc_create(r->c, &KC_EVENTS, q->ns, q->body, ev_done, q);
  if (rc != 0) {
    r->inflight--;
    ev_req_free(q);
  }
}

/* Starts queued writes, oldest first, while fewer than max_inflight are in flight. */
static void ev_start_queued(ev_recorder *r, unsigned max_inflight) {
  while (r->pending && r->inflight < max_inflight) {
    ev_req *next = r->pending;
    if (!(r->pending = next->next)) r->pending_tail = &r->pending;
    r->npending--;
    ev_start(r, next);
  }
}

/* Sends q now, or queues it behind the one in flight; a full queue drops it. Takes q. */
static void ev_submit(ev_recorder *r, ev_req *q) {
  if (r->inflight >= EV_MAX_INFLIGHT && r->npending >= EV_MAX_PENDING) {
    r->dropped++;
    ev_req_free(q);
    return;
  }
  if (!q->name) r->posted++;
  if (r->inflight < EV_MAX_INFLIGHT) {
    ev_start(r, q);
    return;
  }
  *r->pending_tail = q;
  r->pending_tail = &q->next;
  r->npending++;
}

static void ev_send_series(ev_recorder *r, ev_entry *e) {
  ev_req *q = kf_calloc(1, sizeof(*q));
  json_object *series = json_object_new_object();
  char *now = kc_micro_time_now();
  q->r = r;
  q->key = kf_strdup(e->key);
  q->ns = kf_strdup(e->ns);
  q->name = kf_strdup(e->name);
  q->count = e->count;
  q->body = json_object_new_object();
  json_object_object_add(series, "count", json_object_new_int((int)e->count));
  json_object_object_add(series, "lastObservedTime", json_object_new_string(now));
  json_object_object_add(q->body, "series", series);
  free(now);
  e->sent_count = e->count; /* on its way: the next flush sends only a newer count */
  if (r->closing) ev_start(r, q);
  else ev_submit(r, q);
}

static void ev_flush_cb(uv_timer_t *t) {
  ev_recorder *r = t->data;
  uint64_t now = uv_now(ev_loop(r));
  for (ev_entry *e = r->entries; e; e = e->next)
    if (e->created && e->count > e->sent_count) ev_send_series(r, e);
  ev_expire(r, now);
}

void ev_emit(ev_recorder *r, json_object *regarding, const char *type, const char *reason, const char *action,
             const char *fmt, ...) {
  char note[EV_MAX_NOTE + 1];
  va_list ap;
  uint64_t now;
  const char *name = kc_obj_str(regarding, "metadata.name");
  const char *ns = kc_obj_str(regarding, "metadata.namespace");
  const char *uid = kc_obj_str(regarding, "metadata.uid");
  const char *kind = kc_obj_str(regarding, "kind");

  if (!r || r->closing || !name) return;
  va_start(ap, fmt);
  vsnprintf(note, sizeof(note), fmt, ap); /* the API caps note at 1 kB */
  va_end(ap);
  now = uv_now(ev_loop(r));
  char *object = kf_asprintf("%s/%s/%s/%s", kind ? kind : "", ns ? ns : "", name, uid ? uid : "");
  char *key = kf_asprintf("%s|%s|%s|%s|%s", object, type, reason, action, note);
  ev_entry *e = ev_find(r, key);
  if (e && now - e->first_ms <= EV_SERIES_WINDOW_MS) {
    e->count++;
    e->last_ms = now;
    free(object);
    free(key);
    return;
  }
  if ((!e && ev_expire(r, now) >= EV_MAX_ENTRIES) || ev_terminating(r, ns ? ns : "default", now) ||
      !ev_take_token(r, object, now)) {
    r->dropped++;
    free(object);
    free(key);
    return;
  }
  free(object);
  if (!e) {
    e = kf_calloc(1, sizeof(*e));
    e->key = key;
    e->next = r->entries;
    r->entries = e;
    r->n_entries++;
  } else {
    free(key);
    free(e->name);
    free(e->ns);
  }
  e->first_ms = e->last_ms = now;
  e->count = 1;
  e->sent_count = 0;
  e->created = 0;
  e->ns = kf_strdup(ns && ns[0] ? ns : "default");
  e->name = kf_asprintf("%s.%08x%08x", name, (unsigned)kf_random(), (unsigned)kf_random());

  json_object *ev = json_object_new_object(), *meta = json_object_new_object(), *reg = json_object_new_object();
  char *t = kc_micro_time_now();
  json_object_object_add(ev, "apiVersion", json_object_new_string("events.k8s.io/v1"));
  json_object_object_add(ev, "kind", json_object_new_string("Event"));
  json_object_object_add(meta, "name", json_object_new_string(e->name));
  json_object_object_add(meta, "namespace", json_object_new_string(e->ns));
  json_object_object_add(ev, "metadata", meta);
  json_object_object_add(ev, "eventTime", json_object_new_string(t));
  json_object_object_add(ev, "reportingController", json_object_new_string(r->controller));
  json_object_object_add(ev, "reportingInstance", json_object_new_string(r->instance));
  json_object_object_add(ev, "type", json_object_new_string(type));
  json_object_object_add(ev, "reason", json_object_new_string(reason));
  json_object_object_add(ev, "action", json_object_new_string(action));
  json_object_object_add(ev, "note", json_object_new_string(note));
  const char *fields[] = {"apiVersion", "kind"};
  for (int i = 0; i < 2; i++)
    if (kc_obj_str(regarding, fields[i]))
      json_object_object_add(reg, fields[i], json_object_new_string(kc_obj_str(regarding, fields[i])));
  json_object_object_add(reg, "name", json_object_new_string(name));
  if (ns) json_object_object_add(reg, "namespace", json_object_new_string(ns));
  if (uid) json_object_object_add(reg, "uid", json_object_new_string(uid));
  json_object_object_add(ev, "regarding", reg);
  free(t);

  ev_req *q = kf_calloc(1, sizeof(*q));
  q->r = r;
  q->key = kf_strdup(e->key);
  q->count = 1;
  q->ns = kf_strdup(e->ns);
  q->body = ev;
  ev_submit(r, q);
}

uint64_t ev_recorder_posted(const ev_recorder *r) { return r->posted; }
uint64_t ev_recorder_dropped(const ev_recorder *r) { return r->dropped; }

static void ev_flush_closed(uv_handle_t *h) {
  ev_recorder *r = h->data;
  r->timer_closed = 1;
  ev_maybe_free(r);
}

void ev_recorder_close(ev_recorder *r) {
  if (!r || r->closing) return;
  r->closing = 1;
  /* What is queued and the last counts go out at once (at most EV_MAX_PENDING and one per Event in
   * the table); their completions free the recorder after the timer closes. */
  ev_start_queued(r, UINT_MAX);
  for (ev_entry *e = r->entries; e; e = e->next)
    if (e->created && e->count > e->sent_count) ev_send_series(r, e);
  while (r->entries) {
    ev_entry *e = r->entries;
    r->entries = e->next;
    ev_entry_free(e);
  }
  while (r->buckets) {
    ev_bucket *b = r->buckets;
    r->buckets = b->next;
    free(b->object);
    free(b);
  }
  uv_timer_stop(&r->flush);
  uv_close((uv_handle_t *)&r->flush, ev_flush_closed);
}
