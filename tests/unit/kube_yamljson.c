/* Unit tests for operator/yamljson.c.
 *
 * Most cases parse a snippet and compare json-c's plain serialization, which
 * tells ints (1) from doubles (1.0) and null from "null". The CRDs come from
 * the repo's crds/ directory, found from $KF_TESTDATA (tests/data) or, when
 * run by hand, from this file's path. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <kf/error.h>
#include <kf/yaml.h>

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static char *repo_file(const char *rel) {
  const char *data = getenv("KF_TESTDATA");
  const char *file = __FILE__, *slash;
  if (data) return kf_asprintf("%s/../../%s", data, rel);
  /* __FILE__ is .../tests/unit/kube_yamljson.c: strip three components. */
  slash = file + strlen(file);
  for (int i = 0; i < 3; i++) {
    while (slash > file && *--slash != '/') {}
  }
  return kf_asprintf("%.*s/%s", (int)(slash - file), file, rel);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  buf = kf_calloc((size_t)n + 1, 1);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* The serialization of all documents of yaml, as a JSON array. */
static void expect_docs(const char *yaml, const char *json) {
  json_object *out = NULL;
  kf_error err;
  int rc;
  kf_error_clear(&err);
  rc = kf_yaml_to_json(yaml, strlen(yaml), &out, &err);
  if (rc != 0) fail_msg("%s\n-> %d %s", yaml, rc, err.msg);
  assert_non_null(out);
  if (strcmp(json_object_to_json_string_ext(out, JSON_FLAGS), json) != 0)
    fail_msg("%s\n-> %s\nwant %s", yaml, json_object_to_json_string_ext(out, JSON_FLAGS), json);
  json_object_put(out);
}

/* The serialization of the only document of yaml. */
static void expect(const char *yaml, const char *json) {
  json_object *out = NULL;
  kf_error err;
  int rc;
  kf_error_clear(&err);
  rc = kf_yaml_to_json_one(yaml, strlen(yaml), &out, &err);
  if (rc != 0) fail_msg("%s\n-> %d %s", yaml, rc, err.msg);
  if (strcmp(json_object_to_json_string_ext(out, JSON_FLAGS), json) != 0)
    fail_msg("%s\n-> %s\nwant %s", yaml, json_object_to_json_string_ext(out, JSON_FLAGS), json);
  json_object_put(out);
}

/* yaml fails with code, and the message contains want (if not NULL). */
static void expect_err_len(const char *yaml, size_t len, int code, const char *want) {
  json_object *out = (json_object *)(uintptr_t)1;
  kf_error err;
  int rc;
  kf_error_clear(&err);
  rc = kf_yaml_to_json(yaml, len, &out, &err);
  if (rc != code) fail_msg("%.200s\n-> %d (want %d) %s", yaml, rc, code, err.msg);
  assert_null(out);
  assert_int_equal(err.code, rc);
  assert_true(err.msg[0] != '\0');
  if (want && !strstr(err.msg, want)) fail_msg("%.200s\n-> %s\nwant it to contain %s", yaml, err.msg, want);
}

static void expect_err(const char *yaml, int code, const char *want) { expect_err_len(yaml, strlen(yaml), code, want); }

/* Checks the value of key v in a one-document mapping. */
static void expect_v(const char *scalar, const char *json) {
  char *yaml = kf_asprintf("v: %s\n", scalar);
  char *want = kf_asprintf("{\"v\":%s}", json);
  expect(yaml, want);
  free(want);
  free(yaml);
}

static double v_double(const char *scalar) {
  char *yaml = kf_asprintf("v: %s\n", scalar);
  json_object *out = NULL, *v;
  kf_error err;
  double d;
  assert_int_equal(kf_yaml_to_json_one(yaml, strlen(yaml), &out, &err), 0);
  assert_true(json_object_object_get_ex(out, "v", &v));
  assert_true(json_object_is_type(v, json_type_double));
  d = json_object_get_double(v);
  json_object_put(out);
  free(yaml);
  return d;
}

static void test_nulls_and_bools(void **state) {
  (void)state;
  expect_v("~", "null");
  expect_v("null", "null");
  expect_v("Null", "null");
  expect_v("NULL", "null");
  expect_v("", "null");
  expect_v("nULL", "\"nULL\"");
  expect_v("true", "true");
  expect_v("True", "true");
  expect_v("TRUE", "true");
  expect_v("false", "false");
  expect_v("False", "false");
  expect_v("FALSE", "false");
  /* YAML 1.1 booleans are strings in the core schema. */
  expect_v("tRUE", "\"tRUE\"");
  expect_v("yes", "\"yes\"");
  expect_v("no", "\"no\"");
  expect_v("on", "\"on\"");
  expect_v("Off", "\"Off\"");
  expect_v("y", "\"y\"");
}

static void test_ints(void **state) {
  (void)state;
  expect_v("0", "0");
  expect_v("42", "42");
  expect_v("-17", "-17");
  expect_v("+5", "5");
  expect_v("-0", "0");
  expect_v("0123", "123"); /* decimal in YAML 1.2, not octal */
  expect_v("9223372036854775807", "9223372036854775807");
  expect_v("-9223372036854775808", "-9223372036854775808");
  expect_v("0x1F", "31");
  expect_v("0xff", "255");
  expect_v("0x7fffffffffffffff", "9223372036854775807");
  expect_v("0o17", "15");
  /* Past int64: a decimal still matches the float syntax; hex does not. */
  expect_v("9223372036854775808", "9.2233720368547758e+18");
  expect_v("0x8000000000000000", "\"0x8000000000000000\"");
  expect_v("0o8", "\"0o8\"");
  expect_v("0x", "\"0x\"");
  expect_v("0X10", "\"0X10\"");
  expect_v("0b101", "\"0b101\"");
  expect_v("-0x10", "\"-0x10\"");
  expect_v("1_000", "\"1_000\"");
}

static void test_floats(void **state) {
  (void)state;
  expect_v("1.5", "1.5");
  expect_v("-1.5", "-1.5");
  expect_v(".5", "0.5");
  expect_v("1.", "1.0");
  expect_v("1e3", "1000.0");
  expect_v("1E-3", "0.001");
  expect_v("+.5e+2", "50.0");
  expect_v("-0.0", "-0.0");
  assert_true(isinf(v_double(".inf")) && v_double(".inf") > 0);
  assert_true(isinf(v_double("-.Inf")) && v_double("-.Inf") < 0);
  assert_true(isinf(v_double("+.INF")) && v_double("+.INF") > 0);
  assert_true(isnan(v_double(".nan")));
  assert_true(isnan(v_double(".NaN")));
  assert_true(isnan(v_double(".NAN")));
  /* Not floats. */
  expect_v("1e999", "\"1e999\""); /* overflows a double: kept as written */
  expect_v("-.nan", "\"-.nan\"");
  expect_v(".inF", "\".inF\"");
  expect_v("1.2.3", "\"1.2.3\"");
  expect_v("e3", "\"e3\"");
  expect_v("1e", "\"1e\"");
  expect_v("'.'", "\".\"");
  expect_v("1.5Gi", "\"1.5Gi\"");
  expect_v("inf", "\"inf\"");
  expect_v("NaN", "\"NaN\"");
}

static void test_strings(void **state) {
  (void)state;
  expect_v("10Gi", "\"10Gi\"");
  expect_v("08:00", "\"08:00\"");
  expect_v("1:2", "\"1:2\"");
  expect_v("hello world", "\"hello world\"");
  expect_v("x#y", "\"x#y\"");
  expect_v("\"123\"", "\"123\"");
  expect_v("'true'", "\"true\"");
  expect_v("\"null\"", "\"null\"");
  expect_v("''", "\"\"");
  expect_v("\"\"", "\"\"");
  expect_v("'it''s'", "\"it's\"");
  expect_v("\"tab\\there\\u00e9\"", "\"tab\\there\xc3\xa9\"");
  expect_v("\"a/b\"", "\"a/b\"");
  expect_v("\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\"");
  /* A NUL inside a value survives (json-c strings carry a length). */
  {
    json_object *out = NULL, *v;
    kf_error err;
    const char *y = "v: \"a\\0b\"";
    assert_int_equal(kf_yaml_to_json_one(y, strlen(y), &out, &err), 0);
    assert_true(json_object_object_get_ex(out, "v", &v));
    assert_int_equal(json_object_get_string_len(v), 3);
    assert_memory_equal(json_object_get_string(v), "a\0b", 3);
    json_object_put(out);
  }
}

static void test_tags(void **state) {
  (void)state;
  expect_v("!!str 123", "\"123\"");
  expect_v("!!str true", "\"true\"");
  expect_v("! 12", "\"12\"");
  expect_v("!!int \"42\"", "42");
  expect_v("!!int 0x10", "16");
  expect_v("!!float 1", "1.0");
  expect_v("!!float '2.5'", "2.5");
  expect_v("!!bool \"true\"", "true");
  expect_v("!!null \"\"", "null");
  expect_v("!!map {a: 1}", "{\"a\":1}");
  expect_v("!!seq [1]", "[1]");
  expect("%TAG !e! tag:yaml.org,2002:\n---\nv: !e!int '7'\n", "{\"v\":7}");
  expect_err("v: !!int abc\n", -EINVAL, "line 1, column 4: value is not a valid !!int");
  expect_err("v: !!int 1.5\n", -EINVAL, "!!int");
  expect_err("v: !!bool yes\n", -EINVAL, "!!bool");
  expect_err("v: !!null x\n", -EINVAL, "!!null");
  expect_err("v: !!str [a]\n", -EINVAL, "!!str tag on a sequence");
  expect_err("v: !!seq a\n", -EINVAL, "!!seq tag on a scalar");
  expect_err("v: !!binary aGk=\n", -ENOTSUP, "tag !!binary is not supported");
  expect_err("v: !!timestamp 2001-12-14\n", -ENOTSUP, "!!timestamp");
  expect_err("v: !!set {a}\n", -ENOTSUP, "!!set");
  expect_err("v: !foo x\n", -ENOTSUP, "tag !foo is not supported");
  expect_err("v: !<tag:example.com,2000:x> x\n", -ENOTSUP, "tag:example.com,2000:x");
  /* Values stay out of messages: a manifest may be a Secret. */
  expect_err("password: !!int TOPSECRET\n", -EINVAL, NULL);
  {
    json_object *out = NULL;
    kf_error err;
    const char *y = "password: !!int TOPSECRET\n";
    kf_error_clear(&err);
    assert_int_equal(kf_yaml_to_json(y, strlen(y), &out, &err), -EINVAL);
    assert_null(strstr(err.msg, "TOPSECRET"));
  }
}

static void test_keys(void **state) {
  (void)state;
  expect("1: a\n0x10: b\ntrue: c\n~: d\n1.50: e\n\"a b\": f\n'<<': g\n-3: h\n",
         "{\"1\":\"a\",\"16\":\"b\",\"true\":\"c\",\"null\":\"d\",\"1.50\":\"e\",\"a b\":\"f\","
         "\"<<\":\"g\",\"-3\":\"h\"}");
  expect("{? a, b: 2}", "{\"a\":null,\"b\":2}");
  expect("\"\": 1", "{\"\":1}");
  expect_err("0x10: a\n16: b\n", -EINVAL, "line 2, column 1: duplicate key \"16\"");
  expect_err("? [a]\n: b\n", -EINVAL, "a sequence cannot be a mapping key");
  expect_err("{{a: 1}: b}", -EINVAL, "a mapping cannot be a mapping key");
  expect_err("\"a\\0b\": 1\n", -EINVAL, "NUL");
  /* Control characters in a quoted key are masked in the message. */
  expect_err("\"a\\nb\": 1\n\"a\\nb\": 2\n", -EINVAL, "duplicate key \"a?b\"");
}

static void test_nested_block(void **state) {
  (void)state;
  expect("apiVersion: v1\n"
         "kind: ConfigMap\n"
         "metadata:\n"
         "  name: cm\n"
         "  labels:\n"
         "    app: x\n"
         "    tier: \"1\"\n"
         "data:\n"
         "  port: \"8080\"\n"
         "list:\n"
         "- name: a\n"
         "  value: 1\n"
         "- name: b\n"
         "  items:\n"
         "    - 1\n"
         "    - - nested\n"
         "      - 2.5\n"
         "    -\n"
         "- ~\n"
         "empty_map: {}\n"
         "empty_list: []\n",
         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm\",\"labels\":"
         "{\"app\":\"x\",\"tier\":\"1\"}},\"data\":{\"port\":\"8080\"},\"list\":[{\"name\":\"a\","
         "\"value\":1},{\"name\":\"b\",\"items\":[1,[\"nested\",2.5],null]},null],"
         "\"empty_map\":{},\"empty_list\":[]}");
  /* A scalar or a sequence can be a document. */
  expect("hello\n", "\"hello\"");
  expect("- 1\n- two\n", "[1,\"two\"]");
  /* CRLF line endings and a UTF-8 byte order mark. */
  expect("\xef\xbb\xbf"
         "a: 1\r\nb: x\r\n",
         "{\"a\":1,\"b\":\"x\"}");
}

static void test_flow(void **state) {
  (void)state;
  expect("{a: 1, b: [x, \"y\", {c: null}], d: {}}", "{\"a\":1,\"b\":[\"x\",\"y\",{\"c\":null}],\"d\":{}}");
  expect("key: [1, {a: b}, 'c', [], [[true]]]\n", "{\"key\":[1,{\"a\":\"b\"},\"c\",[],[[true]]]}");
  expect("[a: 1, b]", "[{\"a\":1},\"b\"]");
  /* JSON is YAML. */
  expect("{\"spec\": {\"replicas\": 3, \"paused\": false, \"ratio\": 0.25, \"x\": null}}",
         "{\"spec\":{\"replicas\":3,\"paused\":false,\"ratio\":0.25,\"x\":null}}");
  expect("{\n  a: 1,\n  b: [\n    2,\n  ],\n}\n", "{\"a\":1,\"b\":[2]}");
}

static void test_block_scalars(void **state) {
  (void)state;
  expect("v: |\n  line 1\n    indented\n  123\n", "{\"v\":\"line 1\\n  indented\\n123\\n\"}");
  expect("v: |-\n  strip\n\n", "{\"v\":\"strip\"}");
  expect("v: |+\n  keep\n\n", "{\"v\":\"keep\\n\\n\"}");
  expect("v: >\n  folded\n  text\n\n  para\n", "{\"v\":\"folded text\\npara\\n\"}");
  expect("v: >-\n  true\n", "{\"v\":\"true\"}");
  expect("v: |2\n    two extra\n", "{\"v\":\"  two extra\\n\"}");
  expect("script: |\n  #!/bin/sh\n  echo \"a: b\" # not a comment\n",
         "{\"script\":\"#!/bin/sh\\necho \\\"a: b\\\" # not a comment\\n\"}");
  expect("v: \"folded\n  double\"\n", "{\"v\":\"folded double\"}");
  expect("v: plain\n  continued\n", "{\"v\":\"plain continued\"}");
}

static void test_comments(void **state) {
  (void)state;
  expect("# head\na: 1 # trailing\n# between\nb: \"x # y\" # after\nc: [1, # in flow\n  2]\n# end",
         "{\"a\":1,\"b\":\"x # y\",\"c\":[1,2]}");
}

static void test_multi_doc(void **state) {
  json_object *out = NULL;
  kf_error err;
  const char *two = "a: 1\n---\nb: 2\n";
  (void)state;
  expect_docs("---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n---\n~\n--- null\n---\n"
              "- x\n...\n",
              "[{\"a\":1},{\"b\":2},[\"x\"]]");
  expect_docs("", "[]");
  expect_docs("# nothing\n", "[]");
  expect_docs("---\n", "[]");
  expect_docs("%YAML 1.2\n---\na: 1\n", "[{\"a\":1}]");
  expect_docs("a: 1\n---\n\"\"\n", "[{\"a\":1},\"\"]"); /* an empty string is not empty */
  /* kf_yaml_to_json_one: exactly one document. */
  expect("---\n---\nx: 1\n---\n", "{\"x\":1}");
  kf_error_clear(&err);
  assert_int_equal(kf_yaml_to_json_one(two, strlen(two), &out, &err), -EINVAL);
  assert_null(out);
  assert_non_null(strstr(err.msg, "line 2, column 1: a second document"));
  kf_error_clear(&err);
  assert_int_equal(kf_yaml_to_json_one("---\n# x\n", 8, &out, &err), -EINVAL);
  assert_null(out);
  assert_non_null(strstr(err.msg, "no document"));
  /* Not NUL-terminated: only len bytes count. */
  assert_int_equal(kf_yaml_to_json_one("a: 12345", 5, &out, &err), 0);
  assert_string_equal(json_object_to_json_string_ext(out, JSON_FLAGS), "{\"a\":12}");
  json_object_put(out);
  assert_int_equal(kf_yaml_to_json(NULL, 0, &out, &err), 0);
  assert_int_equal(json_object_array_length(out), 0);
  json_object_put(out);
  assert_int_equal(kf_yaml_to_json(NULL, 1, &out, &err), -EINVAL);
  assert_int_equal(kf_yaml_to_json("a", 1, NULL, &err), -EINVAL);
  assert_int_equal(kf_yaml_to_json_one("a", 1, NULL, NULL), -EINVAL);
}

static const char *get_str(json_object *o, const char *path) {
  /* path: dot-separated members, a number indexes an array */
  char *copy = kf_strdup(path), *save = NULL;
  for (char *tok = strtok_r(copy, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save)) {
    if (json_object_is_type(o, json_type_array)) o = json_object_array_get_idx(o, (size_t)atoi(tok));
    else if (!json_object_object_get_ex(o, tok, &o)) o = NULL;
  }
  free(copy);
  return o ? json_object_get_string(o) : NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_crd(void **state) {
  static const char *const crds[] = {"crds/federation.kubefed.dev_clusters.yaml",
                                     "crds/kubefed.dev_federatedclusters.yaml", "crds/kubefed.dev_federations.yaml"};
  (void)state;
  for (size_t c = 0; c < sizeof(crds) / sizeof(crds[0]); c++) {
    char *path = repo_file(crds[c]);
    size_t len;
    char *text = slurp(path, &len);
    json_object *doc = NULL, *v;
    kf_error err;
    double t0, t1;
    int iters = 200, rc;

    kf_error_clear(&err);
    rc = kf_yaml_to_json_one(text, len, &doc, &err);
    if (rc) fail_msg("%s: %d %s", path, rc, err.msg);
    assert_string_equal(get_str(doc, "apiVersion"), "apiextensions.k8s.io/v1");
    assert_string_equal(get_str(doc, "kind"), "CustomResourceDefinition");
    assert_true(json_object_object_get_ex(doc, "spec", &v));
    assert_true(json_object_object_get_ex(v, "versions", &v));
    assert_true(json_object_is_type(v, json_type_array));
    v = json_object_array_get_idx(v, 0);
    assert_true(json_object_object_get_ex(v, "served", &v));
    assert_true(json_object_is_type(v, json_type_boolean));
    if (c == 0) {
      assert_string_equal(get_str(doc, "metadata.name"), "clusters.federation.kubefed.dev");
      assert_string_equal(get_str(doc, "spec.scope"), "Cluster");
      assert_string_equal(get_str(doc, "spec.versions.0.name"), "v1beta1");
      assert_string_equal(get_str(doc, "spec.versions.0.additionalPrinterColumns.0.jsonPath"),
                          ".status.conditions[?(@.type==\"Ready\")].status");
      assert_string_equal(get_str(doc, "spec.versions.0.schema.openAPIV3Schema.required.0"), "spec");
    }
    json_object_put(doc);

    t0 = now_s();
    for (int i = 0; i < iters; i++) {
      assert_int_equal(kf_yaml_to_json_one(text, len, &doc, &err), 0);
      json_object_put(doc);
    }
    t1 = now_s();
    print_message("%s: %zu bytes, %.1f us per parse\n", crds[c], len, (t1 - t0) / iters * 1e6);
    free(text);
    free(path);
  }
}

static void test_syntax_errors(void **state) {
  (void)state;
  expect_err("a:\n\tb: 1\n", -EINVAL, "line 2, column 1: found character that cannot start");
  expect_err("a: 1\n\tb: 2\n", -EINVAL, "line 2");
  expect_err("a:\n  b: 1\n c: 2\n", -EINVAL, "line 3");
  expect_err("a: 1\n  b: 2\n", -EINVAL, "line 2");
  expect_err("a: \"abc\nb: 1\n", -EINVAL, "found unexpected end of stream");
  expect_err("a: 'abc\n", -EINVAL, "line 2");
  expect_err("a: [1, 2\n", -EINVAL, NULL);
  expect_err("a: {b: 1\n", -EINVAL, NULL);
  expect_err("- a\nb: 1\n", -EINVAL, "line 2");
  expect_err("a: b: c\n", -EINVAL, "mapping values are not allowed");
  expect_err("a: 1\n\xff: 2\n", -EINVAL, "line 2, column 1: invalid leading UTF-8 octet");
  expect_err_len("a: x\0y\n", 7, -EINVAL, "line 1, column 5: control characters are not allowed");
  expect_err("a: \"\\q\"\n", -EINVAL, "unknown escape");
  /* libyaml refuses directives it does not know rather than ignoring them. */
  expect_err("%FOO bar\n---\na: 1\n", -EINVAL, "unknown directive");
}

static void test_aliases_refused(void **state) {
  (void)state;
  expect_err("a: &x 1\nb: *x\n", -ENOTSUP, "line 1, column 4: anchor &x");
  expect_err("b: *x\n", -ENOTSUP, "line 1, column 4: alias *x");
  expect_err("a: &m {x: 1}\n", -ENOTSUP, "anchor &m");
  expect_err("- &s [1]\n", -ENOTSUP, "anchor &s");
  expect_err("lol: &a [\"lol\",\"lol\"]\nlol2: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
             "lol3: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
             -ENOTSUP, "anchors and aliases are not supported");
  expect_err("a: {x: 1}\nb:\n  <<: {y: 2}\n", -ENOTSUP, "line 3, column 3: merge keys");
  expect_err("{<<: {y: 2}}", -ENOTSUP, "merge keys");
}

static void test_duplicates(void **state) {
  (void)state;
  expect_err("a: 1\nb: 2\na: 3\n", -EINVAL, "line 3, column 1: duplicate key \"a\"");
  expect_err("m:\n  x: 1\n  'x': 2\n", -EINVAL, "line 3, column 3: duplicate key \"x\"");
  expect_err("{a: 1, a: 1}", -EINVAL, "duplicate key \"a\"");
  expect_err("~: 1\nnull: 2\n", -EINVAL, "duplicate key \"null\"");
  /* The same key in sibling maps and in different documents is fine. */
  expect_docs("- a: 1\n- a: 2\n---\na: 3\n", "[[{\"a\":1},{\"a\":2}],{\"a\":3}]");
}

static char *nest(size_t depth, bool flow) {
  /* block: line i is i spaces and "k:\n" */
  size_t cap = flow ? 2 * depth + 1 : depth * (depth - 1) / 2 + 3 * depth + 1, n = 0;
  char *s = kf_calloc(cap, 1);
  for (size_t i = 0; i < depth; i++) {
    if (flow) {
      s[n++] = '[';
    } else {
      memset(s + n, ' ', i);
      n += i;
      n += (size_t)snprintf(s + n, cap - n, "k:\n");
    }
  }
  if (flow) memset(s + n, ']', depth);
  return s;
}

static void test_limits(void **state) {
  json_object *out = NULL;
  kf_error err;
  char *s;
  size_t big = KF_YAML_MAX_BYTES, n;
  (void)state;

  /* Depth: 64 nested containers are fine, 65 are not. */
  s = nest(64, true);
  assert_int_equal(kf_yaml_to_json_one(s, strlen(s), &out, &err), 0);
  json_object_put(out);
  free(s);
  s = nest(65, true);
  expect_err(s, -EFBIG, "line 1, column 65: nested deeper than 64 levels");
  free(s);
  s = nest(64, false); /* 64 block mappings, the innermost value null */
  assert_int_equal(kf_yaml_to_json_one(s, strlen(s), &out, &err), 0);
  json_object_put(out);
  free(s);
  s = nest(65, false);
  expect_err(s, -EFBIG, "line 65, column 65: nested deeper");
  free(s);
  s = nest(100000, true); /* way past the limit: fails fast, nothing leaks */
  expect_err(s, -EFBIG, "nested deeper");
  free(s);

  /* Size: exactly the limit parses; one byte more does not. */
  s = kf_calloc(big + 2, 1);
  memcpy(s, "a: ", 3);
  memset(s + 3, 'x', big - 3);
  assert_int_equal(kf_yaml_to_json_one(s, big, &out, &err), 0);
  assert_int_equal(json_object_get_string_len(json_object_object_get(out, "a")), (int)(big - 3));
  json_object_put(out);
  s[big] = 'x';
  expect_err_len(s, big + 1, -EFBIG, "more than the limit");
  free(s);

  /* Nodes: the sequence plus 999,999 items is the limit. */
  n = KF_YAML_MAX_NODES;
  s = kf_calloc(2 * n + 4, 1);
  s[0] = '[';
  for (size_t i = 0; i < n - 1; i++) memcpy(s + 1 + 2 * i, "0,", 2);
  s[2 * n - 2] = ']';
  assert_int_equal(kf_yaml_to_json_one(s, strlen(s), &out, &err), 0);
  assert_int_equal(json_object_array_length(out), n - 1);
  json_object_put(out);
  memcpy(s + 2 * n - 2, ",0]", 3); /* one more item */
  expect_err(s, -EFBIG, "more than 1000000 nodes");
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nulls_and_bools),
      cmocka_unit_test(test_ints),
      cmocka_unit_test(test_floats),
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_tags),
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_nested_block),
      cmocka_unit_test(test_flow),
      cmocka_unit_test(test_block_scalars),
      cmocka_unit_test(test_comments),
      cmocka_unit_test(test_multi_doc),
      cmocka_unit_test(test_crd),
      cmocka_unit_test(test_syntax_errors),
      cmocka_unit_test(test_aliases_refused),
      cmocka_unit_test(test_duplicates),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
