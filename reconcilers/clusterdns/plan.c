/* clusterdns_kubedns_plan: the kube-dns ConfigMap patch for a join or an unjoin, with the
 * bookkeeping that lets unjoin restore exactly what was there. Pure: the reconciler reads the
 * ConfigMap and sends the patch; the fuzzer runs this on hostile ConfigMaps. */
#include <stdlib.h>
#include <string.h>

#include "clusterdns.h"

#include <kf/kc.h>
#include <kf/kj.h>

/* Whether a kube-dns value is what it was before us, up to JSON formatting for stubDomains. */
static int clusterdns_same_value(const char *key, const char *before, const char *now) {
  if (!now) return 0;
  if (strcmp(key, DNS_KUBEDNS_STUBDOMAINS) != 0) return strcmp(before, now) == 0;
  json_object *a = json_tokener_parse(before), *b = json_tokener_parse(now);
  int same = a && b && json_object_equal(a, b);
  if (a) json_object_put(a);
  if (b) json_object_put(b);
  return same;
}

/* "a,b" -> {"a", "b", NULL} pointing into copy (which the caller frees with the array). */
static const char **clusterdns_split(char *copy) {
  size_t n = 1;
  for (const char *p = copy; *p; p++) n += *p == ',';
  const char **keys = calloc(n + 1, sizeof(*keys));
  if (!keys) abort();
  size_t k = 0;
  char *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t && k < n; t = strtok_r(NULL, ",", &save)) keys[k++] = t;
  return keys;
}

/* Unjoin: the keys we created go (null), the others get their original text back when only
 * formatting differs; the marks go. */
static void clusterdns_plan_unjoin(json_object *out, json_object *ann, const char *original,
                                   const clusterdns_marks *m) {
  kj_set(ann, m->created, NULL);
  kj_set(ann, m->original, NULL);
  json_object *orig = original ? json_tokener_parse(original) : NULL;
  if (orig && !json_object_is_type(orig, json_type_object)) {
    json_object_put(orig);
    orig = NULL;
  }
  json_object_object_foreach (out, k, v) {
    json_object *b = orig ? json_object_object_get(orig, k) : NULL;
    const char *before = b && json_object_is_type(b, json_type_string) ? json_object_get_string(b) : NULL;
    if (before && clusterdns_same_value(k, before, json_object_get_string(v))) kj_str(out, k, before);
  }
  if (orig) json_object_put(orig);
}

/* Join, first time: which keys are new (created) and the text of those that were there. */
static void clusterdns_plan_join(json_object *out, json_object *data, json_object *ann, const clusterdns_marks *m) {
  json_object *created = kj_arr(), *orig = kj_obj();
  json_object_object_foreach (out, k, v) {
    (void)v;
    const char *before = kc_obj_key_str(data, k);
    if (!before) kj_push_str(created, k);
    else kj_str(orig, k, before);
  }
  char *keys = kj_join(created, ",");
  kj_str(ann, m->created, keys);
  kj_str(ann, m->original, json_object_to_json_string_ext(orig, KC_JSON_FLAGS));
  free(keys);
  json_object_put(created);
  json_object_put(orig);
}

int clusterdns_kubedns_plan(json_object *cm, const clusterdns_entry *e, int unjoin, const clusterdns_marks *marks,
                            json_object **patch, kf_error *err) {
  json_object *data = kc_obj_get(cm, "data"), *anns = kc_obj_get(cm, "metadata.annotations"), *out = NULL;
  const char *created = json_object_is_type(anns, json_type_object) ? kc_obj_key_str(anns, marks->created) : NULL;
  const char *original = json_object_is_type(anns, json_type_object) ? kc_obj_key_str(anns, marks->original) : NULL;
  int rc;
  *patch = NULL;
  if (unjoin) {
    char *copy = kf_strdup(created ? created : "");
    const char **keys = clusterdns_split(copy);
    rc = clusterdns_kubedns_remove(data, e, keys, &out, err);
    free(keys);
    free(copy);
  } else {
    rc = clusterdns_kubedns_has(data, e) ? 0 : clusterdns_kubedns_add(data, e, &out, err);
  }
  if (rc != 0 || !out || json_object_object_length(out) == 0) {
    if (out) json_object_put(out);
    return rc;
  }
  json_object *ann = kj_obj();
  if (unjoin) clusterdns_plan_unjoin(out, ann, original, marks);
  else if (!created) clusterdns_plan_join(out, data, ann, marks);
  *patch = kj_obj();
  kj_set(*patch, "metadata", kj_set(kj_obj(), "annotations", ann));
  kj_set(*patch, "data", out);
  return 0;
}

int clusterdns_kubedns_new(const clusterdns_entry *e, const clusterdns_marks *marks, const char *created_cm,
                           json_object **cm, kf_error *err) {
  json_object *patch = NULL;
  *cm = NULL;
  int rc = clusterdns_kubedns_plan(NULL, e, 0, marks, &patch, err);
  if (rc != 0) return rc;
  if (!patch) return kf_error_set(err, -EINVAL, "nothing to write for federation %s", e->federation);
  json_object *meta = kc_obj_get(patch, "metadata");
  kj_str(meta, "name", "kube-dns");
  kj_str(meta, "namespace", "kube-system");
  kj_str(kc_obj_get(meta, "annotations"), created_cm, "true");
  *cm = kj_obj();
  kj_str(*cm, "apiVersion", "v1");
  kj_str(*cm, "kind", "ConfigMap");
  kj_set(*cm, "metadata", json_object_get(meta));
  kj_set(*cm, "data", json_object_get(kc_obj_get(patch, "data")));
  json_object_put(patch);
  return 0;
}

int clusterdns_kubedns_unjoin_deletes(json_object *cm, json_object *patch, const char *created_cm,
                                      const char *marks_prefix) {
  json_object *anns = kc_obj_get(cm, "metadata.annotations"), *data = kc_obj_get(cm, "data");
  json_object *pdata = kc_obj_get(patch, "data"), *panns = kc_obj_get(patch, "metadata.annotations");
  if (!json_object_is_type(anns, json_type_object) || !kf_streq(kc_obj_key_str(anns, created_cm), "true")) return 0;
  if (json_object_is_type(data, json_type_object)) {
    json_object_object_foreach (data, k, v) {
      (void)v;
      json_object *pv = NULL;
      /* A key the patch keeps (or does not touch) is somebody's: the ConfigMap stays. */
      if (!json_object_is_type(pdata, json_type_object) || !json_object_object_get_ex(pdata, k, &pv) || pv) return 0;
    }
  }
  size_t pl = strlen(marks_prefix);
  json_object_object_foreach (anns, ak, av) {
    (void)av;
    json_object *pv = NULL;
    int dropped = json_object_is_type(panns, json_type_object) && json_object_object_get_ex(panns, ak, &pv) && !pv;
    if (!strncmp(ak, marks_prefix, pl) && !dropped) return 0; /* another federation's mark */
  }
  return 1;
}
