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
  struct kf_series *next;
} kf_series;

typedef struct kf_family {
  char *name;
  char *help;
  kf_metric_type type;
  kf_series *series;
  struct kf_family *next;
} kf_family;

struct kf_metrics {
  kf_family *families;
  char *prefix;
};

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
    free(f);
  }
  free(m->prefix);
  free(m);
}

static kf_family *kf_family_find(const kf_metrics *m, const char *name) {
  for (kf_family *f = m->families; f; f = f->next)
    if (strcmp(f->name, name) == 0) return f;
  return NULL;
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
  }
  for (kf_series *s = f->series; s; s = s->next)
    if (strcmp(s->labels, labels) == 0) return s;
  kf_series *s = kf_calloc(1, sizeof(*s));
  s->labels = kf_strdup(labels);
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
  if (!f) return 0;
  for (const kf_series *s = f->series; s; s = s->next)
    if (strcmp(s->labels, labels ? labels : "") == 0) return f->type == KF_HISTOGRAM ? (double)s->count : s->value;
  return 0;
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
