/* flags: one table drives parsing and --help.
 *
 * Map: value setters (kf_flags_set, _typed) -> lookup -> kf_flags_parse (defaults,
 * then argv in order) -> kf_flags_usage -> kf_flags_main (a daemon's whole
 * command line). Messages follow pflag's wording, which kubectl users know. */
#include <kf/flags.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int in_set(const kf_flags *fs, const kf_flag *f) { return !fs->in || !f->in || (f->in & fs->in); }

static int parse_bool(const char *v, int *out) {
  static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
  static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    if (strcmp(v, t[i]) == 0) return *out = 1, 0;
    if (strcmp(v, f[i]) == 0) return *out = 0, 0;
  }
  return -EINVAL;
}

/* "a, b or c" for an enum's messages and help. */
static void choices_text(const char *const *c, char *buf, size_t len) {
  size_t n = 0, used = 0;
  while (c[n]) n++;
  buf[0] = '\0';
  for (size_t i = 0; i < n && used < len; i++) {
    int w = snprintf(buf + used, len - used, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", c[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
}

int kf_flags_set(const kf_flag *f, void *base, const char *value, kf_error *err) {
  return f->set ? f->set(base, f, value, err) : kf_flags_set_typed(f, base, value, err);
}

int kf_flags_set_typed(const kf_flag *f, void *base, const char *value, kf_error *err) {
  void *dst = (char *)base + f->off;
  switch (f->type) {
    case KF_FLAG_STRING: *(const char **)dst = value; return 0;
    case KF_FLAG_BOOL:
      if (parse_bool(value, (int *)dst) != 0)
        return kf_error_set(err, -EINVAL, "invalid argument \"%s\" for --%s: want true or false", value, f->name);
      return 0;
    case KF_FLAG_INT: {
      char *end;
      errno = 0;
      long v = strtol(value, &end, 10);
      if (!value[0] || *end || errno || v < 0)
        return kf_error_set(err, -EINVAL, "invalid argument \"%s\" for --%s: want a non-negative integer", value,
                            f->name);
      *(long *)dst = v;
      return 0;
    }
    case KF_FLAG_DURATION:
      if (kf_parse_duration_ms(value, (uint64_t *)dst) != 0)
        return kf_error_set(err, -EINVAL, "invalid argument \"%s\" for --%s: want a duration such as 5m, 90s or 1h30m",
                            value, f->name);
      return 0;
    case KF_FLAG_ENUM:
      for (const char *const *c = f->choices; c && *c; c++)
        if (strcmp(*c, value) == 0) {
          *(const char **)dst = *c;
          return 0;
        }
      {
        char want[256];
        choices_text(f->choices, want, sizeof(want));
        return kf_error_set(err, -EINVAL, "invalid argument \"%s\" for --%s: want %s", value, f->name, want);
      }
  }
  return kf_error_set(err, -EINVAL, "--%s: unknown flag type %d", f->name, (int)f->type);
}

static const kf_flag *lookup(const kf_flags *fs, const char *name, size_t n, char shorthand) {
  for (size_t i = 0; i < fs->n; i++) {
    const kf_flag *f = &fs->flags[i];
    if (!in_set(fs, f)) continue;
    if (shorthand ? f->shorthand == shorthand : strlen(f->name) == n && strncmp(f->name, name, n) == 0) return f;
  }
  return NULL;
}

static const char *hint_open(const kf_flags *fs) { return fs->hint ? " (" : ""; }
static const char *hint_text(const kf_flags *fs) { return fs->hint ? fs->hint : ""; }
static const char *hint_close(const kf_flags *fs) { return fs->hint ? ")" : ""; }

/* One argument that starts with '-': the flag, and its value when attached (=value, -ovalue). */
static int flag_of(const kf_flags *fs, const char *a, const kf_flag **f, const char **value, kf_error *err) {
  *value = NULL;
  if (a[1] == '-') {
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    if (!(*f = lookup(fs, name, n, 0)))
      return kf_error_set(err, -EINVAL, "unknown flag: --%.*s%s%s%s", (int)n, name, hint_open(fs), hint_text(fs),
                          hint_close(fs));
    if (eq) *value = eq + 1;
    return 0;
  }
  if (!(*f = lookup(fs, NULL, 0, a[1])))
    return kf_error_set(err, -EINVAL, "unknown shorthand flag: '%c' in %s%s%s%s", a[1], a, hint_open(fs), hint_text(fs),
                        hint_close(fs));
  if (a[2]) *value = a[2] == '=' ? a + 3 : a + 2;
  return 0;
}

int kf_flags_parse(const kf_flags *fs, void *base, int argc, char **argv, const char **pos, int maxpos, int *npos,
                   kf_error *err) {
  int flags_done = 0;
  *npos = 0;
  for (size_t i = 0; i < fs->n; i++) {
    const kf_flag *f = &fs->flags[i];
    /* A bad default is the program's bug; say so rather than run with half a table. */
    if (in_set(fs, f) && f->def && kf_flags_set(f, base, f->def, err) != 0) return -EINVAL;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *value;
    const kf_flag *f;
    if (flags_done || a[0] != '-' || !a[1]) {
      if (*npos < maxpos) pos[*npos] = a;
      (*npos)++;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      flags_done = 1;
      continue;
    }
    if ((fs->builtins & KF_FLAGS_HELP) && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) return KF_FLAGS_HELP;
    if ((fs->builtins & KF_FLAGS_VERSION) && strcmp(a, "--version") == 0) return KF_FLAGS_VERSION;
    if (flag_of(fs, a, &f, &value, err) != 0) return -EINVAL;
    if (!value) {
      if (f->type == KF_FLAG_BOOL) value = "true";
      else if (i + 1 < argc) value = argv[++i];
      else return kf_error_set(err, -EINVAL, "flag needs an argument: --%s", f->name);
    }
    if (kf_flags_set(f, base, value, err) != 0) return -EINVAL;
  }
  return 0;
}

void kf_flags_usage(FILE *out, const kf_flags *fs) {
  fputs("Flags:\n", out);
  for (size_t i = 0; i < fs->n; i++) {
    const kf_flag *f = &fs->flags[i];
    char mv[256] = "";
    if (!in_set(fs, f)) continue;
    /* An enum shows its choices where the value goes: --log-format=text|json. */
    if (f->type == KF_FLAG_ENUM && f->choices && !f->metavar)
      for (const char *const *c = f->choices; *c; c++)
        snprintf(mv + strlen(mv), sizeof(mv) - strlen(mv), "%s%s", c == f->choices ? "=" : "|", *c);
    else if (f->metavar) snprintf(mv, sizeof(mv), "=%s", f->metavar);
    if (f->shorthand) fprintf(out, "  -%c, --%s%s\n", f->shorthand, f->name, mv);
    else fprintf(out, "      --%s%s\n", f->name, mv);
    fprintf(out, "        %s", f->help);
    if (f->def) {
      int quote = f->type == KF_FLAG_STRING || f->type == KF_FLAG_ENUM;
      fprintf(out, " (default %s%s%s)", quote ? "\"" : "", f->def, quote ? "\"" : "");
    }
    fputc('\n', out);
  }
  if (fs->builtins & KF_FLAGS_HELP) fputs("  -h, --help\n        print this help and exit\n", out);
  if (fs->builtins & KF_FLAGS_VERSION) fputs("      --version\n        print the version and exit\n", out);
}

int kf_flags_main(const kf_flags *fs, void *base, int argc, char **argv, const char *program, const char *version,
                  const char *synopsis) {
  kf_error err;
  const char *pos[1];
  int npos, rc;
  kf_error_clear(&err);
  rc = kf_flags_parse(fs, base, argc, argv, pos, 1, &npos, &err);
  if (rc == KF_FLAGS_HELP) {
    fputs(synopsis, stdout);
    kf_flags_usage(stdout, fs);
    return 0;
  }
  if (rc == KF_FLAGS_VERSION) {
    printf("%s %s\n", program, version);
    return 0;
  }
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", program, err.msg);
    return 2;
  }
  if (npos > 0) {
    fprintf(stderr, "%s: unexpected argument %s (see %s --help)\n", program, pos[0], program);
    return 2;
  }
  return KF_FLAGS_GO_ON;
}
