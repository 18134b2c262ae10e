/* metrics: a small Prometheus registry (counters, gauges, histograms with
 * label sets given as preformatted strings like `verb="GET",code="200"`).
 * Owned by the process's main and handed to the modules that record into it;
 * a NULL registry is accepted everywhere and records nothing. */
#ifndef KF_METRICS_H
#define KF_METRICS_H

#include <stddef.h>

typedef struct kf_metrics kf_metrics;

/* Every name is exposed as prefix + name (e.g. "kubefed_" + "api_requests_total"): the runtime
 * records under plain names and the program chooses its namespace. */
kf_metrics *kf_metrics_new(const char *prefix);
void kf_metrics_free(kf_metrics *m);
/* help is recorded the first time a name is seen. */
void kf_metrics_add(kf_metrics *m, const char *name, const char *help, const char *labels, double v);
void kf_metrics_set(kf_metrics *m, const char *name, const char *help, const char *labels, double v);
void kf_metrics_observe(kf_metrics *m, const char *name, const char *help, const char *labels, double seconds);
double kf_metrics_get(const kf_metrics *m, const char *name, const char *labels);
/* Renders the text exposition format; returns a malloc'd NUL-terminated string. */
char *kf_metrics_render(const kf_metrics *m);

/* Resident set size of this process in bytes (from /proc/self/statm), 0 if unknown. */
size_t kf_rss_bytes(void);
/* The private part of it (RssAnon): what this process costs beyond the shared
 * library pages every libcurl/OpenSSL program maps. 0 if unknown. */
size_t kf_rss_anon_bytes(void);

#endif
