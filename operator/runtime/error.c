#include <kf/error.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int kf_error_set(kf_error *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
  }
  return code;
}

void kf_error_clear(kf_error *err) {
  if (err) memset(err, 0, sizeof(*err));
}

static void kf_oom(void) {
  fprintf(stderr, "%s: out of memory\n", program_invocation_short_name);
  abort();
}

char *kf_strdup(const char *s) {
  char *d;
  if (!s) return NULL;
  d = strdup(s);
  if (!d) kf_oom();
  return d;
}

char *kf_strndup(const char *s, size_t n) {
  /* Not strndup: s need not be NUL-terminated within or after n bytes. */
  const char *nul = memchr(s, '\0', n);
  size_t len = nul ? (size_t)(nul - s) : n;
  char *d = malloc(len + 1);
  if (!d) kf_oom();
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

void *kf_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) kf_oom();
  return p;
}

void *kf_realloc(void *p, size_t size) {
  void *q = realloc(p, size ? size : 1);
  if (!q) kf_oom();
  return q;
}

char *kf_asprintf(const char *fmt, ...) {
  va_list ap;
  char *out = NULL;
  va_start(ap, fmt);
  if (vasprintf(&out, fmt, ap) < 0) kf_oom();
  va_end(ap);
  return out;
}

void kf_free_secret(void *p, size_t len) {
  if (!p) return;
  /* explicit_bzero survives dead-store elimination, unlike memset before free. */
  explicit_bzero(p, len);
  free(p);
}

int kf_streq(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

void kf_grow_wiped(char **buf, size_t len, size_t *cap, size_t need) {
  if (len + need + 1 <= *cap) return;
  size_t grown_cap = *cap ? *cap : 4096;
  while (grown_cap < len + need + 1) grown_cap *= 2;
  char *grown = kf_calloc(grown_cap, 1);
  if (*buf) {
    memcpy(grown, *buf, len);
    kf_free_secret(*buf, *cap);
  }
  *buf = grown;
  *cap = grown_cap;
}

int kf_parse_duration(const char *s, double *seconds) {
  static const struct {
    const char *unit;
    double seconds;
  } units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
  double total = 0;
  const char *p = s;
  if (!s || !s[0]) return -EINVAL;
  while (*p) {
    char *end;
    if (!isdigit((unsigned char)*p) && *p != '.') return -EINVAL;
    double v = strtod(p, &end);
    if (end == p) return -EINVAL;
    p = end;
    size_t best = 0; /* the longest unit that matches: "ms" before "m" */
    double mult = 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
      size_t n = strlen(units[i].unit);
      if (strncmp(p, units[i].unit, n) == 0 && n > best) {
        best = n;
        mult = units[i].seconds;
      }
    }
    if (!best) return -EINVAL;
    p += best;
    total += v * mult;
  }
  *seconds = total;
  return 0;
}

int kf_parse_duration_ms(const char *s, uint64_t *ms) {
  double seconds;
  if (s && strcmp(s, "0") == 0) { /* Go's one bare number */
    *ms = 0;
    return 0;
  }
  if (kf_parse_duration(s, &seconds) != 0 || seconds * 1e3 > 1e12) return -EINVAL;
  *ms = (uint64_t)(seconds * 1e3 + 0.5);
  if (*ms == 0) *ms = 1;
  return 0;
}

uint32_t kf_random(void) {
  uint32_t v;
  /* Blocks only before the kernel's pool is first initialised, long before any operator runs. */
  while (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {}
  return v;
}
