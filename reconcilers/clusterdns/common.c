/* clusterdns common: the byte buffer, DNS name and nameserver validation, the entry check. */
#include "clusterdns_internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

void clusterdns_buf_add(clusterdns_buf *b, const char *s, size_t n) {
  if (!b->p || b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = kf_realloc(b->p, cap);
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void clusterdns_buf_str(clusterdns_buf *b, const char *s) { clusterdns_buf_add(b, s, strlen(s)); }

char *clusterdns_buf_take(clusterdns_buf *b) {
  clusterdns_buf_add(b, "", 0);
  return b->p;
}

char clusterdns_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* ASCII only, as Go's TrimSpace is for the bytes kube-dns sees in practice;
 * the C library's isspace would depend on the locale. */
int clusterdns_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int clusterdns_label_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

/* DNS-1123 label: kube-dns validates federation names so, and the name goes
 * into our Corefile marker, where anything looser could forge a marker. */
int clusterdns_valid_label(const char *s, size_t n) {
  if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-') return 0;
  for (size_t i = 0; i < n; i++)
    if (!clusterdns_label_char(s[i])) return 0;
  return 1;
}

/* The zone as written everywhere: lower case, no trailing dot (kube-dns
 * validates `federations` domains and stubDomains keys as DNS-1123
 * subdomains, which have neither). */
int clusterdns_norm_zone(const char *in, char out[DNS_MAX_ZONE + 1]) {
  size_t n = strnlen(in, DNS_MAX_ZONE + 2), start = 0;
  if (n > 0 && in[n - 1] == '.') n--;
  if (n == 0 || n > DNS_MAX_ZONE) return -1;
  for (size_t i = 0; i < n; i++) out[i] = clusterdns_lower(in[i]);
  out[n] = '\0';
  for (size_t i = 0; i <= n; i++) {
    if (i < n && out[i] != '.') continue;
    if (!clusterdns_valid_label(out + start, i - start)) return -1;
    start = i + 1;
  }
  return 0;
}

/* s[0..n) names zone (normalized), ignoring case and one trailing dot, as DNS
 * compares names. */
int clusterdns_same_zone(const char *s, size_t n, const char *zone) {
  size_t zl = strlen(zone);
  if (n > 0 && s[n - 1] == '.') n--;
  if (n != zl) return 0;
  for (size_t i = 0; i < n; i++)
    if (clusterdns_lower(s[i]) != zone[i]) return 0;
  return 1;
}

int clusterdns_valid_port(const char *p, size_t n) {
  long v = 0;
  if (n == 0 || n > 5) return 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    v = v * 10 + (p[i] - '0');
  }
  return v >= 1 && v <= 65535;
}

/* An IP address with an optional port: kube-dns refuses anything else in
 * stubDomains, CoreDNS's forward takes no host names, and the strict form keeps
 * a nameserver from smuggling configuration into the Corefile. */
int clusterdns_valid_nameserver(const char *s) {
  char host[DNS_MAX_NAMESERVER + 1];
  unsigned char addr[16];
  size_t n = strnlen(s, DNS_MAX_NAMESERVER + 1), hl;
  const char *colon;
  if (n == 0 || n > DNS_MAX_NAMESERVER) return 0;
  if (s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close) return 0;
    hl = (size_t)(close - s) - 1;
    memcpy(host, s + 1, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET6, host, addr) != 1) return 0;
    size_t rl = n - (size_t)(close + 1 - s);
    return rl == 0 || (close[1] == ':' && clusterdns_valid_port(close + 2, rl - 1));
  }
  colon = memchr(s, ':', n);
  if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s))) return inet_pton(AF_INET6, s, addr) == 1;
  hl = colon ? (size_t)(colon - s) : n;
  memcpy(host, s, hl);
  host[hl] = '\0';
  if (inet_pton(AF_INET, host, addr) != 1) return 0;
  return !colon || clusterdns_valid_port(colon + 1, n - hl - 1);
}

/* Validates e, normalizes its zone into zone and counts its nameservers. */
int clusterdns_check_entry(const clusterdns_entry *e, int need_nameservers, char zone[DNS_MAX_ZONE + 1], size_t *nns,
                           kf_error *err) {
  size_t n = 0;
  if (!e) return kf_error_set(err, -EINVAL, "no DNS entry given");
  if (!e->federation || !clusterdns_valid_label(e->federation, strnlen(e->federation, 64)))
    return kf_error_set(err, -EINVAL, "federation name \"%.64s\" is not a DNS-1123 label",
                        e->federation ? e->federation : "");
  if (!e->zone || clusterdns_norm_zone(e->zone, zone))
    return kf_error_set(err, -EINVAL, "DNS zone \"%.254s\" is not a DNS-1123 subdomain", e->zone ? e->zone : "");
  for (const char *const *p = e->nameservers; p && *p; p++, n++) {
    if (n == DNS_MAX_NAMESERVERS)
      return kf_error_set(err, -EINVAL, "more than %d nameservers for zone %s", DNS_MAX_NAMESERVERS, zone);
    if (!clusterdns_valid_nameserver(*p))
      return kf_error_set(err, -EINVAL, "nameserver \"%.64s\" for zone %s is not an IP address with an optional port",
                          *p, zone);
  }
  if (need_nameservers && n == 0)
    return kf_error_set(err, -EINVAL, "CoreDNS needs at least one nameserver to forward zone %s to", zone);
  *nns = n;
  return 0;
}
