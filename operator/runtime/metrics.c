#include <kf/metrics.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kf/error.h>

/* Upper bounds in seconds, as controller-runtime's reconcile histogram. */
static const double kf_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define KF_NBUCKETS (sizeof(kf_buckets) / sizeof(kf_buckets[0]))

typedef enum { KF_COUNTER, KF_GAUGE, KF_HISTOGRAM } kf_metric_type;

typedef struct kf_series {
  char *labels;
  double value;        /* counter/gauge value, histogram sum */
  unsigned long count; /* histogram observations */
  unsigned long buckets[KF_NBUCKETS];
  struct kf_series *next;  /* the family's list, newest first (the exposition's order) */
  struct kf_series *hnext; /* the family's hash chain */
} kf_series;

typedef struct kf_family {
  char *name;
  char *help;
  kf_metric_type type;
  kf_series *series;
  /* By labels: a series per member (probes by FederatedCluster) makes a list walk per record
   * cost more than the request it counts. */
  kf_series **index;
  size_t n_index, n_series;
  struct kf_family *next;  /* registration order */
  struct kf_family *hnext; /* the registry's hash chain */
} kf_family;

#define KF_FAMILY_BUCKETS 64

struct kf_metrics {
  kf_family *families;
  kf_family *by_name[KF_FAMILY_BUCKETS];
  char *prefix;
};

static size_t kf_hash(const char *s) {
  size_t h = 5381;
  while (*s) h = h * 33 + (unsigned char)*s++;
  return h;
}

kf_metrics *kf_metrics_new(const char *prefix) {
  kf_metrics *m = kf_calloc(1, sizeof(kf_metrics));
  m->prefix = kf_strdup(prefix ? prefix : "");
  return m;
}

void kf_metrics_free(kf_metrics *m) {
  if (!m) return;
  for (kf_family *f = m->families, *fn; f; f = fn) {
    fn = f->next;
    for (kf_series *s = f->series, *sn; s; s = sn) {
      sn = s->next;
      free(s->labels);
      free(s);
    }
    free(f->name);
    free(f->help);
    free(f->index);
    free(f);
  }
  free(m->prefix);
  free(m);
}

static kf_family *kf_family_find(const kf_metrics *m, const char *name) {
  for (kf_family *f = m->by_name[kf_hash(name) % KF_FAMILY_BUCKETS]; f; f = f->hnext)
    if (strcmp(f->name, name) == 0) return f;
  return NULL;
}

static kf_series *kf_series_find(const kf_family *f, const char *labels) {
  if (!f->n_index) return NULL;
  for (kf_series *s = f->index[kf_hash(labels) & (f->n_index - 1)]; s; s = s->hnext)
    if (strcmp(s->labels, labels) == 0) return s;
  return NULL;
}

static void kf_series_index(kf_family *f, kf_series *s) {
  if (f->n_series + 1 > f->n_index) { /* doubled as it fills: chains stay about one long */
    size_t n = f->n_index ? f->n_index * 2 : 8;
    kf_series **idx = kf_calloc(n, sizeof(*idx));
    for (kf_series *x = f->series; x; x = x->next) {
      size_t h = kf_hash(x->labels) & (n - 1);
      x->hnext = idx[h];
      idx[h] = x;
    }
    free(f->index);
    f->index = idx;
    f->n_index = n;
  }
  size_t h = kf_hash(s->labels) & (f->n_index - 1);
  s->hnext = f->index[h];
  f->index[h] = s;
  f->n_series++;
}

static kf_series *kf_series_get(kf_metrics *m, const char *name, const char *help, kf_metric_type type,
                                const char *labels) {
  kf_family *f = kf_family_find(m, name), **tail;
  if (!labels) labels = "";
  if (!f) {
    f = kf_calloc(1, sizeof(*f));
    f->name = kf_strdup(name);
    f->help = kf_strdup(help ? help : name);
    f->type = type;
    /* Keep registration order so the exposition is stable. */
    for (tail = &m->families; *tail; tail = &(*tail)->next) {}
    *tail = f;
    size_t h = kf_hash(name) % KF_FAMILY_BUCKETS;
    f->hnext = m->by_name[h];
    m->by_name[h] = f;
  }
  kf_series *s = kf_series_find(f, labels);
  if (s) return s;
  s = kf_calloc(1, sizeof(*s));
  s->labels = kf_strdup(labels);
  kf_series_index(f, s);
  s->next = f->series;
  f->series = s;
  return s;
}

void kf_metrics_add(kf_metrics *m, const char *name, const char *help, const char *labels, double v) {
  if (m) kf_series_get(m, name, help, KF_COUNTER, labels)->value += v;
}

void kf_metrics_set(kf_metrics *m, const char *name, const char *help, const char *labels, double v) {
  if (m) kf_series_get(m, name, help, KF_GAUGE, labels)->value = v;
}

void kf_metrics_observe(kf_metrics *m, const char *name, const char *help, const char *labels, double seconds) {
  if (!m) return;
  kf_series *s = kf_series_get(m, name, help, KF_HISTOGRAM, labels);
  s->value += seconds;
  s->count++;
  for (size_t i = 0; i < KF_NBUCKETS; i++)
    if (seconds <= kf_buckets[i]) s->buckets[i]++;
}

double kf_metrics_get(const kf_metrics *m, const char *name, const char *labels) {
  const kf_family *f = m ? kf_family_find(m, name) : NULL;
  const kf_series *s = f ? kf_series_find(f, labels ? labels : "") : NULL;
  if (!s) return 0;
  return f->type == KF_HISTOGRAM ? (double)s->count : s->value;
}

static void kf_put_series(FILE *out, const char *prefix, const char *name, const char *suffix, const char *labels,
                          const char *extra, double v) {
  const char *sep = (labels[0] && extra) ? "," : "";
  if (labels[0] || extra)
    fprintf(out, "%s%s%s{%s%s%s} %.17g\n", prefix, name, suffix, labels, sep, extra ? extra : "", v);
  else fprintf(out, "%s%s%s %.17g\n", prefix, name, suffix, v);
}

char *kf_metrics_render(const kf_metrics *m) {
  static const char *const types[] = {"counter", "gauge", "histogram"};
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  if (!out) return kf_strdup("");
  for (const kf_family *f = m ? m->families : NULL; f; f = f->next) {
    fprintf(out, "# HELP %s%s %s\n# TYPE %s%s %s\n", m->prefix, f->name, f->help, m->prefix, f->name, types[f->type]);
    for (const kf_series *s = f->series; s; s = s->next) {
      if (f->type != KF_HISTOGRAM) {
        kf_put_series(out, m->prefix, f->name, "", s->labels, NULL, s->value);
        continue;
      }
      char le[48];
      for (size_t i = 0; i < KF_NBUCKETS; i++) {
        snprintf(le, sizeof(le), "le=\"%g\"", kf_buckets[i]);
        kf_put_series(out, m->prefix, f->name, "_bucket", s->labels, le, (double)s->buckets[i]);
      }
      kf_put_series(out, m->prefix, f->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
      kf_put_series(out, m->prefix, f->name, "_sum", s->labels, NULL, s->value);
      kf_put_series(out, m->prefix, f->name, "_count", s->labels, NULL, (double)s->count);
    }
  }
  fclose(out);
  return buf;
}

size_t kf_rss_bytes(void) {
  unsigned long size = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  fclose(f);
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

size_t kf_rss_anon_bytes(void) {
  char line[128];
  size_t kb = 0;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "RssAnon: %zu kB", &kb) == 1) break;
  fclose(f);
  return kb * 1024;
}
