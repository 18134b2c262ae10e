#include <kf/kj.h>

#include <kf/error.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_object *kj_parse(const char *text, size_t len) {
  static json_tokener *tok;
  if (!text || len > (size_t)0x7fffffff) return NULL;
  if (!tok && !(tok = json_tokener_new_ex(KJ_MAX_DEPTH))) return NULL;
  json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
  json_tokener_reset(tok);
  return obj;
}

json_object *kj_obj(void) { return json_object_new_object(); }

static void kj_wipe(json_object *o) {
  switch (json_object_get_type(o)) {
    case json_type_string:
      /* json-c's string storage is the object's own heap memory; only the API is const. */
      explicit_bzero((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
      break;
    case json_type_object: {
      json_object_object_foreach (o, k, v) {
        (void)k;
        kj_wipe(v);
      }
      break;
    }
    case json_type_array:
      for (size_t i = 0; i < json_object_array_length(o); i++) kj_wipe(json_object_array_get_idx(o, i));
      break;
    default: break;
  }
}

void kj_put_wiped(json_object *o) {
  if (!o) return;
  kj_wipe(o);
  json_object_put(o);
}
json_object *kj_arr(void) { return json_object_new_array(); }

json_object *kj_set(json_object *obj, const char *key, json_object *val) {
  json_object_object_add(obj, key, val);
  return obj;
}

json_object *kj_str(json_object *obj, const char *key, const char *val) {
  if (val) json_object_object_add(obj, key, json_object_new_string(val));
  return obj;
}

json_object *kj_int(json_object *obj, const char *key, int64_t val) {
  json_object_object_add(obj, key, json_object_new_int64(val));
  return obj;
}

json_object *kj_bool(json_object *obj, const char *key, int val) {
  json_object_object_add(obj, key, json_object_new_boolean(val));
  return obj;
}

json_object *kj_copy(json_object *obj, const char *key, json_object *val) {
  json_object *dup = NULL;
  if (val && json_object_deep_copy(val, &dup, NULL) == 0) json_object_object_add(obj, key, dup);
  return obj;
}

json_object *kj_push(json_object *arr, json_object *val) {
  json_object_array_add(arr, val);
  return arr;
}

json_object *kj_push_str(json_object *arr, const char *val) { return kj_push(arr, json_object_new_string(val)); }

char *kj_join(json_object *arr, const char *sep) {
  size_t n = arr ? json_object_array_length(arr) : 0, len = 1;
  for (size_t i = 0; i < n; i++) len += strlen(json_object_get_string(json_object_array_get_idx(arr, i))) + strlen(sep);
  char *out = kf_calloc(len, 1);
  for (size_t i = 0; i < n; i++) {
    if (i) strcat(out, sep);
    strcat(out, json_object_get_string(json_object_array_get_idx(arr, i)));
  }
  return out;
}

static int kj_is_number(json_object *v) {
  return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

static int kj_subset_at(json_object *want, json_object *have, char *path, size_t size);

int kj_subset(json_object *want, json_object *have) { return kj_subset_at(want, have, NULL, 0); }

int kj_subset_why(json_object *want, json_object *have, char *path, size_t size) {
  if (size) path[0] = '\0';
  return kj_subset_at(want, have, path, size);
}

/* Appends ".key" or "[i]" to path (when tracking) before descending. */
static void kj_path_push(char *path, size_t size, const char *key, size_t idx) {
  size_t used;
  if (!path || !size) return;
  used = strlen(path);
  if (key) snprintf(path + used, size - used, ".%s", key);
  else snprintf(path + used, size - used, "[%zu]", idx);
}

static int kj_subset_at(json_object *want, json_object *have, char *path, size_t size) {
  if (!want) return !have || json_object_is_type(have, json_type_null);
  if (!have) return json_object_is_type(want, json_type_null);
  if (kj_is_number(want) && kj_is_number(have)) {
    if (json_object_is_type(want, json_type_int) && json_object_is_type(have, json_type_int))
      return json_object_get_int64(want) == json_object_get_int64(have);
    return json_object_get_double(want) == json_object_get_double(have);
  }
  if (json_object_get_type(want) != json_object_get_type(have)) return 0;
  switch (json_object_get_type(want)) {
    case json_type_object: {
      json_object_object_foreach (want, key, val) {
        json_object *other = NULL;
        if (!json_object_object_get_ex(have, key, &other)) {
          if (!json_object_is_type(val, json_type_null)) {
            kj_path_push(path, size, key, 0);
            return 0;
          }
          continue;
        }
        size_t mark = path ? strlen(path) : 0;
        kj_path_push(path, size, key, 0);
        if (!kj_subset_at(val, other, path, size)) return 0;
        if (path) path[mark] = '\0';
      }
      return 1;
    }
    case json_type_array: {
      size_t n = json_object_array_length(want);
      if (n != json_object_array_length(have)) return 0;
      for (size_t i = 0; i < n; i++) {
        size_t mark = path ? strlen(path) : 0;
        kj_path_push(path, size, NULL, i);
        if (!kj_subset_at(json_object_array_get_idx(want, i), json_object_array_get_idx(have, i), path, size)) return 0;
        if (path) path[mark] = '\0';
      }
      return 1;
    }
    case json_type_string:
      return json_object_get_string_len(want) == json_object_get_string_len(have) &&
             memcmp(json_object_get_string(want), json_object_get_string(have),
                    (size_t)json_object_get_string_len(want)) == 0;
    case json_type_boolean: return json_object_get_boolean(want) == json_object_get_boolean(have);
    default: return 1;
  }
}

void kj_clear(json_object *obj) {
  /* json-c's foreach cannot delete while it walks: collect the keys first. */
  size_t n = 0, cap = (size_t)json_object_object_length(obj);
  char **keys = kf_calloc(cap + 1, sizeof(char *));
  json_object_object_foreach (obj, k, v) {
    (void)v;
    if (n < cap) keys[n++] = kf_strdup(k);
  }
  for (size_t i = 0; i < n; i++) {
    json_object_object_del(obj, keys[i]);
    free(keys[i]);
  }
  free(keys);
}
