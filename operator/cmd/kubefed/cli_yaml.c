#include "cli_yaml.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

typedef struct cy_buf {
  char *p;
  size_t len, cap;
} cy_buf;

/* The text may be a kubeconfig with a private key: grow by copying and wiping the old
 * buffer rather than realloc, which would leave the bytes behind in freed memory. */
static int cy_write(void *data, unsigned char *buffer, size_t size) {
  cy_buf *b = data;
  kf_grow_wiped(&b->p, b->len, &b->cap, size);
  memcpy(b->p + b->len, buffer, size);
  b->len += size;
  b->p[b->len] = '\0';
  return 1;
}

int cli_yaml_needs_quotes(const char *s) {
  static const char *const words[] = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "~", "<<"};
  if (!s[0]) return 1;
  /* Anything that might read as a number, a timestamp, .inf/.nan, a sign, an indicator. */
  if (strchr("0123456789-+.~<=!&*?|>'\"%@`#,[]{}:", s[0])) return 1;
  for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
    if (strcasecmp(s, words[i]) == 0) return 1;
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    /* ": " and " #" change the meaning of a plain scalar; control characters need escapes;
     * leading or trailing blanks would be dropped. */
    if (c < 0x20 || c == 0x7f) return 1;
    if (c == ':' && (p[1] == ' ' || p[1] == '\0')) return 1;
    if (c == '#' && p > s && p[-1] == ' ') return 1;
  }
  if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[strlen(s) - 1])) return 1;
  return 0;
}

static int cy_scalar(yaml_emitter_t *e, const char *s, size_t len, int plain_implicit, yaml_scalar_style_t style) {
  yaml_event_t ev;
  if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, (int)len, plain_implicit, 1, style))
    return 0;
  return yaml_emitter_emit(e, &ev);
}

static int cy_string(yaml_emitter_t *e, const char *s, size_t len) {
  int multiline = memchr(s, '\n', len) != NULL;
  if (strlen(s) != len) return cy_scalar(e, s, len, 0, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
  if (multiline) {
    /* libyaml falls back to a quoted style when a literal block cannot hold the text. */
    return cy_scalar(e, s, len, 0, YAML_LITERAL_SCALAR_STYLE);
  }
  if (cli_yaml_needs_quotes(s)) return cy_scalar(e, s, len, 0, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
  return cy_scalar(e, s, len, 1, YAML_PLAIN_SCALAR_STYLE);
}

static int cy_value(yaml_emitter_t *e, json_object *v, int depth) {
  yaml_event_t ev;
  char num[64];
  if (depth > 100) return 0;
  switch (json_object_get_type(v)) {
    case json_type_null: return cy_scalar(e, "null", 4, 1, YAML_PLAIN_SCALAR_STYLE);
    case json_type_boolean:
      return json_object_get_boolean(v) ? cy_scalar(e, "true", 4, 1, YAML_PLAIN_SCALAR_STYLE)
                                        : cy_scalar(e, "false", 5, 1, YAML_PLAIN_SCALAR_STYLE);
    case json_type_int:
      snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(v));
      return cy_scalar(e, num, strlen(num), 1, YAML_PLAIN_SCALAR_STYLE);
    case json_type_double:
      snprintf(num, sizeof(num), "%.17g", json_object_get_double(v));
      if (!strpbrk(num, ".eEn")) strcat(num, ".0"); /* stay a float when read back */
      return cy_scalar(e, num, strlen(num), 1, YAML_PLAIN_SCALAR_STYLE);
    case json_type_string: return cy_string(e, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    case json_type_array: {
      size_t n = json_object_array_length(v);
      if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                n ? YAML_BLOCK_SEQUENCE_STYLE : YAML_FLOW_SEQUENCE_STYLE) ||
          !yaml_emitter_emit(e, &ev))
        return 0;
      for (size_t i = 0; i < n; i++)
        if (!cy_value(e, json_object_array_get_idx(v, i), depth + 1)) return 0;
      if (!yaml_sequence_end_event_initialize(&ev)) return 0;
      return yaml_emitter_emit(e, &ev);
    }
    case json_type_object: {
      int n = json_object_object_length(v);
      if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                               n ? YAML_BLOCK_MAPPING_STYLE : YAML_FLOW_MAPPING_STYLE) ||
          !yaml_emitter_emit(e, &ev))
        return 0;
      json_object_object_foreach (v, key, val) {
        if (!cy_string(e, key, strlen(key)) || !cy_value(e, val, depth + 1)) return 0;
      }
      if (!yaml_mapping_end_event_initialize(&ev)) return 0;
      return yaml_emitter_emit(e, &ev);
    }
  }
  return 0;
}

char *cli_yaml_emit(json_object *v, kf_error *err) {
  yaml_emitter_t e;
  yaml_event_t ev;
  cy_buf b = {0};
  int ok;
  if (!yaml_emitter_initialize(&e)) {
    kf_error_set(err, -ENOMEM, "cannot allocate a YAML emitter");
    return NULL;
  }
  yaml_emitter_set_output(&e, cy_write, &b);
  yaml_emitter_set_unicode(&e, 1);
  yaml_emitter_set_width(&e, -1);
  yaml_emitter_set_indent(&e, 2);
  ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&e, &ev) &&
       yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) && yaml_emitter_emit(&e, &ev) &&
       cy_value(&e, v, 0) && yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&e, &ev) &&
       yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&e, &ev) && yaml_emitter_flush(&e);
  if (!ok) {
    kf_error_set(err, -EINVAL, "cannot write YAML: %s", e.problem ? e.problem : "invalid value");
    yaml_emitter_delete(&e);
    if (b.p) kf_free_secret(b.p, b.cap);
    return NULL;
  }
  yaml_emitter_delete(&e);
  if (!b.p) b.p = kf_strdup("");
  return b.p;
}
