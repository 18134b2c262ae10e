/* The preferences annotation (reference §4.2), read as v1's json.Unmarshal into a Go struct without
 * json tags read it: field names case-insensitive, unknown fields ignored, null leaving a field as
 * it was, wrong types refused. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scheduling/scheduling.h"

/* Our schema is three levels deep; a little room for unknown fields, which v1 skipped. */
#define SCHED_PREFS_DEPTH 64

void sched_prefs_default(sched_prefs *out) {
  memset(out, 0, sizeof(*out));
  out->n = 1;
  out->clusters = kf_calloc(1, sizeof(*out->clusters));
  out->clusters[0].cluster = kf_strdup("*");
  out->clusters[0].max_replicas = SCHED_UNBOUNDED;
  out->clusters[0].weight = 1;
}

void sched_prefs_free(sched_prefs *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n; i++) free(p->clusters[i].cluster);
  free(p->clusters);
  memset(p, 0, sizeof(*p));
}

/* An int64 field in [0, SCHED_MAX_VALUE]; null leaves *v alone (Go does the same). */
static int sched_prefs_int(json_object *o, const char *cluster, const char *field, int64_t *v, kf_error *err) {
  int64_t x;
  if (!o) return 0;
  if (!json_object_is_type(o, json_type_int))
    return kf_error_set(err, -EINVAL, "clusters[\"%s\"].%s is not an integer", cluster, field);
  x = json_object_get_int64(o);
  /* json-c saturates numbers beyond int64 at INT64_MAX/MIN: both fail the range check. */
  if (x < 0 || x > SCHED_MAX_VALUE)
    return kf_error_set(err, -EINVAL, "clusters[\"%s\"].%s is %lld, outside 0..%d", cluster, field, (long long)x,
                        SCHED_MAX_VALUE);
  *v = x;
  return 0;
}

static int sched_prefs_cluster(const char *name, json_object *o, sched_cluster_pref *c, kf_error *err) {
  int rc = 0;
  c->cluster = kf_strdup(name);
  c->max_replicas = SCHED_UNBOUNDED;
  if (!o) return 0; /* "x": null is the zero preference in Go */
  if (!json_object_is_type(o, json_type_object))
    return kf_error_set(err, -EINVAL, "clusters[\"%s\"] is not an object", name);
  /* In document order, later keys winning, as Go decodes. */
  json_object_object_foreach (o, key, val) {
    if (!strcasecmp(key, "minReplicas")) rc = sched_prefs_int(val, name, "minReplicas", &c->min_replicas, err);
    else if (!strcasecmp(key, "weight")) rc = sched_prefs_int(val, name, "weight", &c->weight, err);
    else if (!strcasecmp(key, "maxReplicas")) {
      if (!val) c->max_replicas = SCHED_UNBOUNDED; /* *int64: null is nil */
      else rc = sched_prefs_int(val, name, "maxReplicas", &c->max_replicas, err);
    }
    if (rc) return rc;
  }
  return 0;
}

static int sched_prefs_clusters(json_object *o, sched_prefs *p, kf_error *err) {
  if (!o) return 0;
  if (!json_object_is_type(o, json_type_object)) return kf_error_set(err, -EINVAL, "\"clusters\" is not an object");
  /* Go decodes a second "Clusters" key into the same map: entries add up, a repeated name is replaced. */
  json_object_object_foreach (o, name, val) {
    size_t i = 0;
    int rc;
    while (i < p->n && strcmp(p->clusters[i].cluster, name) != 0) i++;
    if (i == p->n) p->clusters = kf_realloc(p->clusters, ++p->n * sizeof(*p->clusters));
    else free(p->clusters[i].cluster);
    memset(&p->clusters[i], 0, sizeof(p->clusters[i]));
    if ((rc = sched_prefs_cluster(name, val, &p->clusters[i], err))) return rc;
  }
  return 0;
}

static int sched_prefs_doc(const char *text, sched_prefs *p, kf_error *err) {
  size_t len = strlen(text), end;
  json_tokener *tok = json_tokener_new_ex(SCHED_PREFS_DEPTH);
  json_object *doc;
  int rc = 0;
  if (!tok) return kf_error_set(err, -ENOMEM, "out of memory");
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
  doc = json_tokener_parse_ex(tok, text, (int)len);
  end = doc && json_tokener_get_error(tok) == json_tokener_success ? json_tokener_get_parse_end(tok) : 0;
  json_tokener_free(tok);
  if (!doc || end == 0) {
    json_object_put(doc);
    return kf_error_set(err, -EINVAL, "not valid JSON");
  }
  while (end < len && isspace((unsigned char)text[end])) end++;
  if (end < len) rc = kf_error_set(err, -EINVAL, "text after the JSON value");
  else if (!json_object_is_type(doc, json_type_object)) rc = kf_error_set(err, -EINVAL, "not a JSON object");
  else {
    json_object_object_foreach (doc, key, val) {
      if (rc) break;
      if (!strcasecmp(key, "rebalance")) {
        if (val && !json_object_is_type(val, json_type_boolean))
          rc = kf_error_set(err, -EINVAL, "\"rebalance\" is not a boolean");
        else if (val) p->rebalance = json_object_get_boolean(val);
      } else if (!strcasecmp(key, "clusters")) rc = sched_prefs_clusters(val, p, err);
    }
  }
  json_object_put(doc);
  return rc;
}

int sched_prefs_parse(const char *annotation, sched_prefs *out, kf_error *err) {
  int rc;
  memset(out, 0, sizeof(*out));
  if (!annotation) {
    sched_prefs_default(out);
    return 0;
  }
  if ((rc = sched_prefs_doc(annotation, out, err))) {
    sched_prefs_free(out);
    sched_prefs_default(out);
  }
  return rc;
}
