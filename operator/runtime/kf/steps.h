/* steps: an asynchronous sequence of named steps, instead of hand-rolled cursors.
 *
 * A reconcile that must wait between writes (read, then apply, then read the result) is a table
 * of small named functions. Each step starts its I/O and, from the callback, calls steps_next;
 * a step that needs nothing calls steps_next directly. steps_current names the step for logs and
 * condition messages ("step", "token-secret"), so nobody decodes "boot_step == 3".
 *
 *   static const steps_step JOIN[] = {{"namespace", fc_namespace}, {"service-account", fc_sa}, ...};
 *   steps_begin(&run->steps, JOIN, STEPS_LEN(JOIN), run, fc_join_done);
 *
 * Steps run on the loop; steps_next may be called from a step itself (it then runs the next step
 * on the same stack, which is bounded by the table's length). steps_abort ends the sequence
 * without calling done (the caller stops the reconcile itself). */
#ifndef KF_STEPS_H
#define KF_STEPS_H

#include <stddef.h>
#include <stdint.h>

#include <kf/metrics.h>

typedef struct steps_step {
  const char *name;
  void (*run)(void *ctx);
} steps_step;

typedef struct steps {
  const steps_step *table;
  size_t n, at; /* at: index of the running step; n when finished */
  void *ctx;
  void (*done)(void *ctx); /* after the last step; may be NULL */
  kf_metrics *metrics;     /* steps_set_metrics */
  const char *labels;
  uint64_t t0_ns; /* when the running step began */
} steps;

#define STEPS_LEN(table) (sizeof(table) / sizeof((table)[0]))

void steps_begin(steps *s, const steps_step *table, size_t n, void *ctx, void (*done)(void *ctx));
/* Before steps_begin: each step's duration (its own work and the I/O it waited for) goes to the
 * histogram step_duration_seconds{labels,step="name"}, so the time of a sequence can be read step
 * by step. labels (e.g. `controller="x"`) must outlive the sequence. */
void steps_set_metrics(steps *s, kf_metrics *m, const char *labels);
/* Runs the step after the current one, or done after the last. */
void steps_next(steps *s);
/* Ends the sequence; steps_next afterwards does nothing. */
void steps_abort(steps *s);
/* The running step's name, "done" after the last, "" before the first. */
const char *steps_current(const steps *s);

#endif
