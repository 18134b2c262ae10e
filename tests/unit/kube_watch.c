/* kube.watch: the watch-stream framer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kf/kj.h>
#include <kf/watch.h>

typedef struct seen {
  int n;
  char types[16][16];
  char names[16][32];
} seen;

static int collect(json_object *ev, void *data) {
  seen *s = data;
  const char *t = kc_obj_str(ev, "type"), *name = kc_obj_str(ev, "object.metadata.name");
  assert_true(s->n < 16);
  snprintf(s->types[s->n], sizeof(s->types[0]), "%s", t ? t : "");
  snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name ? name : "");
  s->n++;
  return 0;
}

static const char STREAM[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\"},\"data\":{\"x\":\"}{\\\"\\n\"}}}\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n";

static void test_every_split_point(void **state) {
  (void)state;
  size_t len = strlen(STREAM);
  /* Events must come out the same wherever the network splits the bytes. */
  for (size_t cut = 0; cut <= len; cut++) {
    watch_framer f;
    seen s = {0};
    kf_error err;
    assert_int_equal(watch_framer_init(&f, 0), 0);
    assert_int_equal(watch_framer_feed(&f, STREAM, cut, collect, &s, &err), 0);
    assert_int_equal(watch_framer_feed(&f, STREAM + cut, len - cut, collect, &s, &err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.types[0], "ADDED");
    assert_string_equal(s.names[0], "a");
    assert_string_equal(s.types[1], "MODIFIED");
    assert_string_equal(s.names[1], "b");
    assert_string_equal(s.types[2], "BOOKMARK");
    watch_framer_free(&f);
  }
}

static void test_byte_at_a_time_and_no_newlines(void **state) {
  watch_framer f;
  seen s = {0};
  kf_error err;
  const char *in = "{\"type\":\"ADDED\",\"object\":{}}{\"type\":\"DELETED\",\"object\":{}}  \r\n";
  (void)state;
  assert_int_equal(watch_framer_init(&f, 0), 0);
  for (size_t i = 0; in[i]; i++) assert_int_equal(watch_framer_feed(&f, in + i, 1, collect, &s, &err), 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.types[1], "DELETED");
  watch_framer_free(&f);
}

static void test_malformed_is_an_error(void **state) {
  watch_framer f;
  seen s = {0};
  kf_error err;
  (void)state;
  assert_int_equal(watch_framer_init(&f, 0), 0);
  assert_int_equal(watch_framer_feed(&f, "{\"type\":}", 9, collect, &s, &err), -EBADMSG);
  assert_non_null(strstr(err.msg, "malformed"));
  watch_framer_free(&f);

  assert_int_equal(watch_framer_init(&f, 0), 0);
  assert_int_equal(watch_framer_feed(&f, "[1,2]\n", 6, collect, &s, &err), -EBADMSG);
  watch_framer_free(&f);

  /* Invalid UTF-8 inside a string. */
  assert_int_equal(watch_framer_init(&f, 0), 0);
  assert_int_equal(watch_framer_feed(&f, "{\"type\":\"\xff\xfe\"}", 14, collect, &s, &err), -EBADMSG);
  watch_framer_free(&f);
  assert_int_equal(s.n, 0);
}

static void test_size_and_depth_bounds(void **state) {
  watch_framer f;
  seen s = {0};
  kf_error err;
  char *big = malloc(5000);
  (void)state;
  memset(big, ' ', 5000);
  memcpy(big, "{\"type\":\"ADDED\",\"object\":{\"data\":\"", 34);
  memset(big + 34, 'x', 5000 - 34);
  assert_int_equal(watch_framer_init(&f, 1024), 0);
  assert_int_equal(watch_framer_feed(&f, big, 5000, collect, &s, &err), -EMSGSIZE);
  watch_framer_free(&f);
  free(big);

  /* Deeper than anything the apiserver stores: refused, not parsed. */
  size_t n = KJ_MAX_DEPTH + 100;
  char *deep = malloc(n);
  memset(deep, '[', n);
  memcpy(deep, "{\"a\":", 5);
  assert_int_equal(watch_framer_init(&f, 0), 0);
  assert_int_equal(watch_framer_feed(&f, deep, n, collect, &s, &err), -EBADMSG);
  watch_framer_free(&f);
  free(deep);
  assert_int_equal(s.n, 0);
}

/* An object nested as deep as kube-apiserver allows (a CRD field that preserves unknown fields
 * takes any JSON) is an ordinary event, and kj_parse reads it back as the informer cache does. */
static void test_deep_object_is_an_event(void **state) {
  watch_framer f;
  seen s = {0};
  kf_error err;
  const char *head = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"deep\"},\"spec\":";
  size_t levels = 9990, hl = strlen(head), n = hl + levels * 6 + 1 + levels + 3;
  char *ev = malloc(n + 1), *p = ev;
  (void)state;
  memcpy(p, head, hl), p += hl;
  for (size_t i = 0; i < levels; i++) memcpy(p, "{\"k\":", 5), p += 5;
  *p++ = '1';
  memset(p, '}', levels), p += levels;
  memcpy(p, "}}\n", 3), p += 3;
  *p = '\0';
  assert_int_equal(watch_framer_init(&f, 0), 0);
  assert_int_equal(watch_framer_feed(&f, ev, (size_t)(p - ev), collect, &s, &err), 0);
  watch_framer_free(&f);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.names[0], "deep");
  json_object *obj = kj_parse(ev, (size_t)(p - ev));
  assert_non_null(obj);
  assert_string_equal(kc_obj_str(obj, "object.metadata.name"), "deep");
  json_object_put(obj);
  assert_null(kj_parse("{\"a\":[", 7));
  free(ev);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_split_point),       cmocka_unit_test(test_byte_at_a_time_and_no_newlines),
      cmocka_unit_test(test_malformed_is_an_error),   cmocka_unit_test(test_size_and_depth_bounds),
      cmocka_unit_test(test_deep_object_is_an_event),
  };
  return cmocka_run_group_tests_name("kube.watch", tests, NULL, NULL);
}
