#include <kf/steps.h>

#include <stdio.h>
#include <uv.h>

void steps_set_metrics(steps *s, kf_metrics *m, const char *labels) {
  s->metrics = m;
  s->labels = labels;
}

/* The running step has ended (next, abort): its duration. */
static void steps_observe(steps *s) {
  char labels[160];
  if (!s->metrics || !s->table || s->at >= s->n) return;
  snprintf(labels, sizeof(labels), "%s%sstep=\"%s\"", s->labels ? s->labels : "", s->labels ? "," : "",
           s->table[s->at].name);
  kf_metrics_observe(s->metrics, "step_duration_seconds", "Duration of each step of a controller's sequences", labels,
                     (double)(uv_hrtime() - s->t0_ns) / 1e9);
}

void steps_begin(steps *s, const steps_step *table, size_t n, void *ctx, void (*done)(void *ctx)) {
  s->table = table;
  s->n = n;
  s->at = (size_t)-1;
  s->ctx = ctx;
  s->done = done;
  steps_next(s);
}

void steps_next(steps *s) {
  if (!s->table || s->at == s->n) return;
  if (s->at != (size_t)-1) steps_observe(s);
  s->at = s->at == (size_t)-1 ? 0 : s->at + 1;
  s->t0_ns = s->metrics ? uv_hrtime() : 0;
  if (s->at < s->n) {
    s->table[s->at].run(s->ctx);
  } else if (s->done) {
    s->done(s->ctx);
  }
}

void steps_abort(steps *s) {
  if (s->at != (size_t)-1) steps_observe(s);
  s->at = s->n;
  s->done = 0;
}

const char *steps_current(const steps *s) {
  if (!s->table || s->at == (size_t)-1) return "";
  return s->at < s->n ? s->table[s->at].name : "done";
}
