#include <kf/cond.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kf/kc.h>
#include <kf/kj.h>

void cond_setv(cond *c, const char *status, const char *reason, const char *fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  char *r = kf_strdup(reason);
  free(c->reason);
  free(c->message);
  c->set = 1;
  c->status = status;
  c->reason = r;
  c->message = kf_strdup(buf);
}

void cond_set(cond *c, const char *status, const char *reason, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cond_setv(c, status, reason, fmt, ap);
  va_end(ap);
}

void cond_free(cond *c) {
  free(c->reason);
  free(c->message);
  memset(c, 0, sizeof(*c));
}

int cond_true(const cond *c) { return c->set && kf_streq(c->status, "True"); }

json_object *cond_find(json_object *obj, const char *type) {
  json_object *conds = kc_obj_get(obj, "status.conditions");
  if (!json_object_is_type(conds, json_type_array)) return NULL; /* anybody may write status */
  for (size_t i = 0; i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (kf_streq(kc_obj_str(c, "type"), type)) return c;
  }
  return NULL;
}

const char *cond_error_text(const kf_error *err, const char *fallback) {
  if (!err) return fallback;
  if (err->code == KC_ERR_UNREACHABLE) return "connection refused or host unreachable";
  if (err->code == KC_ERR_TIMEOUT) return "timed out";
  return err->msg;
}

char *cond_rfc3339(time_t t) {
  struct tm tm;
  char buf[32];
  gmtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return kf_strdup(buf);
}

json_object *cond_array(json_object *obj, const char *const *types, const cond *conds, int n, int64_t generation,
                        int *changed) {
  json_object *list = kj_arr();
  for (int i = 0; i < n; i++) {
    const cond *c = &conds[i];
    json_object *old = cond_find(obj, types[i]);
    json_object *og = old ? kc_obj_get(old, "observedGeneration") : NULL;
    int same = old && kf_streq(kc_obj_str(old, "status"), c->status);
    if (!same || !kf_streq(kc_obj_str(old, "reason"), c->reason) || !kf_streq(kc_obj_str(old, "message"), c->message) ||
        !og || json_object_get_int64(og) != generation)
      *changed = 1;
    /* lastTransitionTime moves only when the status flips. */
    char *ltt = same && kc_obj_str(old, "lastTransitionTime") ? kf_strdup(kc_obj_str(old, "lastTransitionTime"))
                                                              : cond_rfc3339(time(NULL));
    json_object *cj = kj_obj();
    kj_str(cj, "type", types[i]);
    kj_str(cj, "status", c->status);
    kj_str(cj, "reason", c->reason);
    kj_str(cj, "message", c->message);
    kj_str(cj, "lastTransitionTime", ltt);
    kj_int(cj, "observedGeneration", generation);
    kj_push(list, cj);
    free(ltt);
  }
  return list;
}
