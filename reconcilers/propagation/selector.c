/* kubefed v1's cluster selector (reference §2.5): the annotation
 * federation.alpha.kubernetes.io/cluster-selector holds a JSON array of
 * {"key","operator","values"} (field names matched case-insensitively, as Go's encoding/json),
 * ANDed and matched against a Cluster's labels with labels.Requirement's rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <kf/kj.h>

#include "propagation.h"

typedef enum { OP_IN, OP_NOT_IN, OP_EXISTS, OP_NOT_EXISTS, OP_GT, OP_LT } sel_op;

typedef struct requirement {
  char *key;
  sel_op op;
  char **values;
  size_t n;
  long long bound; /* OP_GT, OP_LT */
} requirement;

struct prop_selector {
  requirement *reqs;
  size_t n;
};

/* Every spelling v1 accepted (labels/selection operators, as strings). */
static const struct {
  const char *text;
  sel_op op;
  int values; /* -1: one or more, 0: none, 1: exactly one */
} OPS[] = {
    {"in", OP_IN, -1},
    {"In", OP_IN, -1},
    {"=", OP_IN, 1},
    {"==", OP_IN, 1},
    {"notin", OP_NOT_IN, -1},
    {"NotIn", OP_NOT_IN, -1},
    {"!=", OP_NOT_IN, 1},
    {"exists", OP_EXISTS, 0},
    {"Exists", OP_EXISTS, 0},
    {"!", OP_NOT_EXISTS, 0},
    {"DoesNotExist", OP_NOT_EXISTS, 0},
    {"gt", OP_GT, 1},
    {"Gt", OP_GT, 1},
    {">", OP_GT, 1},
    {"lt", OP_LT, 1},
    {"Lt", OP_LT, 1},
    {"<", OP_LT, 1},
};

static json_object *field(json_object *o, const char *name) {
  json_object_object_foreach (o, k, v)
    if (strcasecmp(k, name) == 0) return v;
  return NULL;
}

static int parse_int(const char *s, long long *out) {
  char *end;
  errno = 0;
  *out = strtoll(s, &end, 10);
  return s[0] && !*end && errno == 0 ? 0 : -EINVAL;
}

static int parse_one(json_object *item, size_t i, requirement *r, kf_error *err) {
  if (!json_object_is_type(item, json_type_object))
    return kf_error_set(err, -EINVAL, "requirement %zu is not an object", i);
  json_object *key = field(item, "key"), *op = field(item, "operator"), *values = field(item, "values");
  if (!key || !json_object_is_type(key, json_type_string) || !json_object_get_string(key)[0])
    return kf_error_set(err, -EINVAL, "requirement %zu: key must be a non-empty string", i);
  r->key = kf_strdup(json_object_get_string(key));
  const char *op_text = op && json_object_is_type(op, json_type_string) ? json_object_get_string(op) : "";
  int want = -2;
  for (size_t k = 0; k < sizeof(OPS) / sizeof(OPS[0]); k++)
    if (strcmp(op_text, OPS[k].text) == 0) r->op = OPS[k].op, want = OPS[k].values;
  if (want == -2)
    return kf_error_set(err, -EINVAL, "requirement %zu (%s): unknown operator \"%s\"", i, r->key, op_text);
  if (values && !json_object_is_type(values, json_type_array) && !json_object_is_type(values, json_type_null))
    return kf_error_set(err, -EINVAL, "requirement %zu (%s): values must be an array of strings", i, r->key);
  size_t n = values && json_object_is_type(values, json_type_array) ? json_object_array_length(values) : 0;
  if ((want == -1 && n == 0) || (want == 0 && n != 0) || (want == 1 && n != 1))
    return kf_error_set(err, -EINVAL, "requirement %zu (%s): operator %s takes %s", i, r->key, op_text,
                        want == -1  ? "one or more values"
                        : want == 0 ? "no values"
                                    : "exactly one value");
  r->values = kf_calloc(n + 1, sizeof(char *));
  for (size_t k = 0; k < n; k++) {
    json_object *v = json_object_array_get_idx(values, k);
    if (!json_object_is_type(v, json_type_string))
      return kf_error_set(err, -EINVAL, "requirement %zu (%s): values must be strings", i, r->key);
    r->values[r->n++] = kf_strdup(json_object_get_string(v));
  }
  if ((r->op == OP_GT || r->op == OP_LT) && parse_int(r->values[0], &r->bound) != 0)
    return kf_error_set(err, -EINVAL, "requirement %zu (%s): operator %s needs an integer, not \"%s\"", i, r->key,
                        op_text, r->values[0]);
  return 0;
}

int prop_selector_parse(const char *text, prop_selector **out, kf_error *err) {
  prop_selector *s = kf_calloc(1, sizeof(*s));
  *out = NULL;
  if (!text) {
    *out = s;
    return 0;
  }
  json_object *arr = kj_parse(text, strlen(text));
  int rc = 0;
  if (!arr || !json_object_is_type(arr, json_type_array)) {
    rc = kf_error_set(err, -EINVAL, "%s is not a JSON array of {\"key\",\"operator\",\"values\"}",
                      PROP_ANNOTATION_SELECTOR);
  } else {
    size_t n = json_object_array_length(arr);
    s->reqs = kf_calloc(n + 1, sizeof(requirement));
    for (size_t i = 0; i < n && rc == 0; i++, s->n++)
      rc = parse_one(json_object_array_get_idx(arr, i), i, &s->reqs[i], err);
  }
  json_object_put(arr);
  if (rc != 0) {
    prop_selector_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

static int has_value(const requirement *r, const char *v) {
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(r->values[i], v) == 0) return 1;
  return 0;
}

static int matches(const requirement *r, json_object *labels) {
  const char *v = kc_obj_key_str(labels, r->key);
  long long n;
  switch (r->op) {
    case OP_IN: return v && has_value(r, v);
    case OP_NOT_IN: return !v || !has_value(r, v);
    case OP_EXISTS: return v != NULL;
    case OP_NOT_EXISTS: return v == NULL;
    case OP_GT: return v && parse_int(v, &n) == 0 && n > r->bound;
    case OP_LT: return v && parse_int(v, &n) == 0 && n < r->bound;
  }
  return 0;
}

int prop_selector_match(const prop_selector *s, json_object *labels) {
  for (size_t i = 0; i < s->n; i++)
    if (!matches(&s->reqs[i], labels)) return 0;
  return 1;
}

void prop_selector_free(prop_selector *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) {
    for (size_t k = 0; k < s->reqs[i].n; k++) free(s->reqs[i].values[k]);
    free(s->reqs[i].values);
    free(s->reqs[i].key);
  }
  free(s->reqs);
  free(s);
}
