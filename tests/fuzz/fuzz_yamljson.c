/* libFuzzer target for the YAML to JSON converter: arbitrary bytes as a manifest.
 *
 *   tests/fuzz/run-fuzzer.sh yamljson 30 /tmp/kf-fuzz
 *
 * Besides memory errors and leaks (ASan), it checks:
 *   - an error leaves *out NULL and err filled with the returned code, one of
 *     the documented ones;
 *   - a success is an array of non-null documents, and kf_yaml_to_json_one
 *     agrees with it (succeeds iff there is exactly one, with the same value);
 *   - JSON is YAML: each document's JSON text parses back to the same value,
 *     unless it holds what JSON or libyaml cannot carry (NaN and infinities,
 *     characters YAML only allows escaped, keys past YAML's 1024-character
 *     limit on implicit keys). */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kf/yaml.h>

#define JSON_FLAGS JSON_C_TO_STRING_PLAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Characters libyaml reads back unchanged inside a JSON string: YAML's
 * c-printable, less NEL, LS and PS, which libyaml (like YAML 1.1) takes for
 * line breaks and folds. Decodes UTF-8 that json-c copied from a valid YAML
 * string. */
static bool printable_utf8(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    uint32_t c = p[i];
    size_t k = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (i + k > n) return false;
    if (k > 1) {
      c &= 0x3fu >> (k - 1);
      for (size_t j = 1; j < k; j++) c = (c << 6) | (p[i + j] & 0x3fu);
    }
    i += k;
    /* JSON escapes the C0 controls, so they are fine here. */
    if (c <= 0x7e || (c >= 0xa0 && c <= 0xd7ff && c != 0x2028 && c != 0x2029) ||
        (c >= 0xe000 && c <= 0xfffd && c != 0xfeff) || (c >= 0x10000 && c <= 0x10ffff))
      continue;
    return false;
  }
  return true;
}

/* YAML limits an implicit key to 1024 characters of input, quotes and
 * escapes included: bound the JSON text of the key from above. */
static bool short_key(const char *key) {
  size_t n = 2;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++)
    n += *p < 0x20 ? 6 : (*p == '"' || *p == '\\' || *p == '/') ? 2 : 1;
  return n <= 1000;
}

/* Whether the JSON text of v is valid YAML meaning the same thing. */
static bool round_trips(json_object *v) {
  switch (json_object_get_type(v)) {
    case json_type_double: return isfinite(json_object_get_double(v));
    case json_type_string: return printable_utf8(json_object_get_string(v), (size_t)json_object_get_string_len(v));
    case json_type_array:
      for (size_t i = 0; i < json_object_array_length(v); i++)
        if (!round_trips(json_object_array_get_idx(v, i))) return false;
      return true;
    case json_type_object: {
      json_object_object_foreach (v, key, val) {
        if (!short_key(key) || !printable_utf8(key, strlen(key)) || !round_trips(val)) return false;
      }
      return true;
    }
    default: return true;
  }
}

static void check_error(int rc, json_object *out, const kf_error *err) {
  if (out != NULL || err->code != rc || err->msg[0] == '\0') __builtin_trap();
  if (rc != -EINVAL && rc != -EFBIG && rc != -ENOTSUP && rc != -ENOMEM) __builtin_trap();
}

static void check_round_trip(json_object *doc) {
  json_object *again = NULL;
  kf_error err;
  const char *text;
  char *copy;

  if (!round_trips(doc)) return;
  copy = strdup(json_object_to_json_string_ext(doc, JSON_FLAGS));
  if (!copy) return;
  kf_error_clear(&err);
  if (kf_yaml_to_json_one(copy, strlen(copy), &again, &err) != 0) __builtin_trap();
  text = json_object_to_json_string_ext(again, JSON_FLAGS);
  if (strcmp(text, copy) != 0) __builtin_trap();
  json_object_put(again);
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_object *docs = NULL, *one = NULL;
  kf_error err, err1;
  int rc, rc1;
  size_t n;

  kf_error_clear(&err);
  kf_error_clear(&err1);
  rc = kf_yaml_to_json((const char *)data, size, &docs, &err);
  rc1 = kf_yaml_to_json_one((const char *)data, size, &one, &err1);
  if (rc != 0) {
    check_error(rc, docs, &err);
    check_error(rc1, one, &err1);
    return 0;
  }
  if (!json_object_is_type(docs, json_type_array)) __builtin_trap();
  n = json_object_array_length(docs);
  for (size_t i = 0; i < n; i++) {
    json_object *doc = json_object_array_get_idx(docs, i);
    if (!doc) __builtin_trap(); /* null documents are skipped */
    check_round_trip(doc);
  }
  if (n == 1) {
    char *a;
    if (rc1 != 0) __builtin_trap();
    a = strdup(json_object_to_json_string_ext(json_object_array_get_idx(docs, 0), JSON_FLAGS));
    if (a && strcmp(a, json_object_to_json_string_ext(one, JSON_FLAGS)) != 0) __builtin_trap();
    free(a);
    json_object_put(one);
  } else {
    if (rc1 != -EINVAL) __builtin_trap();
    check_error(rc1, one, &err1);
  }
  json_object_put(docs);
  return 0;
}
