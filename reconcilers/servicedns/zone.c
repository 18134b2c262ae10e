/* servicedns zone: a zone's SkyDNS keys mirrored in memory, a Service's plan applied to etcd as
 * the difference only (see servicedns.h). */
#include "servicedns_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <kf/etcd.h>

/* One key under the zone, sorted by key. */
typedef struct entry {
  char *key, *value;
  char *name; /* the record's name (the key without its hash, labels back in order) */
} entry;

struct servicedns_zone {
  etcd_client *etcd;
  char *zone; /* lower case, no trailing dot */
  char *dir;  /* "/skydns/<reversed zone>/" */
  entry *e;
  size_t n, cap;
  /* The entries' names (owned by e), sorted: a Service's names share the prefix
   * "<svc>.<ns>.<federation>.svc.", so the ones it may have to remove are one run here, found
   * without a scan of every mirrored key per sync (that scan was O(Services x keys)). */
  const char **names;
  uint64_t writes;
  int inflight, closing; /* inflight: calls not ended (queued, in a transaction, loading) */
  /* Group commit: applies that arrive while ZONE_TXNS transactions are in flight wait here, and
   * the next transaction carries as many of them as fit in SERVICEDNS_TXN_OPS. A burst of
   * Services then costs etcd a few large transactions instead of one small one each (its JSON
   * gateway's per-request cost was most of its CPU in bench.dns); each Service's changes still
   * go whole into one transaction unless they alone exceed it. */
  struct zcall *queue, **queue_tail;
  int txns;
};

#define ZONE_TXNS 2

/* One apply or load not ended yet. */
typedef struct zcall {
  servicedns_zone *z;
  servicedns_zone_cb cb;
  void *data;
  etcd_op *ops; /* strings owned here */
  size_t n_ops;
  size_t done;        /* ops[0, done) are written */
  size_t taken;       /* ops[done, done + taken) are in the transaction in flight */
  struct zcall *next; /* in z->queue */
} zcall;

/* The calls one transaction carries. */
typedef struct zbatch {
  servicedns_zone *z;
  zcall **calls;
  size_t n;
} zbatch;

servicedns_zone *servicedns_zone_new(etcd_client *etcd, const char *zone) {
  servicedns_zone *z = kf_calloc(1, sizeof(*z));
  z->etcd = etcd;
  z->zone = kf_strdup(zone);
  size_t l = strlen(z->zone);
  if (l > 1 && z->zone[l - 1] == '.') z->zone[l - 1] = '\0';
  for (char *p = z->zone; *p; p++) *p = servicedns__lower(*p);
  z->dir = servicedns_key_dir(z->zone);
  z->queue_tail = &z->queue;
  return z;
}

static void entries_clear(servicedns_zone *z) {
  for (size_t i = 0; i < z->n; i++) {
    free(z->e[i].key);
    free(z->e[i].value);
    free(z->e[i].name);
  }
  z->n = 0;
}

/* The first index in z->names whose name is >= (name, at) ordered by text, then address. */
static size_t names_lower_bound(const servicedns_zone *z, const char *name, const char *at) {
  size_t lo = 0, hi = z->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(z->names[mid], name);
    if (c < 0 || (c == 0 && (uintptr_t)z->names[mid] < (uintptr_t)at)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void zone_free_now(servicedns_zone *z) {
  entries_clear(z);
  free(z->e);
  free(z->names);
  free(z->zone);
  free(z->dir);
  free(z);
}

void servicedns_zone_free(servicedns_zone *z) {
  if (!z) return;
  if (z->inflight) {
    z->closing = 1; /* the last callback frees it */
    return;
  }
  zone_free_now(z);
}

uint64_t servicedns_zone_writes(const servicedns_zone *z) { return z->writes; }
size_t servicedns_zone_keys(const servicedns_zone *z) { return z->n; }

/* The first entry whose key is >= key. */
static size_t lower_bound(const servicedns_zone *z, const char *key) {
  size_t lo = 0, hi = z->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(z->e[mid].key, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void mirror_put(servicedns_zone *z, const char *key, const char *value) {
  size_t i = lower_bound(z, key);
  if (i < z->n && strcmp(z->e[i].key, key) == 0) {
    free(z->e[i].value);
    z->e[i].value = kf_strdup(value);
    return;
  }
  char *name = NULL;
  if (servicedns_key_name(key, strlen(key), &name) != 0) return; /* not a record key: not mirrored */
  if (z->n == z->cap) {
    z->cap = z->cap ? z->cap * 2 : 64;
    z->e = kf_realloc(z->e, z->cap * sizeof(*z->e));
    z->names = kf_realloc(z->names, z->cap * sizeof(*z->names));
  }
  memmove(&z->e[i + 1], &z->e[i], (z->n - i) * sizeof(*z->e));
  z->e[i] = (entry){kf_strdup(key), kf_strdup(value), name};
  size_t j = names_lower_bound(z, name, name);
  memmove(&z->names[j + 1], &z->names[j], (z->n - j) * sizeof(*z->names));
  z->names[j] = name;
  z->n++;
}

static void mirror_del(servicedns_zone *z, const char *key) {
  size_t i = lower_bound(z, key);
  if (i >= z->n || strcmp(z->e[i].key, key) != 0) return;
  size_t j = names_lower_bound(z, z->e[i].name, z->e[i].name);
  memmove(&z->names[j], &z->names[j + 1], (z->n - j - 1) * sizeof(*z->names));
  free(z->e[i].key);
  free(z->e[i].value);
  free(z->e[i].name);
  memmove(&z->e[i], &z->e[i + 1], (z->n - i - 1) * sizeof(*z->e));
  z->n--;
}

static void zcall_free(zcall *c) {
  for (size_t i = 0; i < c->n_ops; i++) {
    free((char *)c->ops[i].key);
    free((char *)c->ops[i].value);
  }
  free(c->ops);
  free(c);
}

/* Ends c: the callback, then the zone may go (unless the caller holds it: see zone_hold). */
static void zcall_end(zcall *c, int rc, const kf_error *err) {
  servicedns_zone *z = c->z;
  c->cb(z, rc, err, c->data);
  zcall_free(c);
  z->inflight--;
  if (z->closing && z->inflight == 0) zone_free_now(z);
}

/* Keeps z alive across callbacks that may end its last call (zone_release frees it then). */
static void zone_hold(servicedns_zone *z) { z->inflight++; }
static void zone_release(servicedns_zone *z) {
  if (--z->inflight == 0 && z->closing) zone_free_now(z);
}

static void on_loaded(etcd_client *ec, const etcd_result *r, void *data) {
  (void)ec;
  zcall *c = data;
  servicedns_zone *z = c->z;
  if (r->rc == 0) {
    entries_clear(z);
    /* etcd returns a range sorted by key: appending keeps the mirror sorted. */
    for (size_t i = 0; i < r->n_kvs; i++) mirror_put(z, r->kvs[i].key, r->kvs[i].value);
  }
  zcall_end(c, r->rc, r->rc ? &r->error : NULL);
}

int servicedns_zone_load(servicedns_zone *z, servicedns_zone_cb cb, void *data, kf_error *err) {
  zcall *c = kf_calloc(1, sizeof(*c));
  *c = (zcall){.z = z, .cb = cb, .data = data};
  int rc = etcd_range(z->etcd, z->dir, 1, 0, on_loaded, c, err);
  if (rc != 0) {
    zcall_free(c);
    return rc;
  }
  z->inflight++;
  return 0;
}

static void on_written(etcd_client *ec, const etcd_result *r, void *data);

/* Sends one transaction with b's calls' taken ops. */
static int batch_send(zbatch *b, kf_error *err) {
  size_t n = 0;
  for (size_t i = 0; i < b->n; i++) n += b->calls[i]->taken;
  etcd_op *ops = kf_calloc(n, sizeof(*ops));
  n = 0;
  for (size_t i = 0; i < b->n; i++) {
    zcall *c = b->calls[i];
    memcpy(&ops[n], &c->ops[c->done], c->taken * sizeof(*ops));
    n += c->taken;
  }
  int rc = etcd_txn(b->z->etcd, ops, n, on_written, b, err); /* serialized before it returns */
  free(ops);
  if (rc == 0) {
    b->z->writes++;
    b->z->txns++;
  }
  return rc;
}

static zbatch *batch_new(servicedns_zone *z) {
  zbatch *b = kf_calloc(1, sizeof(*b));
  b->z = z;
  return b;
}

static void batch_take(zbatch *b, zcall *c, size_t taken) {
  c->taken = taken;
  b->calls = kf_realloc(b->calls, (b->n + 1) * sizeof(*b->calls));
  b->calls[b->n++] = c;
}

static void batch_free(zbatch *b) {
  free(b->calls);
  free(b);
}

static size_t remaining(const zcall *c) { return c->n_ops - c->done; }

static void enqueue(servicedns_zone *z, zcall *c, int front) {
  if (front) {
    c->next = z->queue;
    if (!z->queue) z->queue_tail = &c->next;
    z->queue = c;
    return;
  }
  c->next = NULL;
  *z->queue_tail = c;
  z->queue_tail = &c->next;
}

static zcall *dequeue(servicedns_zone *z) {
  zcall *c = z->queue;
  z->queue = c->next;
  if (!z->queue) z->queue_tail = &z->queue;
  c->next = NULL;
  return c;
}

/* Sends what waits, as few transactions as fit, while fewer than ZONE_TXNS are in flight. Called
 * from etcd's callbacks only, so a call that cannot be sent ends with the error. */
static void pump(servicedns_zone *z) {
  while (z->queue && z->txns < ZONE_TXNS) {
    zbatch *b = batch_new(z);
    if (remaining(z->queue) > SERVICEDNS_TXN_OPS) {
      batch_take(b, dequeue(z), SERVICEDNS_TXN_OPS); /* one Service's changes alone, in chunks */
    } else {
      size_t n = 0;
      while (z->queue && n + remaining(z->queue) <= SERVICEDNS_TXN_OPS) {
        n += remaining(z->queue);
        zcall *c = dequeue(z);
        batch_take(b, c, remaining(c));
      }
    }
    kf_error err = {0};
    if (batch_send(b, &err) != 0) {
      for (size_t i = 0; i < b->n; i++) zcall_end(b->calls[i], err.code ? err.code : -EIO, &err);
      batch_free(b);
    }
  }
}

static void on_written(etcd_client *ec, const etcd_result *r, void *data) {
  (void)ec;
  zbatch *b = data;
  servicedns_zone *z = b->z;
  zone_hold(z);
  /* The slot stays taken until the callbacks have run: the applies they start (the workers they
   * free take their next Services) queue up and leave together in the next transaction. */
  for (size_t i = 0; i < b->n; i++) {
    zcall *c = b->calls[i];
    if (r->rc != 0) {
      zcall_end(c, r->rc, &r->error); /* etcd applied none of the transaction */
      continue;
    }
    for (size_t k = c->done; k < c->done + c->taken; k++) {
      if (c->ops[k].del) mirror_del(z, c->ops[k].key);
      else mirror_put(z, c->ops[k].key, c->ops[k].value);
    }
    c->done += c->taken;
    c->taken = 0;
    if (c->done == c->n_ops) zcall_end(c, 0, NULL);
    else enqueue(z, c, 1); /* its next chunk goes first */
  }
  batch_free(b);
  z->txns--;
  pump(z);
  zone_release(z);
}

/* The mirror's entries of name: [*from, *to). */
static void entries_of(const servicedns_zone *z, const char *name, size_t *from, size_t *to) {
  char *dir = servicedns_key_dir(name);
  size_t dl = strlen(dir), i = lower_bound(z, dir);
  *from = i;
  while (i < z->n && strncmp(z->e[i].key, dir, dl) == 0) i++;
  *to = i;
  free(dir);
}

static void add_ops(zcall *c, size_t *cap, const servicedns_ops *ops) {
  size_t need = c->n_ops + ops->n_puts + ops->n_deletes;
  if (need > *cap) {
    *cap = need * 2;
    c->ops = kf_realloc(c->ops, *cap * sizeof(*c->ops));
  }
  for (size_t i = 0; i < ops->n_deletes; i++) c->ops[c->n_ops++] = (etcd_op){1, kf_strdup(ops->deletes[i]), NULL, 0};
  for (size_t i = 0; i < ops->n_puts; i++)
    c->ops[c->n_ops++] = (etcd_op){0, kf_strdup(ops->puts[i].key), kf_strdup(ops->puts[i].value),
                                   strlen(ops->puts[i].value)};
}

/* The ops making name hold want (want NULL: nothing). */
static void diff_name(servicedns_zone *z, zcall *c, size_t *cap, const char *name, const servicedns_rrset *want) {
  size_t from, to;
  entries_of(z, name, &from, &to);
  servicedns_kv *have = kf_calloc(to - from + 1, sizeof(*have));
  for (size_t i = from; i < to; i++) have[i - from] = (servicedns_kv){z->e[i].key, z->e[i].value};
  servicedns_rrset none = {(char *)name, SERVICEDNS_REMOVE, NULL, 0};
  servicedns_ops ops;
  servicedns_diff(want ? want : &none, have, to - from, &ops);
  add_ops(c, cap, &ops);
  servicedns_ops_free(&ops);
  free(have);
}

int servicedns_zone_apply(servicedns_zone *z, const servicedns_service *svc, const servicedns_plan *plan,
                          servicedns_zone_cb cb, void *data, kf_error *err) {
  size_t sl = strlen(svc->suffix);
  if (sl > 1 && svc->suffix[sl - 1] == '.') sl--;
  if (sl != strlen(z->zone) || strncasecmp(svc->suffix, z->zone, sl) != 0)
    return kf_error_set(err, -EINVAL, "service DNS suffix %s is not the zone %s", svc->suffix, z->zone);
  zcall *c = kf_calloc(1, sizeof(*c));
  *c = (zcall){.z = z, .cb = cb, .data = data};
  size_t cap = 0;
  for (size_t i = 0; i < plan->n; i++) diff_name(z, c, &cap, plan->sets[i].name, &plan->sets[i]);
  /* Names the mirror holds for svc that the plan does not give any more go, each once (a
   * transaction must not name a key twice; equal names are neighbours in z->names). */
  char *prefix = kf_asprintf("%s.%s.%s.svc.", svc->name, svc->namespace_, svc->federation);
  size_t pl = strlen(prefix);
  for (size_t i = names_lower_bound(z, prefix, NULL); i < z->n && strncmp(z->names[i], prefix, pl) == 0; i++) {
    const char *name = z->names[i];
    if (i > 0 && strcmp(name, z->names[i - 1]) == 0) continue;
    if (servicedns_name_is_of(svc, name) && !servicedns_plan_find(plan, name)) diff_name(z, c, &cap, name, NULL);
  }
  free(prefix);
  if (c->n_ops == 0) {
    zcall_free(c);
    return 1;
  }
  if (z->queue || z->txns >= ZONE_TXNS) {
    enqueue(z, c, 0); /* the next transaction to complete sends it */
    z->inflight++;
    return 0;
  }
  zbatch *b = batch_new(z);
  batch_take(b, c, remaining(c) < SERVICEDNS_TXN_OPS ? remaining(c) : SERVICEDNS_TXN_OPS);
  int rc = batch_send(b, err);
  if (rc != 0) {
    batch_free(b);
    zcall_free(c);
    return rc;
  }
  z->inflight++;
  return 0;
}
