/* cond: status conditions (metav1.Condition) as both controllers write them.
 *
 * A reconcile fills one cond per condition type it owns; cond_array turns them
 * into status.conditions, keeping lastTransitionTime while a condition's status
 * stays the same, and says whether anything differs from what the object already
 * shows, so status is written only on change. */
#ifndef KF_COND_H
#define KF_COND_H

#include <json-c/json.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>

#include <kf/error.h>

typedef struct cond {
  int set;
  const char *status; /* "True", "False" or "Unknown" (static strings) */
  char *reason, *message;
} cond;

/* reason and the arguments may point into c itself: they are copied before c is changed. */
void cond_set(cond *c, const char *status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cond_setv(cond *c, const char *status, const char *reason, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
void cond_free(cond *c);
int cond_true(const cond *c);

/* obj's status.conditions entry of that type, borrowed, or NULL. */
json_object *cond_find(json_object *obj, const char *type);
/* The status.conditions array for types[i] = conds[i] at generation; *changed is set to 1
 * when it differs from obj's (status, reason, message or observedGeneration). */
json_object *cond_array(json_object *obj, const char *const *types, const cond *conds, int n, int64_t generation,
                        int *changed);
/* Text for err fit for a condition message, which must stay the same across retries (a
 * changing message is a status write per retry): transport errors, whose messages carry
 * timings, are summarized. fallback when err is NULL. */
const char *cond_error_text(const kf_error *err, const char *fallback);
/* RFC 3339 UTC, second resolution (malloc'd). */
char *cond_rfc3339(time_t t);

#endif
