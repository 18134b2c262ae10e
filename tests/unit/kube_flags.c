/* Unit tests for operator/runtime/flags.c: every flag type in both spellings,
 * defaults, sets, builtins, errors, and --help generated from the same table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kf/flags.h>

typedef struct t_opts {
  const char *str, *def_str, *level, *pair;
  int on;
  long n;
  uint64_t ms;
} t_opts;

static const char *const LEVELS[] = {"low", "high", NULL};

/* A set hook: both halves of a "k=v" must be non-empty. */
static int set_pair(void *base, const kf_flag *f, const char *value, kf_error *err) {
  const char *eq = strchr(value, '=');
  if (!eq || eq == value || !eq[1]) return kf_error_set(err, -EINVAL, "--%s: want k=v, got %s", f->name, value);
  ((t_opts *)base)->pair = value;
  return 0;
}

/* A set hook on a bool: it still takes no value, and falls back on the typed setter. */
static int set_yes(void *base, const kf_flag *f, const char *value, kf_error *err) {
  if (strcmp(value, "yes") == 0) return ((t_opts *)base)->on = 1, 0;
  return kf_flags_set_typed(f, base, value, err);
}

#define OFF(f) offsetof(t_opts, f)
static const kf_flag FLAGS[] = {
    {"str", 0, KF_FLAG_STRING, 0, OFF(str), "TEXT", "a string", NULL, NULL, NULL},
    {"def-str", 0, KF_FLAG_STRING, 0, OFF(def_str), "TEXT", "a string with a default", ":8081", NULL, NULL},
    {"on", 0, KF_FLAG_BOOL, 0, OFF(on), NULL, "a bool", "false", NULL, NULL},
    {"count", 'c', KF_FLAG_INT, 0, OFF(n), "N", "an int", "3", NULL, NULL},
    {"wait", 0, KF_FLAG_DURATION, 0, OFF(ms), "DURATION", "a duration", "15s", NULL, NULL},
    {"level", 0, KF_FLAG_ENUM, 0, OFF(level), NULL, "an enum", "low", LEVELS, NULL},
    {"pair", 0, KF_FLAG_STRING, 0, OFF(pair), "K=V", "a custom flag", NULL, NULL, set_pair},
    {"strict", 0, KF_FLAG_BOOL, 0, OFF(on), NULL, "a bool that also takes yes", NULL, NULL, set_yes},
    {"only-b", 0, KF_FLAG_STRING, 2, OFF(str), "X", "only in set 2", NULL, NULL, NULL},
};
static const kf_flags FS = {FLAGS, sizeof(FLAGS) / sizeof(FLAGS[0]), 1, KF_FLAGS_HELP | KF_FLAGS_VERSION,
                            "see prog --help"};

/* Parses the NULL-terminated arguments after a program name. */
static int parse(const kf_flags *fs, t_opts *o, kf_error *err, int *npos, const char **pos, ...) {
  char *argv[32] = {"prog"};
  int argc = 1;
  va_list ap;
  va_start(ap, pos);
  for (char *a; (a = va_arg(ap, char *)) && argc < 31;) argv[argc++] = a;
  va_end(ap);
  memset(o, 0, sizeof(*o));
  kf_error_clear(err);
  return kf_flags_parse(fs, o, argc, argv, pos, 2, npos, err);
}

static void test_defaults(void **state) {
  t_opts o;
  kf_error err;
  int npos;
  (void)state;
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, NULL), 0);
  assert_null(o.str);
  assert_string_equal(o.def_str, ":8081");
  assert_int_equal(o.on, 0);
  assert_int_equal(o.n, 3);
  assert_int_equal(o.ms, 15000);
  assert_string_equal(o.level, "low");
  assert_int_equal(npos, 0);
}

static void test_types_both_forms(void **state) {
  t_opts o;
  kf_error err;
  int npos;
  (void)state;
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--str=a", "--count=7", "--wait=1h30m", "--level=high",
                         "--pair=k=v", "--on", NULL),
                   0);
  assert_string_equal(o.str, "a");
  assert_int_equal(o.n, 7);
  assert_int_equal(o.ms, 5400000);
  assert_string_equal(o.level, "high");
  assert_string_equal(o.pair, "k=v");
  assert_int_equal(o.on, 1);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--str", "b", "--count", "8", "--wait", "500ms", "--level", "low",
                         "--pair", "x=y", "--def-str", "", NULL),
                   0);
  assert_string_equal(o.str, "b");
  assert_int_equal(o.n, 8);
  assert_int_equal(o.ms, 500);
  assert_string_equal(o.level, "low");
  assert_string_equal(o.pair, "x=y");
  assert_string_equal(o.def_str, "");
  /* Shorthands: -c 9, -c9, -c=9. */
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "-c", "9", NULL), 0);
  assert_int_equal(o.n, 9);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "-c10", NULL), 0);
  assert_int_equal(o.n, 10);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "-c=11", NULL), 0);
  assert_int_equal(o.n, 11);
  /* The last one wins, as pflag. */
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--str=1", "--str=2", NULL), 0);
  assert_string_equal(o.str, "2");
}

static void test_bools(void **state) {
  t_opts o;
  kf_error err;
  int npos;
  const char *pos[2];
  (void)state;
  const char *t[] = {"--on=true", "--on=1", "--on=t", "--on=TRUE", "--on=True"};
  const char *f[] = {"--on=false", "--on=0", "--on=f", "--on=FALSE", "--on=False"};
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(parse(&FS, &o, &err, &npos, NULL, t[i], NULL), 0);
    assert_int_equal(o.on, 1);
    assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--on", f[i], NULL), 0);
    assert_int_equal(o.on, 0);
  }
  /* A bool takes no separate value: "--on false" is the flag, then an argument. */
  assert_int_equal(parse(&FS, &o, &err, &npos, pos, "--on", "false", NULL), 0);
  assert_int_equal(o.on, 1);
  assert_int_equal(npos, 1);
  assert_string_equal(pos[0], "false");
  assert_int_equal(parse(&FS, &o, &err, &npos, pos, "--strict", "x", NULL), 0);
  assert_int_equal(o.on, 1);
  assert_int_equal(npos, 1);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--strict=yes", NULL), 0);
  assert_int_equal(o.on, 1);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--strict=no", NULL), -EINVAL);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--on=maybe", NULL), -EINVAL);
  assert_non_null(strstr(err.msg, "invalid argument \"maybe\" for --on: want true or false"));
}

static void test_positionals(void **state) {
  t_opts o;
  kf_error err;
  int npos;
  const char *pos[2];
  (void)state;
  assert_int_equal(parse(&FS, &o, &err, &npos, pos, "a", "--str=x", "b", "--", "--on", "-", NULL), 0);
  assert_int_equal(npos, 4); /* a b --on - ; only two stored */
  assert_string_equal(pos[0], "a");
  assert_string_equal(pos[1], "b");
  assert_int_equal(o.on, 0);
  assert_string_equal(o.str, "x");
}

static void test_errors(void **state) {
  t_opts o;
  kf_error err;
  int npos;
  (void)state;
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--bogus=1", NULL), -EINVAL);
  assert_string_equal(err.msg, "unknown flag: --bogus (see prog --help)");
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "-x", NULL), -EINVAL);
  assert_non_null(strstr(err.msg, "unknown shorthand flag: 'x' in -x"));
  /* A flag of another set is unknown here. */
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--only-b=1", NULL), -EINVAL);
  assert_non_null(strstr(err.msg, "unknown flag: --only-b"));
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--str", NULL), -EINVAL);
  assert_string_equal(err.msg, "flag needs an argument: --str");
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--wait=5", NULL), -EINVAL);
  assert_non_null(strstr(err.msg, "invalid argument \"5\" for --wait: want a duration"));
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--wait=-1s", NULL), -EINVAL);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--count=-1", NULL), -EINVAL);
  assert_non_null(strstr(err.msg, "want a non-negative integer"));
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--count=1x", NULL), -EINVAL);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--count=", NULL), -EINVAL);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--level=mid", NULL), -EINVAL);
  assert_string_equal(err.msg, "invalid argument \"mid\" for --level: want low or high");
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--pair=k", NULL), -EINVAL);
  assert_string_equal(err.msg, "--pair: want k=v, got k");
  /* No abbreviations. */
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--lev=low", NULL), -EINVAL);
}

static void test_builtins(void **state) {
  t_opts o;
  kf_error err;
  int npos;
  kf_flags none = FS;
  (void)state;
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--str=a", "-h", "--bogus", NULL), KF_FLAGS_HELP);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--help", NULL), KF_FLAGS_HELP);
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--version", NULL), KF_FLAGS_VERSION);
  /* Read in order: an error before --help is the answer. */
  assert_int_equal(parse(&FS, &o, &err, &npos, NULL, "--bogus", "--help", NULL), -EINVAL);
  none.builtins = 0;
  assert_int_equal(parse(&none, &o, &err, &npos, NULL, "--version", NULL), -EINVAL);
  assert_int_equal(parse(&none, &o, &err, &npos, NULL, "-h", NULL), -EINVAL);
}

/* --help names every flag of the set with its value and default, from the same table. */
static void test_usage(void **state) {
  char *buf = NULL;
  size_t len = 0;
  (void)state;
  FILE *f = open_memstream(&buf, &len);
  kf_flags_usage(f, &FS);
  fclose(f);
  for (size_t i = 0; i < FS.n; i++) {
    char want[128];
    if (FLAGS[i].in && !(FLAGS[i].in & FS.in)) {
      snprintf(want, sizeof(want), "--%s", FLAGS[i].name);
      assert_null(strstr(buf, want));
      continue;
    }
    snprintf(want, sizeof(want), "--%s%s%s\n", FLAGS[i].name, FLAGS[i].metavar ? "=" : "",
             FLAGS[i].metavar ? FLAGS[i].metavar : "");
    if (FLAGS[i].type != KF_FLAG_ENUM && !strstr(buf, want)) fail_msg("--help lacks %s in:\n%s", want, buf);
    if (!strstr(buf, FLAGS[i].help)) fail_msg("--help lacks \"%s\"", FLAGS[i].help);
  }
  assert_non_null(strstr(buf, "  -c, --count=N\n        an int (default 3)\n"));
  assert_non_null(strstr(buf, "      --def-str=TEXT\n        a string with a default (default \":8081\")\n"));
  assert_non_null(strstr(buf, "      --on\n        a bool (default false)\n"));
  assert_non_null(strstr(buf, "      --wait=DURATION\n        a duration (default 15s)\n"));
  assert_non_null(strstr(buf, "      --level=low|high\n        an enum (default \"low\")\n"));
  assert_non_null(strstr(buf, "  -h, --help\n"));
  assert_non_null(strstr(buf, "      --version\n"));
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),    cmocka_unit_test(test_types_both_forms), cmocka_unit_test(test_bools),
      cmocka_unit_test(test_positionals), cmocka_unit_test(test_errors),           cmocka_unit_test(test_builtins),
      cmocka_unit_test(test_usage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
