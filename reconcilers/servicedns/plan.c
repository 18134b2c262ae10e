/* servicedns plan: a Service's record sets (v1's ensureDNSRecords) and the set comparison
 * against what etcd holds. */
#include "servicedns_internal.h"

#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A growing set of strings (sorted unique once finished). */
typedef struct strset {
  char **v;
  size_t n, cap;
} strset;

static void strset_add(strset *s, const char *x) {
  if (s->n + 2 > s->cap) {
    s->cap = s->cap ? s->cap * 2 : 8;
    s->v = kf_realloc(s->v, s->cap * sizeof(*s->v));
  }
  s->v[s->n++] = kf_strdup(x);
  s->v[s->n] = NULL;
}

static void strset_finish(strset *s) {
  if (!s->v) s->v = kf_calloc(1, sizeof(*s->v));
  qsort(s->v, s->n, sizeof(*s->v), cmp_str);
  size_t w = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (w > 0 && strcmp(s->v[w - 1], s->v[i]) == 0) {
      free(s->v[i]);
      continue;
    }
    s->v[w++] = s->v[i];
  }
  s->n = w;
  s->v[w] = NULL;
}

static int shares_zone(const servicedns_cluster *a, const servicedns_cluster *b) {
  for (const char *const *x = a->zones; x && *x; x++)
    for (const char *const *y = b->zones; y && *y; y++)
      if (strcmp(*x, *y) == 0) return 1;
  return 0;
}

typedef enum { LEVEL_ZONE, LEVEL_REGION, LEVEL_GLOBAL } level;

/* The healthy addresses the level covers for cluster x. */
static void level_addresses(const servicedns_cluster *cs, size_t n, const servicedns_cluster *x, level l, strset *out) {
  for (size_t i = 0; i < n; i++) {
    const servicedns_cluster *c = &cs[i];
    if (l == LEVEL_REGION && strcmp(c->region, x->region) != 0) continue;
    if (l == LEVEL_ZONE && !shares_zone(c, x)) continue;
    for (const char *const *a = c->addresses; a && *a; a++)
      if (**a) strset_add(out, *a);
  }
  strset_finish(out);
}

typedef struct planner {
  servicedns_rrset *sets;
  size_t n, cap;
} planner;

static void plan_add(planner *p, char *name, servicedns_kind kind, strset *hosts) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->sets[i].name, name) == 0) {
      /* The same name from another cluster covers the same clusters: same records. */
      free(name);
      for (size_t j = 0; j < hosts->n; j++) free(hosts->v[j]);
      free(hosts->v);
      return;
    }
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 8;
    p->sets = kf_realloc(p->sets, p->cap * sizeof(*p->sets));
  }
  p->sets[p->n++] = (servicedns_rrset){.name = name, .kind = kind, .hosts = hosts->v, .n_hosts = hosts->n};
}

static int cmp_rrset(const void *a, const void *b) {
  return strcmp(((const servicedns_rrset *)a)->name, ((const servicedns_rrset *)b)->name);
}

static char *lower_dup(const char *s) {
  char *d = kf_strdup(s);
  for (char *q = d; *q; q++) *q = servicedns__lower(*q);
  size_t l = strlen(d);
  if (l > 1 && d[l - 1] == '.') d[l - 1] = '\0';
  return d;
}

int servicedns_plan_build(const servicedns_service *svc, const servicedns_cluster *clusters, size_t n, int deleted,
                          servicedns_plan *out, kf_error *err) {
  memset(out, 0, sizeof(*out));
  const char *fields[][2] = {{"service name", svc->name},
                             {"namespace", svc->namespace_},
                             {"federation", svc->federation}};
  for (size_t i = 0; i < 3; i++)
    if (!fields[i][1] || !servicedns__valid_label(fields[i][1], strlen(fields[i][1])))
      return kf_error_set(err, -EINVAL, "%s \"%s\" is not a DNS label", fields[i][0], fields[i][1] ? fields[i][1] : "");
  char *suffix = lower_dup(svc->suffix ? svc->suffix : "");
  if (!servicedns__valid_name(suffix)) {
    kf_error_set(err, -EINVAL, "DNS suffix \"%s\" is not a DNS name", svc->suffix ? svc->suffix : "");
    free(suffix);
    return -EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    const servicedns_cluster *c = &clusters[i];
    const char *z = c->zones ? c->zones[0] : NULL;
    if (!z || !c->region || !*c->region) {
      free(suffix);
      return kf_error_set(err, -EINVAL, "cluster %s: failed to get cluster zone names (status.zones and status.region)",
                          c->name);
    }
    if (!servicedns__valid_label(z, strlen(z)) || !servicedns__valid_label(c->region, strlen(c->region))) {
      free(suffix);
      return kf_error_set(err, -EINVAL, "cluster %s: zone \"%s\" or region \"%s\" is not a DNS label", c->name, z,
                          c->region);
    }
  }
  planner p = {0};
  for (size_t i = 0; i < n; i++) {
    const servicedns_cluster *c = &clusters[i];
    char *global = kf_asprintf("%s.%s.%s.svc.%s", svc->name, svc->namespace_, svc->federation, suffix);
    char *region = kf_asprintf("%s.%s.%s.svc.%s.%s", svc->name, svc->namespace_, svc->federation, c->region, suffix);
    char *zone = kf_asprintf("%s.%s.%s.svc.%s.%s.%s", svc->name, svc->namespace_, svc->federation, c->zones[0],
                             c->region, suffix);
    char *names[] = {zone, region, global};
    for (level l = LEVEL_ZONE; l <= LEVEL_GLOBAL; l++) {
      strset hosts = {0};
      servicedns_kind kind = SERVICEDNS_REMOVE;
      if (!deleted) level_addresses(clusters, n, c, l, &hosts);
      if (hosts.n > 0) {
        kind = SERVICEDNS_A;
      } else if (!deleted && l != LEVEL_GLOBAL) {
        /* v1: a level with no healthy address points one level up. */
        kind = SERVICEDNS_CNAME;
        strset_add(&hosts, names[l + 1]);
      }
      strset_finish(&hosts);
      plan_add(&p, kf_strdup(names[l]), kind, &hosts);
    }
    free(global);
    free(region);
    free(zone);
  }
  free(suffix);
  if (p.n) qsort(p.sets, p.n, sizeof(*p.sets), cmp_rrset);
  out->sets = p.sets;
  out->n = p.n;
  return 0;
}

void servicedns_plan_free(servicedns_plan *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n; i++) {
    free(p->sets[i].name);
    for (size_t j = 0; j < p->sets[i].n_hosts; j++) free(p->sets[i].hosts[j]);
    free(p->sets[i].hosts);
  }
  free(p->sets);
  memset(p, 0, sizeof(*p));
}

const servicedns_rrset *servicedns_plan_find(const servicedns_plan *p, const char *name) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->sets[i].name, name) == 0) return &p->sets[i];
  return NULL;
}

void servicedns_diff(const servicedns_rrset *want, const servicedns_kv *have, size_t n, servicedns_ops *ops) {
  memset(ops, 0, sizeof(*ops));
  char *dir = servicedns_key_dir(want->name);
  size_t dl = strlen(dir);
  size_t nh = want->kind == SERVICEDNS_REMOVE ? 0 : want->n_hosts;
  char **keys = kf_calloc(nh + 1, sizeof(*keys)), **vals = kf_calloc(nh + 1, sizeof(*vals));
  int *held = kf_calloc(nh + 1, sizeof(*held));
  for (size_t i = 0; i < nh; i++) {
    keys[i] = servicedns_key(want->name, want->hosts[i]);
    vals[i] = servicedns_value(want->name, want->hosts[i]);
  }
  ops->deletes = kf_calloc(n + 1, sizeof(*ops->deletes));
  for (size_t k = 0; k < n; k++) {
    const char *key = have[k].key;
    /* Only the records of this name: one label below its directory. */
    if (strncmp(key, dir, dl) != 0 || key[dl] == '\0' || strchr(key + dl, '/')) continue;
    size_t i;
    for (i = 0; i < nh; i++)
      if (strcmp(keys[i], key) == 0) break;
    if (i < nh && !held[i] && have[k].value && strcmp(have[k].value, vals[i]) == 0) {
      held[i] = 1;
      continue;
    }
    /* Another host (or another value under our key, rewritten by the put below). */
    if (i == nh) ops->deletes[ops->n_deletes++] = kf_strdup(key);
  }
  ops->puts = kf_calloc(nh + 1, sizeof(*ops->puts));
  for (size_t i = 0; i < nh; i++) {
    if (held[i]) continue;
    ops->puts[ops->n_puts++] = (servicedns_kv){.key = keys[i], .value = vals[i]};
    keys[i] = vals[i] = NULL;
  }
  for (size_t i = 0; i < nh; i++) {
    free(keys[i]);
    free(vals[i]);
  }
  free(keys);
  free(vals);
  free(held);
  free(dir);
}

void servicedns_ops_free(servicedns_ops *ops) {
  if (!ops) return;
  for (size_t i = 0; i < ops->n_puts; i++) {
    free(ops->puts[i].key);
    free(ops->puts[i].value);
  }
  for (size_t i = 0; i < ops->n_deletes; i++) free(ops->deletes[i]);
  free(ops->puts);
  free(ops->deletes);
  memset(ops, 0, sizeof(*ops));
}
