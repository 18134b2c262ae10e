/* informer_factory: one shared informer per (client, resource, namespace, selectors).
 *
 * A linear list: a program has a handful of host informers plus a few per member, and lookups
 * happen when controllers and members are set up, not per event. */
#include <kf/informer.h>

#include <stdlib.h>
#include <string.h>

typedef struct factory_entry {
  const kc_client *c;
  const kc_resource *res;
  char *ns, *label_selector, *field_selector;
  uint64_t resync_ms;
  informer *inf;
  int started;
  struct factory_entry *next;
} factory_entry;

struct informer_factory {
  kf_metrics *metrics;
  factory_entry *entries;
  int started;
};

informer_factory *informer_factory_new(kf_metrics *m) {
  informer_factory *f = kf_calloc(1, sizeof(*f));
  f->metrics = m;
  return f;
}

static const char *empty_if_null(const char *s) { return s ? s : ""; }

static int factory_matches(const factory_entry *e, const kc_client *c, const informer_opts *o) {
  return e->c == c && e->res == o->res && kf_streq(e->ns, empty_if_null(o->namespace_)) &&
         kf_streq(e->label_selector, empty_if_null(o->label_selector)) &&
         kf_streq(e->field_selector, empty_if_null(o->field_selector));
}

static void factory_start_entry(factory_entry *e) {
  if (e->started) return;
  e->started = 1;
  informer_start(e->inf);
}

informer *informer_factory_get(informer_factory *f, kc_client *c, const informer_opts *o, int *rc) {
  factory_entry *e = f->entries;
  if (rc) *rc = 0;
  while (e && !factory_matches(e, c, o)) e = e->next;
  if (!e) {
    e = kf_calloc(1, sizeof(*e));
    e->c = c;
    e->res = o->res;
    e->ns = kf_strdup(empty_if_null(o->namespace_));
    e->label_selector = kf_strdup(empty_if_null(o->label_selector));
    e->field_selector = kf_strdup(empty_if_null(o->field_selector));
    e->resync_ms = o->resync_ms;
    e->inf = informer_new(c, o, NULL);
    informer_set_metrics(e->inf, f->metrics);
    e->next = f->entries;
    f->entries = e;
    if (f->started) factory_start_entry(e);
    return e->inf;
  }
  for (const char *const *l = o->index_labels; l && *l; l++) {
    int r = informer_add_index(e->inf, *l);
    if (r != 0) {
      if (rc) *rc = r;
      return NULL;
    }
  }
  /* The shortest resync wins: resyncs are level-based no-ops for the others. Applied when the
   * informer starts (its period is read there). */
  if (o->resync_ms && (!e->resync_ms || o->resync_ms < e->resync_ms) && !e->started) {
    e->resync_ms = o->resync_ms;
    informer_set_resync(e->inf, o->resync_ms);
  }
  return e->inf;
}

void informer_factory_start(informer_factory *f) {
  f->started = 1;
  for (factory_entry *e = f->entries; e; e = e->next) factory_start_entry(e);
}

void informer_factory_pause(informer_factory *f) {
  for (factory_entry *e = f->entries; e; e = e->next) informer_pause(e->inf);
}

int informer_factory_synced(const informer_factory *f, const kc_client *c) {
  for (const factory_entry *e = f->entries; e; e = e->next)
    if ((!c || e->c == c) && !informer_has_synced(e->inf)) return 0;
  return 1;
}

static void factory_entry_free(factory_entry *e) {
  informer_close(e->inf);
  free(e->ns);
  free(e->label_selector);
  free(e->field_selector);
  free(e);
}

void informer_factory_forget(informer_factory *f, const kc_client *c) {
  for (factory_entry **p = &f->entries; *p;) {
    factory_entry *e = *p;
    if (e->c != c) {
      p = &e->next;
      continue;
    }
    *p = e->next;
    factory_entry_free(e);
  }
}

void informer_factory_close(informer_factory *f) {
  if (!f) return;
  for (factory_entry *e = f->entries, *n; e; e = n) {
    n = e->next;
    factory_entry_free(e);
  }
  free(f);
}
