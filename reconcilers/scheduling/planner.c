/* The replica planner, a port of v1's util/planner/planner.go Plan (reference §4.4). The steps and
 * their order are v1's on purpose: the upstream test vectors are the specification, and a member's
 * share must not change when the federation-controller-manager is replaced by this one. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/scheduling.h"

uint32_t sched_fnv1(const char *a, const char *b) {
  uint32_t h = 2166136261u; /* FNV-1 32-bit offset basis; multiply, then xor (1a is the other way) */
  for (const char *s = a; s && *s; s++) h = (h * 16777619u) ^ (uint8_t)*s;
  for (const char *s = b; s && *s; s++) h = (h * 16777619u) ^ (uint8_t)*s;
  return h;
}

typedef struct sched_slot {
  size_t member; /* index into the caller's arrays */
  const sched_cluster_pref *pref;
  uint32_t hash;
  int64_t prealloc; /* replicas kept from current placement, consumed by the rounds first */
} sched_slot;

static int sched_slot_cmp(const void *a, const void *b) {
  const sched_slot *x = a, *y = b;
  if (x->pref->weight != y->pref->weight) return x->pref->weight > y->pref->weight ? -1 : 1;
  if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
  return 0; /* same name twice: qsort is not stable, but both are the same member */
}

static const sched_cluster_pref *sched_pref_for(const sched_prefs *p, const char *name) {
  const sched_cluster_pref *star = NULL;
  for (size_t i = 0; i < p->n; i++) {
    if (!strcmp(p->clusters[i].cluster, name)) return &p->clusters[i];
    if (!strcmp(p->clusters[i].cluster, "*")) star = &p->clusters[i];
  }
  return star;
}

static int64_t sched_min64(int64_t a, int64_t b) { return a < b ? a : b; }

int sched_plan(const sched_prefs *prefs, int64_t replicas, const sched_member *members, size_t n, const char *key,
               int64_t *plan, int64_t *overflow, kf_error *err) {
  sched_slot *slots;
  size_t open = 0;
  int64_t remaining = replicas;
  int changed = 1;

  if (replicas < 0 || replicas > SCHED_MAX_VALUE)
    return kf_error_set(err, -EINVAL, "replicas %lld outside 0..%d", (long long)replicas, SCHED_MAX_VALUE);
  for (size_t i = 0; i < n; i++)
    if (members[i].current > SCHED_MAX_VALUE || members[i].capacity > SCHED_MAX_VALUE)
      return kf_error_set(err, -EINVAL, "member %s: current or capacity above %d", members[i].name, SCHED_MAX_VALUE);

  /* Step 1: a preference per member (its own, else "*", else none: 0 replicas), sorted. */
  slots = kf_calloc(n ? n : 1, sizeof(*slots));
  for (size_t i = 0; i < n; i++) {
    const sched_cluster_pref *p = sched_pref_for(prefs, members[i].name);
    plan[i] = overflow[i] = 0;
    if (!p) continue;
    slots[open++] = (sched_slot){.member = i, .pref = p, .hash = sched_fnv1(members[i].name, key)};
  }
  qsort(slots, open, sizeof(*slots), sched_slot_cmp);

  /* Step 2: minimums, never beyond a known capacity. */
  for (size_t s = 0; s < open; s++) {
    const sched_member *m = &members[slots[s].member];
    int64_t min = sched_min64(slots[s].pref->min_replicas, remaining);
    if (m->capacity >= 0) min = sched_min64(min, m->capacity);
    plan[slots[s].member] = min;
    remaining -= min;
  }

  /* Step 3: without rebalance, what already runs somewhere stays there, within max and capacity. */
  if (!prefs->rebalance) {
    for (size_t s = 0; s < open; s++) {
      const sched_member *m = &members[slots[s].member];
      int64_t planned = plan[slots[s].member], target, extra;
      if (m->current < 0 || m->current <= planned) continue;
      target = m->current;
      if (slots[s].pref->max_replicas >= 0) target = sched_min64(target, slots[s].pref->max_replicas);
      if (m->capacity >= 0) target = sched_min64(target, m->capacity);
      extra = sched_min64(target - planned, remaining);
      if (extra < 0) extra = 0;
      remaining -= extra;
      slots[s].prealloc = extra;
      plan[slots[s].member] = planned + extra;
    }
  }

  /* Step 4: weighted rounds, each share rounded up, until nothing moves or nothing is left. Members
   * that reach their max or capacity leave the rounds. */
  while (changed && remaining > 0) {
    int64_t weights = 0, round = remaining;
    size_t still = 0;
    changed = 0;
    for (size_t s = 0; s < open; s++) weights += slots[s].pref->weight;
    if (weights == 0) break; /* v1 breaks out of the member loop: nobody gets anything */
    for (size_t s = 0; s < open; s++) {
      sched_slot *sl = &slots[s];
      const sched_member *m = &members[sl->member];
      int64_t start = plan[sl->member], used, total;
      /* round <= 2^31 and weight <= 2^31: the product fits */
      int64_t extra = sched_min64((round * sl->pref->weight + weights - 1) / weights, remaining);
      int full = 0;
      used = sched_min64(extra, sl->prealloc);
      sl->prealloc -= used;
      extra -= used;
      if (used > 0) changed = 1;
      total = start + extra;
      if (sl->pref->max_replicas >= 0 && total > sl->pref->max_replicas) {
        total = sl->pref->max_replicas;
        full = 1;
      }
      if (m->capacity >= 0 && total > m->capacity) {
        overflow[sl->member] = total - m->capacity;
        total = m->capacity;
        full = 1;
      }
      remaining -= total - start;
      plan[sl->member] = total;
      if (total > start) changed = 1;
      if (!full) slots[still++] = *sl;
    }
    open = still;
  }

  /* Step 5: without rebalance, overflow only for what found no place at all. */
  if (!prefs->rebalance)
    for (size_t i = 0; i < n; i++) overflow[i] = sched_min64(overflow[i], remaining);
  free(slots);
  return 0;
}
