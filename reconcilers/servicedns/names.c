/* servicedns names: the buffer, DNS name checks, SkyDNS keys and values. */
#include "servicedns_internal.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int servicedns__space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n'; }
char servicedns__lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

int servicedns__valid_label(const char *s, size_t n) {
  if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-') return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) return 0;
  return 1;
}

int servicedns__valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 253) return 0;
  const char *p = s;
  for (;;) {
    const char *dot = strchr(p, '.');
    size_t l = dot ? (size_t)(dot - p) : strlen(p);
    if (!servicedns__valid_label(p, l)) return 0;
    if (!dot) return 1;
    p = dot + 1;
  }
}

unsigned servicedns_fnv1a32(const char *s) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h ^= *p;
    h *= 16777619u;
  }
  return h;
}

/* "/skydns/" + the labels of name in reverse order, each followed by '/'. */
static void reversed_dir(kf_buf *b, const char *name) {
  kf_buf_str(b, "/skydns/");
  const char *end = name + strlen(name);
  while (end > name) {
    const char *dot = end;
    while (dot > name && dot[-1] != '.') dot--;
    kf_buf_add(b, dot, (size_t)(end - dot));
    kf_buf_addc(b, '/');
    end = dot > name ? dot - 1 : name;
  }
}

char *servicedns_key_dir(const char *name) {
  kf_buf b = {0};
  reversed_dir(&b, name);
  return b.p;
}

char *servicedns_key(const char *name, const char *host) {
  kf_buf b = {0};
  char h[16];
  reversed_dir(&b, name);
  /* v1: fmt.Sprintf("%x", hash): lower-case hex without zero padding. */
  snprintf(h, sizeof(h), "%x", servicedns_fnv1a32(host));
  kf_buf_str(&b, h);
  return b.p;
}

char *servicedns_value(const char *name, const char *host) {
  /* The field order of CoreDNS's msg.Service (host, ttl, group), which v1 marshalled. */
  json_object *o = json_object_new_object();
  json_object_object_add(o, "host", json_object_new_string(host));
  json_object_object_add(o, "ttl", json_object_new_int(SERVICEDNS_TTL));
  json_object_object_add(o, "group", json_object_new_string(name));
  char *s = kf_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  return s;
}

int servicedns_key_name(const char *key, size_t len, char **name) {
  *name = NULL;
  static const char pre[] = "/skydns/";
  if (len < sizeof(pre) - 1 || memcmp(key, pre, sizeof(pre) - 1) != 0 || memchr(key, '\0', len)) return -EINVAL;
  const char *s = key + sizeof(pre) - 1, *end = key + len;
  const char *last = end;
  while (last > s && last[-1] != '/') last--;
  /* At least one label and the hash, none empty. */
  if (last == s || last == end) return -EINVAL;
  kf_buf b = {0};
  const char *e = last - 1; /* the '/' before the hash */
  while (e > s) {
    const char *st = e;
    while (st > s && st[-1] != '/') st--;
    if (st == e) {
      free(b.p);
      return -EINVAL;
    }
    if (b.len) kf_buf_addc(&b, '.');
    kf_buf_add(&b, st, (size_t)(e - st));
    e = st > s ? st - 1 : s;
  }
  if (!b.p) return -EINVAL;
  *name = b.p;
  return 0;
}

/* Whether s (n bytes) equals the zone without its trailing dot, case-insensitively. */
static int same_suffix(const char *s, size_t n, const char *zone) {
  size_t zl = strlen(zone);
  if (zl > 1 && zone[zl - 1] == '.') zl--;
  if (n != zl) return 0;
  for (size_t i = 0; i < n; i++)
    if (servicedns__lower(s[i]) != servicedns__lower(zone[i])) return 0;
  return 1;
}

int servicedns_name_is_of(const servicedns_service *svc, const char *name) {
  /* "<svc>.<ns>.<federation>.svc." label by label, with no string built: the controller asks this
   * of every name the mirror holds for each Service it syncs (a formatted prefix per call was a
   * quarter of the controller manager's CPU in bench.dns). */
  const char *const labels[] = {svc->name, svc->namespace_, svc->federation, "svc"};
  const char *rest = name;
  for (size_t i = 0; i < sizeof(labels) / sizeof(*labels); i++) {
    size_t l = strlen(labels[i]);
    if (strncmp(rest, labels[i], l) != 0 || rest[l] != '.') return 0;
    rest += l + 1;
  }
  /* Then up to two labels (zone, region), then the suffix. */
  for (int extra = 0; extra <= 2; extra++) {
    if (same_suffix(rest, strlen(rest), svc->suffix)) return 1;
    const char *dot = strchr(rest, '.');
    if (!dot || !servicedns__valid_label(rest, (size_t)(dot - rest))) return 0;
    rest = dot + 1;
  }
  return 0;
}
