#include <kf/steps.h>

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
  s->at = s->at == (size_t)-1 ? 0 : s->at + 1;
  if (s->at < s->n) {
    s->table[s->at].run(s->ctx);
  } else if (s->done) {
    s->done(s->ctx);
  }
}

void steps_abort(steps *s) {
  s->at = s->n;
  s->done = 0;
}

const char *steps_current(const steps *s) {
  if (!s->table || s->at == (size_t)-1) return "";
  return s->at < s->n ? s->table[s->at].name : "done";
}
