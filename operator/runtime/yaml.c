/* kf_yaml: YAML to json-c, streaming over libyaml events.
 *
 * Unlike kubeconfig.c we never load a yaml_document_t: each event becomes a
 * json-c value (or a pending mapping key) at once, attached to its parent
 * before the next event is read. So on any error the only things to free are
 * the current document's root (which owns every open container), the pending
 * keys and the result array. Limits are checked per event, before anything is
 * built for it, so hostile input costs at most KF_YAML_MAX_NODES small objects;
 * and since anchors and aliases are refused, output size is bounded by input
 * size (no "billion laughs"). Containers are tracked on a fixed stack, not by
 * recursion, so depth is bounded by KF_YAML_MAX_DEPTH without using C stack. */
#include <kf/yaml.h>

#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define YJ_CORE_PREFIX "tag:yaml.org,2002:"

/* The tags we accept: the YAML 1.2 core schema plus "!" (non-specific, which
 * forces a string on a scalar). */
typedef enum {
  YJ_TAG_NONE, /* no tag: resolve plain scalars by content */
  YJ_TAG_BANG, /* "!" */
  YJ_TAG_STR,
  YJ_TAG_INT,
  YJ_TAG_FLOAT,
  YJ_TAG_BOOL,
  YJ_TAG_NULL,
  YJ_TAG_MAP,
  YJ_TAG_SEQ,
} yj__tag;

static const struct {
  const char *name; /* after YJ_CORE_PREFIX */
  yj__tag tag;
} yj__core_tags[] = {
    {"str", YJ_TAG_STR},   {"int", YJ_TAG_INT}, {"float", YJ_TAG_FLOAT}, {"bool", YJ_TAG_BOOL},
    {"null", YJ_TAG_NULL}, {"map", YJ_TAG_MAP}, {"seq", YJ_TAG_SEQ},
};

/* One open sequence or mapping. */
typedef struct yj__frame {
  json_object *obj; /* owned by its parent, or by yj__st.root for the outermost */
  bool is_map;
  char *key; /* mapping: member name read, its value pending; NULL: expecting a key */
} yj__frame;

typedef struct yj__st {
  kf_error *err;
  const char *text; /* the input, to place reader errors (which carry only an offset) */
  size_t len;
  json_object *docs;    /* the result array */
  json_object *root;    /* the current document's value until it moves into docs */
  size_t max_docs;      /* SIZE_MAX, or 1 for kf_yaml_to_json_one */
  yaml_mark_t doc_mark; /* where the current document starts */
  size_t depth;         /* open containers: stack[0 .. depth-1] */
  size_t nodes;
  yj__frame stack[KF_YAML_MAX_DEPTH];
} yj__st;

/* ---- errors ------------------------------------------------------------- */

/* Keys and tags come from the input: replace control characters so a message
 * cannot forge log lines. */
static void yj__sanitize(kf_error *err) {
  if (!err) return;
  for (char *p = err->msg; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

static int yj__fail(yj__st *st, const yaml_mark_t *m, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int yj__fail(yj__st *st, const yaml_mark_t *m, int code, const char *fmt, ...) {
  char detail[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  kf_error_set(st->err, code, "YAML line %zu, column %zu: %s", m->line + 1, m->column + 1, detail);
  yj__sanitize(st->err);
  return code;
}

static int yj__nomem(yj__st *st) { return kf_error_set(st->err, -ENOMEM, "out of memory converting YAML to JSON"); }

/* libyaml's reader reports only a byte offset: count lines and characters
 * (not UTF-8 continuation bytes) up to it, as its scanner marks do. */
static yaml_mark_t yj__mark_at(const char *text, size_t len, size_t off) {
  yaml_mark_t m = {0};
  if (off > len) off = len;
  for (size_t i = 0; i < off; i++) {
    if (text[i] == '\n') {
      m.line++;
      m.column = 0;
    } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
      m.column++;
    }
  }
  m.index = off;
  return m;
}

static int yj__parser_error(yj__st *st, const yaml_parser_t *p) {
  const char *problem = p->problem ? p->problem : "invalid YAML";
  yaml_mark_t m;
  switch (p->error) {
    case YAML_MEMORY_ERROR: return yj__nomem(st);
    case YAML_READER_ERROR:
      m = yj__mark_at(st->text, st->len, p->problem_offset);
      if (p->problem_value >= 0) return yj__fail(st, &m, -EINVAL, "%s (#%X)", problem, (unsigned)p->problem_value);
      return yj__fail(st, &m, -EINVAL, "%s", problem);
    default:
      /* problem and context are libyaml's constant strings, never input. */
      if (p->context)
        return yj__fail(st, &p->problem_mark, -EINVAL, "%s (%s at line %zu, column %zu)", problem, p->context,
                        p->context_mark.line + 1, p->context_mark.column + 1);
      return yj__fail(st, &p->problem_mark, -EINVAL, "%s", problem);
  }
}

/* ---- tags, anchors, limits ---------------------------------------------- */

/* Short form for messages: "!!binary" rather than "tag:yaml.org,2002:binary". */
static void yj__tag_name(const char *tag, const char **prefix, const char **rest) {
  size_t n = strlen(YJ_CORE_PREFIX);
  if (strncmp(tag, YJ_CORE_PREFIX, n) == 0) {
    *prefix = "!!";
    *rest = tag + n;
  } else {
    *prefix = "";
    *rest = tag;
  }
}

static int yj__tag_of(yj__st *st, const yaml_event_t *ev, const yaml_char_t *utag, yj__tag *out) {
  const char *tag = (const char *)utag, *prefix, *rest;
  size_t n = strlen(YJ_CORE_PREFIX);
  *out = YJ_TAG_NONE;
  if (!tag) return 0;
  if (strcmp(tag, "!") == 0) {
    *out = YJ_TAG_BANG;
    return 0;
  }
  if (strncmp(tag, YJ_CORE_PREFIX, n) == 0)
    for (size_t i = 0; i < sizeof(yj__core_tags) / sizeof(yj__core_tags[0]); i++)
      if (strcmp(tag + n, yj__core_tags[i].name) == 0) {
        *out = yj__core_tags[i].tag;
        return 0;
      }
  yj__tag_name(tag, &prefix, &rest);
  return yj__fail(st, &ev->start_mark, -ENOTSUP,
                  "tag %s%.100s is not supported (only the core schema: !!str, !!int, !!float, "
                  "!!bool, !!null, !!map, !!seq)",
                  prefix, rest);
}

/* An anchor is refused where it is defined, so the error points at the cause
 * rather than at a later alias. */
static int yj__no_anchor(yj__st *st, const yaml_event_t *ev, const yaml_char_t *anchor) {
  if (!anchor) return 0;
  return yj__fail(st, &ev->start_mark, -ENOTSUP, "anchor &%.64s: anchors and aliases are not supported",
                  (const char *)anchor);
}

static int yj__count_node(yj__st *st, const yaml_event_t *ev) {
  if (++st->nodes <= KF_YAML_MAX_NODES) return 0;
  return yj__fail(st, &ev->start_mark, -EFBIG, "more than %zu nodes", KF_YAML_MAX_NODES);
}

/* ---- scalars ---------------------------------------------------------------- */

static bool yj__is(const char *s, size_t n, const char *word) { return strlen(word) == n && memcmp(s, word, n) == 0; }

static bool yj__is_null(const char *s, size_t n) {
  return n == 0 || yj__is(s, n, "~") || yj__is(s, n, "null") || yj__is(s, n, "Null") || yj__is(s, n, "NULL");
}

static bool yj__is_bool(const char *s, size_t n, bool *b) {
  if (yj__is(s, n, "true") || yj__is(s, n, "True") || yj__is(s, n, "TRUE")) {
    *b = true;
    return true;
  }
  if (yj__is(s, n, "false") || yj__is(s, n, "False") || yj__is(s, n, "FALSE")) {
    *b = false;
    return true;
  }
  return false;
}

/* Digits in base (at least one) with a value <= limit. */
static bool yj__digits(const char *s, size_t n, unsigned base, uint64_t limit, uint64_t *v) {
  uint64_t acc = 0;
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    unsigned d;
    if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
    else return false;
    if (d >= base || acc > (limit - d) / base) return false;
    acc = acc * base + d;
  }
  *v = acc;
  return true;
}

/* Core-schema integers: [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+, within int64.
 * A decimal outside int64 is left to yj__float (its syntax matches). */
static bool yj__int(const char *s, size_t n, int64_t *v) {
  uint64_t u;
  bool neg = false;
  if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    if (!yj__digits(s + 2, n - 2, s[1] == 'x' ? 16 : 8, INT64_MAX, &u)) return false;
    *v = (int64_t)u;
    return true;
  }
  if (n > 0 && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s++;
    n--;
  }
  if (!yj__digits(s, n, 10, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &u)) return false;
  /* -(2^63) has no positive int64 counterpart: go through INT64_MIN. */
  *v = neg ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u) : (int64_t)u;
  return true;
}

static size_t yj__skip_digits(const char *s, size_t n, size_t i) {
  while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  return i;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool yj__float_syntax(const char *s, size_t n) {
  size_t i = 0, j;
  if (i < n && (s[i] == '-' || s[i] == '+')) i++;
  j = yj__skip_digits(s, n, i);
  if (j == i) { /* no integer part: needs .[0-9]+ */
    if (j >= n || s[j] != '.') return false;
    i = j + 1;
    j = yj__skip_digits(s, n, i);
    if (j == i) return false;
  } else if (j < n && s[j] == '.') {
    j = yj__skip_digits(s, n, j + 1);
  }
  i = j;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    j = yj__skip_digits(s, n, i);
    if (j == i) return false;
    i = j;
  }
  return i == n;
}

/* Numbers are written with '.' whatever LC_NUMERIC the process runs under. */
static locale_t yj__c_locale;
static pthread_once_t yj__c_locale_once = PTHREAD_ONCE_INIT;
static void yj__c_locale_init(void) { yj__c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* Core-schema floats. A finite literal too large for a double is not a float
 * (as in Go's yaml, whose ParseFloat fails on it): the caller keeps it a string,
 * rather than turning it into an infinity JSON cannot carry. */
static bool yj__float(const char *s, size_t n, double *v) {
  const char *t = s;
  size_t tn = n;
  char *end = NULL;
  if (tn > 0 && (t[0] == '-' || t[0] == '+')) {
    t++;
    tn--;
  }
  if (yj__is(t, tn, ".inf") || yj__is(t, tn, ".Inf") || yj__is(t, tn, ".INF")) {
    *v = s[0] == '-' ? -INFINITY : INFINITY;
    return true;
  }
  if (yj__is(s, n, ".nan") || yj__is(s, n, ".NaN") || yj__is(s, n, ".NAN")) {
    *v = NAN;
    return true;
  }
  if (!yj__float_syntax(s, n)) return false;
  /* libyaml NUL-terminates scalar values, and the syntax holds no NUL, so
   * strtod stops exactly at s + n. */
  pthread_once(&yj__c_locale_once, yj__c_locale_init);
  *v = yj__c_locale ? strtod_l(s, &end, yj__c_locale) : strtod(s, &end);
  return end == s + n && !isinf(*v);
}

static int yj__new(yj__st *st, json_object *v, json_object **out) {
  *out = v;
  return v ? 0 : yj__nomem(st);
}

static int yj__new_string(yj__st *st, const yaml_event_t *ev, const char *s, size_t n, json_object **out) {
  /* Cannot happen under KF_YAML_MAX_BYTES, but json-c takes an int. */
  if (n > INT_MAX) return yj__fail(st, &ev->start_mark, -EFBIG, "scalar longer than %d bytes", INT_MAX);
  return yj__new(st, json_object_new_string_len(s, (int)n), out);
}

static const char *yj__tag_label(yj__tag tag) {
  switch (tag) {
    case YJ_TAG_INT: return "!!int";
    case YJ_TAG_FLOAT: return "!!float";
    case YJ_TAG_BOOL: return "!!bool";
    case YJ_TAG_NULL: return "!!null";
    case YJ_TAG_MAP: return "!!map";
    case YJ_TAG_SEQ: return "!!seq";
    default: return "!!str";
  }
}

/* Resolves a scalar event to a json-c value (*out NULL is JSON null): by
 * content for an untagged plain scalar, as its tag says otherwise. */
static int yj__scalar(yj__st *st, const yaml_event_t *ev, json_object **out) {
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  yj__tag tag;
  bool any, b;
  int64_t i;
  double d;
  int rc;

  *out = NULL;
  rc = yj__tag_of(st, ev, ev->data.scalar.tag, &tag);
  if (rc) return rc;
  if (tag == YJ_TAG_MAP || tag == YJ_TAG_SEQ)
    return yj__fail(st, &ev->start_mark, -EINVAL, "%s tag on a scalar", yj__tag_label(tag));
  if (tag == YJ_TAG_STR || tag == YJ_TAG_BANG ||
      (tag == YJ_TAG_NONE && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE))
    return yj__new_string(st, ev, s, n, out);

  any = tag == YJ_TAG_NONE;
  if ((any || tag == YJ_TAG_NULL) && yj__is_null(s, n)) return 0;
  if ((any || tag == YJ_TAG_BOOL) && yj__is_bool(s, n, &b)) return yj__new(st, json_object_new_boolean(b), out);
  if ((any || tag == YJ_TAG_INT || tag == YJ_TAG_FLOAT) && yj__int(s, n, &i))
    return yj__new(st, tag == YJ_TAG_FLOAT ? json_object_new_double((double)i) : json_object_new_int64(i), out);
  if ((any || tag == YJ_TAG_FLOAT) && yj__float(s, n, &d)) return yj__new(st, json_object_new_double(d), out);
  if (!any) return yj__fail(st, &ev->start_mark, -EINVAL, "value is not a valid %s", yj__tag_label(tag));
  return yj__new_string(st, ev, s, n, out);
}

/* ---- building ----------------------------------------------------------- */

static yj__frame *yj__top(yj__st *st) { return st->depth ? &st->stack[st->depth - 1] : NULL; }

static bool yj__want_key(yj__st *st) {
  yj__frame *f = yj__top(st);
  return f && f->is_map && !f->key;
}

/* Member name for a key scalar. JSON names are strings; a plain key that
 * resolves to a boolean or an integer takes its JSON text, as sigs.k8s.io/yaml
 * does (so `0x10:` is "16" and duplicates `16:`), and a null key is "null"
 * (sigs.k8s.io/yaml refuses it; nothing in Kubernetes has one). A float key
 * keeps its text: reformatting it would not make it more useful. */
static int yj__key(yj__st *st, const yaml_event_t *ev, char **key) {
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  char *canon = NULL;
  json_object *v;
  int64_t i;
  bool b;
  int rc;

  *key = NULL;
  if (ev->data.scalar.tag) {
    /* Rare: resolve as a value, then name it like an untagged one. */
    rc = yj__scalar(st, ev, &v);
    if (rc) return rc;
    if (!v || json_object_is_type(v, json_type_boolean) || json_object_is_type(v, json_type_int))
      canon = kf_strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    json_object_put(v);
  } else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
    /* Merge keys only make sense with aliases, and would copy members around. */
    if (yj__is(s, n, "<<")) return yj__fail(st, &ev->start_mark, -ENOTSUP, "merge keys (<<) are not supported");
    /* The common case, a plain string, allocates nothing until kf_strndup. */
    if (yj__is_null(s, n)) canon = kf_strdup("null");
    else if (yj__is_bool(s, n, &b)) canon = kf_strdup(b ? "true" : "false");
    else if (yj__int(s, n, &i)) canon = kf_asprintf("%" PRId64, i);
  }
  if (canon) {
    *key = canon;
    return 0;
  }
  /* A NUL would silently truncate the member name. */
  if (memchr(s, '\0', n)) return yj__fail(st, &ev->start_mark, -EINVAL, "mapping key contains a NUL character");
  *key = kf_strndup(s, n);
  return 0;
}

/* Hands val (NULL: JSON null) to the open container, or makes it the
 * document's value. Takes ownership of val even when failing. */
static int yj__attach(yj__st *st, json_object *val) {
  yj__frame *f = yj__top(st);
  int rc;
  if (!f) {
    st->root = val;
    return 0;
  }
  if (f->is_map) {
    /* yj__key_event already refused duplicates: skip json-c's own lookup. */
    rc = json_object_object_add_ex(f->obj, f->key, val, JSON_C_OBJECT_ADD_KEY_IS_NEW);
    free(f->key);
    f->key = NULL;
  } else {
    rc = json_object_array_add(f->obj, val);
  }
  if (rc != 0) {
    json_object_put(val);
    return yj__nomem(st);
  }
  return 0;
}

static int yj__key_event(yj__st *st, const yaml_event_t *ev) {
  yj__frame *f = yj__top(st);
  char *key;
  int rc = yj__key(st, ev, &key);
  if (rc) return rc;
  if (json_object_object_get_ex(f->obj, key, NULL)) {
    rc = yj__fail(st, &ev->start_mark, -EINVAL, "duplicate key \"%.100s\"", key);
    free(key);
    return rc;
  }
  f->key = key;
  return 0;
}

static int yj__on_scalar(yj__st *st, const yaml_event_t *ev) {
  json_object *v;
  int rc = yj__count_node(st, ev);
  if (!rc) rc = yj__no_anchor(st, ev, ev->data.scalar.anchor);
  if (rc) return rc;
  if (yj__want_key(st)) return yj__key_event(st, ev);
  rc = yj__scalar(st, ev, &v);
  return rc ? rc : yj__attach(st, v);
}

static int yj__on_start(yj__st *st, const yaml_event_t *ev, bool is_map, const yaml_char_t *anchor,
                        const yaml_char_t *utag) {
  json_object *obj;
  yj__tag tag;
  int rc = yj__count_node(st, ev);
  if (!rc) rc = yj__no_anchor(st, ev, anchor);
  if (!rc) rc = yj__tag_of(st, ev, utag, &tag);
  if (rc) return rc;
  if (tag != YJ_TAG_NONE && tag != YJ_TAG_BANG && tag != (is_map ? YJ_TAG_MAP : YJ_TAG_SEQ))
    return yj__fail(st, &ev->start_mark, -EINVAL, "%s tag on a %s", yj__tag_label(tag),
                    is_map ? "mapping" : "sequence");
  /* JSON member names are strings: sigs.k8s.io/yaml refuses these too. */
  if (yj__want_key(st))
    return yj__fail(st, &ev->start_mark, -EINVAL, "a %s cannot be a mapping key", is_map ? "mapping" : "sequence");
  if (st->depth >= KF_YAML_MAX_DEPTH)
    return yj__fail(st, &ev->start_mark, -EFBIG, "nested deeper than %d levels", KF_YAML_MAX_DEPTH);
  /* json-c's default array has 32 slots: 256 bytes for each `[]` of input.
   * Start small (it doubles as it grows); maps have no such knob. */
  obj = is_map ? json_object_new_object() : json_object_new_array_ext(4);
  if (!obj) return yj__nomem(st);
  rc = yj__attach(st, obj);
  if (rc) return rc;
  st->stack[st->depth++] = (yj__frame){.obj = obj, .is_map = is_map, .key = NULL};
  return 0;
}

static void yj__on_end(yj__st *st) {
  yj__frame *f = yj__top(st);
  if (!f) return; /* libyaml balances start and end events; be safe anyway */
  free(f->key);   /* always NULL: libyaml emits an empty value for a lone key */
  f->key = NULL;
  st->depth--;
}

static int yj__on_doc_end(yj__st *st) {
  json_object *root = st->root;
  st->root = NULL;
  if (!root) return 0; /* empty, comments only, or null: skipped like kubectl */
  if (json_object_array_length(st->docs) >= st->max_docs) {
    st->root = root; /* freed by the caller's cleanup */
    return yj__fail(st, &st->doc_mark, -EINVAL, "a second document where exactly one is expected");
  }
  if (json_object_array_add(st->docs, root) != 0) {
    json_object_put(root);
    return yj__nomem(st);
  }
  return 0;
}

static int yj__event(yj__st *st, const yaml_event_t *ev) {
  switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
      st->root = NULL;
      st->doc_mark = ev->start_mark;
      return 0;
    case YAML_DOCUMENT_END_EVENT: return yj__on_doc_end(st);
    case YAML_ALIAS_EVENT:
      return yj__fail(st, &ev->start_mark, -ENOTSUP, "alias *%.64s: anchors and aliases are not supported",
                      (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT: return yj__on_scalar(st, ev);
    case YAML_SEQUENCE_START_EVENT:
      return yj__on_start(st, ev, false, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
    case YAML_MAPPING_START_EVENT:
      return yj__on_start(st, ev, true, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: yj__on_end(st); return 0;
    default: /* stream start/end, no event */ return 0;
  }
}

/* Frees whatever an error left half-built. */
static void yj__cleanup(yj__st *st) {
  for (size_t i = 0; i < st->depth; i++) free(st->stack[i].key);
  st->depth = 0;
  json_object_put(st->root); /* owns every open container */
  st->root = NULL;
  json_object_put(st->docs);
  st->docs = NULL;
}

static int yj__run(yj__st *st) {
  yaml_parser_t p;
  bool done = false;
  int rc = 0;

  if (!yaml_parser_initialize(&p)) return yj__nomem(st);
  yaml_parser_set_input_string(&p, (const unsigned char *)st->text, st->len);
  while (!done && rc == 0) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) { /* ev holds nothing on failure */
      rc = yj__parser_error(st, &p);
      break;
    }
    done = ev.type == YAML_STREAM_END_EVENT;
    rc = yj__event(st, &ev);
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  return rc;
}

static int yj__parse(const char *text, size_t len, size_t max_docs, json_object **out, kf_error *err) {
  yj__st st = {.err = err, .text = text ? text : "", .len = len, .max_docs = max_docs};
  int rc;

  if (!out) return kf_error_set(err, -EINVAL, "kf_yaml: no output pointer");
  *out = NULL;
  if (!text && len > 0) return kf_error_set(err, -EINVAL, "kf_yaml: NULL text");
  if (len > KF_YAML_MAX_BYTES)
    return kf_error_set(err, -EFBIG, "YAML is %zu bytes, more than the limit of %zu", len, KF_YAML_MAX_BYTES);
  st.docs = json_object_new_array();
  if (!st.docs) return yj__nomem(&st);
  rc = yj__run(&st);
  if (rc) {
    yj__cleanup(&st);
    return rc;
  }
  *out = st.docs;
  return 0;
}

int kf_yaml_to_json(const char *text, size_t len, json_object **out, kf_error *err) {
  return yj__parse(text, len, SIZE_MAX, out, err);
}

int kf_yaml_to_json_one(const char *text, size_t len, json_object **out, kf_error *err) {
  json_object *docs, *doc;
  int rc;
  if (!out) return kf_error_set(err, -EINVAL, "kf_yaml: no output pointer");
  rc = yj__parse(text, len, 1, &docs, err);
  if (rc) return rc;
  if (json_object_array_length(docs) == 0) {
    json_object_put(docs);
    return kf_error_set(err, -EINVAL, "YAML has no document where exactly one is expected");
  }
  doc = json_object_get(json_object_array_get_idx(docs, 0));
  json_object_put(docs);
  *out = doc;
  return 0;
}
