/* HPA bounds (reference §3.7) and Job parallelism/completions (reference §3.8) over members. */
#include <stdlib.h>
#include <string.h>

#include <kf/kc.h>

#include "scheduling/scheduling.h"

/* ---- HPA bounds: v1's hpa.go passes, members in the order given ---- */

typedef struct hpa_slot {
  int has;                /* the member has the HPA now */
  int lend_min, lend_max; /* it can give up a unit of min / max (v1's availableMin / availableMax) */
  int need_max;           /* it rests at its max past the window (v1's maxReplicasNeeded) */
  int want_min;           /* it wants more than its min past the window (v1's minReplicasAdjusteable) */
} hpa_slot;

enum { HPA_MIN, HPA_MAX };

static void hpa_classify(hpa_slot *s, const sched_hpa_member *m, int64_t now) {
  /* v1's isPristine: its controller has not decided anything yet */
  int pristine = m->last_scale < 0 && m->desired == 0;
  /* v1's isScaleable: it last scaled at least the window ago */
  int rested = m->last_scale >= 0 && m->last_scale <= now - SCHED_HPA_SCALE_WINDOW_S;
  s->has = 1;
  s->lend_max = m->max - 1 >= m->min && (pristine || (rested && (m->desired < m->current ||
                                                                 (m->desired == m->current && m->desired < m->max))));
  s->lend_min = m->min > 1 &&
                ((pristine && m->min <= m->max) || (rested && m->desired == m->current && m->current == m->min));
  s->need_max = rested && m->current == m->desired && m->current == m->max;
  s->want_min = rested && m->min + 1 <= m->max && m->desired > m->min;
}

/* Whether member i can give up one unit of which and keep a valid HPA (min >= 1, max >= min). */
static int hpa_can_lend(int which, size_t i, const int64_t *min, const int64_t *max) {
  return which == HPA_MAX ? max[i] - 1 >= (min[i] > 1 ? min[i] : 1) : min[i] > 1;
}

/* The first lender of which still able to lend, its offer used up; n when there is none. */
static size_t hpa_lender(hpa_slot *s, size_t n, int which, const int64_t *min, const int64_t *max) {
  for (size_t i = 0; i < n; i++) {
    int *lend = which == HPA_MAX ? &s[i].lend_max : &s[i].lend_min;
    if (!*lend) continue;
    *lend = 0;
    if (hpa_can_lend(which, i, min, max)) return i;
  }
  return n;
}

/* v1's reduceMinReplicas / reduceMaxReplicas: the members hold more than the federated bound (rem
 * < 0): one from each lender, then one from each member round after round. A max never goes below
 * its min. Returns what is left to hand out (>= 0). */
static int64_t hpa_shrink(int64_t rem, hpa_slot *s, size_t n, int which, int64_t *min, int64_t *max) {
  int64_t *v = which == HPA_MAX ? max : min;
  for (size_t i = 0; i < n && rem < 0; i++) {
    int *lend = which == HPA_MAX ? &s[i].lend_max : &s[i].lend_min;
    if (*lend && hpa_can_lend(which, i, min, max)) {
      v[i]--;
      *lend = 0;
      rem++;
    }
  }
  /* One per member per round, as v1; the whole rounds at once (a member's bound may be 2^31 - 1). */
  while (rem < 0) {
    int64_t count = 0, least = SCHED_MAX_VALUE, whole;
    for (size_t i = 0; i < n; i++) {
      int64_t slack = which == HPA_MAX ? max[i] - min[i] : min[i];
      if (!s[i].has || slack <= 0) continue;
      count++;
      if (slack < least) least = slack;
    }
    if (count == 0) break; /* cannot happen with valid bounds; never loop on invalid ones */
    whole = -rem / count < least ? -rem / count : least;
    for (size_t i = 0; i < n && rem < 0; i++) {
      int64_t slack = which == HPA_MAX ? max[i] - min[i] : min[i];
      if (!s[i].has || slack <= 0) continue;
      int64_t take = whole > 0 ? whole : 1;
      v[i] -= take;
      rem += take;
    }
  }
  return rem < 0 ? 0 : rem;
}

/* v1's distributeMaxReplicas / distributeMinReplicas: rem (what the federated bound has beyond the
 * members' sum) and the lenders' units handed out in three steps. */
static void hpa_grow(int64_t rem, int64_t step, hpa_slot *s, size_t n, int which, int64_t *min, int64_t *max) {
  int64_t *v = which == HPA_MAX ? max : min;
  int any_new = 0;
  /* 1: +1 to each member that needs it, from a lender (max: else from rem; min: lenders only) */
  for (size_t i = 0; i < n; i++) {
    if (!s[i].has) any_new = 1;
    if (!s[i].has || !(which == HPA_MAX ? s[i].need_max : (s[i].want_min && min[i] + 1 <= max[i]))) continue;
    size_t j = hpa_lender(s, n, which, min, max);
    if (j < n) {
      v[j]--;
      v[i]++;
    } else if (which == HPA_MAX && rem > 0) {
      v[i]++;
      rem--;
    }
  }
  /* 2: members without the HPA take the lenders' units one by one, then rem in chunks; 3: what
   * they cannot take (a min above their max; all of rem when every member has the HPA) in chunks
   * over the members that have it (v1 looped for ever on a min that fitted nowhere). A min only
   * where it stays <= max. A round that places nothing shrinks the chunk to 1, then ends. */
  for (int newcomers = any_new; newcomers >= 0; newcomers--) {
    int64_t chunk = step;
    while (rem > 0 || newcomers) {
      int moved = 0;
      for (size_t i = 0; i < n; i++) {
        if (s[i].has == newcomers) continue;
        if (newcomers && (which == HPA_MAX || min[i] + 1 <= max[i])) {
          size_t j = hpa_lender(s, n, which, min, max);
          if (j < n) {
            v[j]--;
            v[i]++;
            moved = 1;
            continue;
          }
        }
        if (rem == 0) continue;
        int64_t k = rem < chunk ? rem : chunk;
        if (which == HPA_MIN && min[i] + k > max[i]) continue;
        v[i] += k;
        rem -= k;
        moved = 1;
      }
      if (!moved) {
        if (chunk == 1) break;
        chunk = 1;
      }
    }
  }
}

static int64_t hpa_count(json_object *hpa, const char *path, int64_t none) {
  json_object *v = kc_obj_get(hpa, path);
  if (!v) return none;
  int64_t x = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
  return x < 0 ? 0 : x > SCHED_MAX_VALUE ? SCHED_MAX_VALUE : x;
}

sched_hpa_member sched_hpa_member_of(json_object *hpa) {
  sched_hpa_member m = {.exists = hpa != NULL, .last_scale = -1};
  if (!hpa) return m;
  m.min = hpa_count(hpa, "spec.minReplicas", 1);
  m.max = hpa_count(hpa, "spec.maxReplicas", 0);
  m.current = hpa_count(hpa, "status.currentReplicas", 0);
  m.desired = hpa_count(hpa, "status.desiredReplicas", 0);
  m.last_scale = sched_epoch(kc_obj_str(hpa, "status.lastScaleTime"));
  return m;
}

int64_t sched_hpa_next_rest(const sched_hpa_member *members, size_t n, int64_t now) {
  int64_t next = -1;
  for (size_t i = 0; members && i < n; i++) {
    const sched_hpa_member *m = &members[i];
    if (!m->exists || m->last_scale < 0 || m->last_scale > now || now - m->last_scale >= SCHED_HPA_SCALE_WINDOW_S)
      continue;
    int64_t left = SCHED_HPA_SCALE_WINDOW_S - (now - m->last_scale);
    if (next < 0 || left < next) next = left;
  }
  return next;
}

int sched_hpa_divide(int64_t fed_min, int64_t fed_max, const sched_hpa_member *members, size_t n, int64_t now,
                     int64_t *min, int64_t *max, kf_error *err) {
  int64_t step_min, step_max, have_min = 0, have_max = 0, rem_min, rem_max;
  hpa_slot *s;
  if (fed_min < 1) fed_min = 1; /* minReplicas is optional and defaults to 1 */
  if (fed_max > SCHED_MAX_VALUE || fed_max < fed_min)
    return kf_error_set(err, -EINVAL, "maxReplicas %lld is below minReplicas %lld or above %d", (long long)fed_max,
                        (long long)fed_min, SCHED_MAX_VALUE);
  for (size_t i = 0; i < n; i++) min[i] = max[i] = 0;
  if (n == 0) return 0;
  step_min = fed_min / (int64_t)n;
  step_max = fed_max / (int64_t)n;
  if (step_min < 1) step_min = 1;
  /* v1: "We need to cap the lowest limit of Max to 2, because in a situation like both min and max
   * become 1 (same) for all clusters, no rebalancing would happen." */
  if (step_max < 2) step_max = 2;

  /* prepare: the members' bounds now, and who lends or needs what */
  s = kf_calloc(n, sizeof(*s));
  for (size_t i = 0; members && i < n; i++) {
    sched_hpa_member m = members[i];
    if (!m.exists) continue;
    m.min = m.min < 0 ? 0 : m.min > SCHED_MAX_VALUE ? SCHED_MAX_VALUE : m.min;
    m.max = m.max < m.min ? m.min : m.max > SCHED_MAX_VALUE ? SCHED_MAX_VALUE : m.max;
    hpa_classify(&s[i], &m, now);
    min[i] = m.min;
    max[i] = m.max;
    have_min += m.min;
    have_max += m.max;
  }
  rem_min = hpa_shrink(fed_min - have_min, s, n, HPA_MIN, min, max);
  rem_max = hpa_shrink(fed_max - have_max, s, n, HPA_MAX, min, max);
  hpa_grow(rem_max, step_max, s, n, HPA_MAX, min, max);
  hpa_grow(rem_min, step_min, s, n, HPA_MIN, min, max);
  free(s);

  /* finalise: no max, no HPA; every member with a max gets a min of at least 1 (an HPA's
   * minReplicas is >= 1), so the mins may sum above the federated min, as in v1. */
  for (size_t i = 0; i < n; i++) {
    if (max[i] <= 0) min[i] = max[i] = 0;
    else if (min[i] < 1) min[i] = 1;
    else if (min[i] > max[i]) min[i] = max[i];
  }
  return 0;
}

int sched_job_divide(const sched_prefs *prefs, int64_t parallelism, int64_t completions, const char *const *members,
                     size_t n, const char *key, int64_t *out_parallelism, int64_t *out_completions, kf_error *err) {
  sched_member *m = kf_calloc(n ? n : 1, sizeof(*m));
  int64_t *overflow = kf_calloc(n ? n : 1, sizeof(*overflow)), *sub_plan = kf_calloc(n ? n : 1, sizeof(*sub_plan));
  size_t *sub_idx = kf_calloc(n ? n : 1, sizeof(*sub_idx)), k = 0;
  int rc;

  for (size_t i = 0; i < n; i++) m[i] = (sched_member){.name = members[i], .current = -1, .capacity = -1};
  rc = sched_plan(prefs, parallelism, m, n, key, out_parallelism, overflow, err);
  for (size_t i = 0; i < n; i++) out_completions[i] = -1;
  if (!rc && completions >= 0) {
    for (size_t i = 0; i < n; i++) {
      out_completions[i] = 0;
      if (out_parallelism[i] > 0) {
        sub_idx[k] = i;
        m[k++] = (sched_member){.name = members[i], .current = -1, .capacity = -1};
      }
    }
    rc = sched_plan(prefs, completions, m, k, key, sub_plan, overflow, err);
    for (size_t j = 0; !rc && j < k; j++) out_completions[sub_idx[j]] = sub_plan[j];
  }
  free(m);
  free(overflow);
  free(sub_plan);
  free(sub_idx);
  return rc;
}
