/* servicedns ingresses: the federation.kubernetes.io/service-ingresses annotation (build, parse)
 * and whether a member's EndpointSlices have a ready endpoint. */
#include "servicedns_internal.h"

#include <stdlib.h>
#include <string.h>

/* The entry for cluster in a parsed annotation, or NULL. */
static json_object *entry_of(json_object *items, const char *cluster) {
  size_t n = json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 0;
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(items, i), *c = NULL;
    if (json_object_object_get_ex(e, "cluster", &c) && json_object_is_type(c, json_type_string) &&
        strcmp(json_object_get_string(c), cluster) == 0)
      return e;
  }
  return NULL;
}

static int by_cluster(const void *a, const void *b) {
  json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
  return strcmp(json_object_get_string(json_object_object_get(x, "cluster")),
                json_object_get_string(json_object_object_get(y, "cluster")));
}

char *servicedns_ingresses_build(const char *current, const servicedns_member *members, size_t n) {
  json_object *old = current ? json_tokener_parse(current) : NULL;
  json_object *old_items = old && json_object_is_type(old, json_type_object) ? json_object_object_get(old, "items")
                                                                             : NULL;
  json_object **entries = kf_calloc(n + 1, sizeof(*entries));
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const servicedns_member *m = &members[i];
    if (!m->ready) {
      /* Not Ready: what we last knew stands (its records stay until it is back or leaves). */
      json_object *prev = old_items ? entry_of(old_items, m->name) : NULL;
      if (prev) json_object_deep_copy(prev, &entries[k++], NULL);
      continue;
    }
    size_t ni = json_object_is_type(m->ingress, json_type_array) ? json_object_array_length(m->ingress) : 0;
    if (ni == 0) continue;
    json_object *e = json_object_new_object();
    json_object_object_add(e, "cluster", json_object_new_string(m->name));
    json_object *items = NULL;
    if (m->endpoints_ready) json_object_deep_copy(m->ingress, &items, NULL);
    json_object_object_add(e, "items", items); /* null: listed, no healthy address */
    entries[k++] = e;
  }
  qsort(entries, k, sizeof(*entries), by_cluster);
  json_object *out = json_object_new_object(), *arr = json_object_new_array();
  for (size_t i = 0; i < k; i++) json_object_array_add(arr, entries[i]);
  json_object_object_add(out, "items", arr);
  char *text = kf_strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(out);
  json_object_put(old);
  free(entries);
  return text;
}

void servicedns_listed_free(servicedns_listed *l, size_t n) {
  if (!l) return;
  for (size_t i = 0; i < n; i++) {
    free(l[i].cluster);
    for (char **a = l[i].addresses; a && *a; a++) free(*a);
    free(l[i].addresses);
  }
  free(l);
}

int servicedns_ingresses_parse(const char *text, servicedns_listed **out, size_t *n, kf_error *err) {
  *out = NULL;
  *n = 0;
  json_object *o = text ? json_tokener_parse(text) : NULL, *items = NULL;
  if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "items", &items) ||
      !json_object_is_type(items, json_type_array)) {
    json_object_put(o);
    return kf_error_set(err, -EINVAL, "%s is not {\"items\":[...]}", SERVICEDNS_ANNOTATION);
  }
  size_t m = json_object_array_length(items);
  servicedns_listed *l = kf_calloc(m + 1, sizeof(*l));
  int rc = 0;
  for (size_t i = 0; i < m && rc == 0; i++) {
    json_object *e = json_object_array_get_idx(items, i), *c = NULL, *addrs = NULL;
    if (!json_object_is_type(e, json_type_object) || !json_object_object_get_ex(e, "cluster", &c) ||
        !json_object_is_type(c, json_type_string)) {
      rc = kf_error_set(err, -EINVAL, "%s: entry %zu has no cluster name", SERVICEDNS_ANNOTATION, i);
      break;
    }
    json_object_object_get_ex(e, "items", &addrs);
    size_t na = json_object_is_type(addrs, json_type_array) ? json_object_array_length(addrs) : 0;
    l[i].cluster = kf_strdup(json_object_get_string(c));
    l[i].addresses = kf_calloc(na + 1, sizeof(char *));
    size_t w = 0;
    for (size_t j = 0; j < na; j++) {
      json_object *a = json_object_array_get_idx(addrs, j), *v = NULL;
      if ((json_object_object_get_ex(a, "ip", &v) && json_object_is_type(v, json_type_string) &&
           *json_object_get_string(v)) ||
          (json_object_object_get_ex(a, "hostname", &v) && json_object_is_type(v, json_type_string) &&
           *json_object_get_string(v)))
        l[i].addresses[w++] = kf_strdup(json_object_get_string(v));
    }
    (*n)++;
  }
  json_object_put(o);
  if (rc != 0) {
    servicedns_listed_free(l, *n);
    *n = 0;
    return rc;
  }
  *out = l;
  return 0;
}

int servicedns_slices_ready(json_object *const *slices, size_t n) {
  for (size_t i = 0; i < n; i++) {
    json_object *eps = slices[i] ? json_object_object_get(slices[i], "endpoints") : NULL;
    size_t m = json_object_is_type(eps, json_type_array) ? json_object_array_length(eps) : 0;
    for (size_t j = 0; j < m; j++) {
      json_object *cond = json_object_object_get(json_object_array_get_idx(eps, j), "conditions");
      json_object *ready = cond ? json_object_object_get(cond, "ready") : NULL;
      if (!ready || json_object_get_boolean(ready)) return 1;
    }
  }
  return 0;
}
