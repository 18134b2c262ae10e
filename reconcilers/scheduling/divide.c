/* HPA bounds (reference §3.7) and Job parallelism/completions (reference §3.8) over members. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/scheduling.h"

/* Hands out total in chunks of step, member by member in order, round after round; a member takes a
 * chunk only while ok(i, k) says it may. When a whole round places nothing (every member refused
 * a full chunk) the chunk shrinks to 1 so the loop always ends: v1 spun forever there. */
static int64_t sched_chunks(int64_t total, int64_t step, size_t n, int64_t *got, const int64_t *bound) {
  while (total > 0 && n > 0) {
    int64_t placed = 0;
    for (size_t i = 0; i < n && total > 0; i++) {
      int64_t k = total < step ? total : step;
      if (bound && got[i] + k > bound[i]) continue;
      got[i] += k;
      total -= k;
      placed += k;
    }
    if (placed == 0) {
      if (step == 1) break;
      step = 1;
    }
  }
  return total;
}

int sched_hpa_divide(int64_t fed_min, int64_t fed_max, size_t n, int64_t *min, int64_t *max, kf_error *err) {
  int64_t step_min, step_max;
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
  sched_chunks(fed_max, step_max, n, max, NULL);
  /* min only where max already is, and never above it. */
  {
    int64_t *bound = kf_calloc(n, sizeof(*bound));
    for (size_t i = 0; i < n; i++) bound[i] = max[i];
    sched_chunks(fed_min, step_min, n, min, bound);
    free(bound);
  }
  /* Every member with a max gets a min of at least 1 (an HPA's minReplicas is >= 1), so the sum of
   * the mins may exceed the federated min: v1 accepted that, and so does an HPA at rest. */
  for (size_t i = 0; i < n; i++)
    if (max[i] > 0 && min[i] < 1) min[i] = 1;
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
