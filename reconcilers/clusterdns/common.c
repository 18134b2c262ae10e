/* clusterdns common: DNS name and nameserver validation, the entry check. */
#include "clusterdns_internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

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

/* Splits an IP address with an optional port ("10.0.0.10", "10.0.0.10:53", "fd00::10",
 * "[fd00::10]:53") into its 16-byte address (IPv4 as IPv4-mapped IPv6) and port (0: none).
 * The strict form keeps a nameserver from smuggling configuration into the Corefile. */
static int clusterdns_parse_nameserver(const char *s, unsigned char addr[16], long *port) {
  char host[DNS_MAX_NAMESERVER + 1];
  unsigned char v4[4];
  size_t n = strnlen(s, DNS_MAX_NAMESERVER + 1), hl;
  const char *colon, *p = NULL;
  *port = 0;
  if (n == 0 || n > DNS_MAX_NAMESERVER) return -1;
  if (s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close) return -1;
    hl = (size_t)(close - s) - 1;
    memcpy(host, s + 1, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET6, host, addr) != 1) return -1;
    size_t rl = n - (size_t)(close + 1 - s);
    if (rl > 0 && (close[1] != ':' || !clusterdns_valid_port(close + 2, rl - 1))) return -1;
    p = rl > 0 ? close + 2 : NULL;
  } else {
    colon = memchr(s, ':', n);
    if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s))) return inet_pton(AF_INET6, s, addr) == 1 ? 0 : -1;
    hl = colon ? (size_t)(colon - s) : n;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, v4) != 1) return -1;
    if (colon && !clusterdns_valid_port(colon + 1, n - hl - 1)) return -1;
    memset(addr, 0, 10);
    addr[10] = addr[11] = 0xff;
    memcpy(addr + 12, v4, 4);
    p = colon ? colon + 1 : NULL;
  }
  for (; p && *p; p++) *port = *port * 10 + (*p - '0');
  return 0;
}

static int clusterdns_is_v4(const unsigned char a[16]) {
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return !memcmp(a, mapped, 12);
}

clusterdns_ns_kind clusterdns_nameserver_kind(const char *s, int serving_port) {
  unsigned char a[16];
  static const unsigned char zero[16] = {0}, v6_loopback[16] = {[15] = 1};
  long port;
  if (!s || clusterdns_parse_nameserver(s, a, &port)) return CLUSTERDNS_NS_INVALID;
  if (clusterdns_is_v4(a)) {
    /* 0.0.0.0 (as net.IP.IsUnspecified), 169.254/16, 224.0.0/24: nothing a pod can forward to. */
    if (!memcmp(a + 12, zero, 4) || (a[12] == 169 && a[13] == 254) || (a[12] == 224 && a[13] == 0 && a[14] == 0))
      return CLUSTERDNS_NS_INVALID;
    if (a[12] != 127) return CLUSTERDNS_NS_OK;
  } else {
    /* ::, fe80::/10, ff02::/16. */
    if (!memcmp(a, zero, 16) || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || (a[0] == 0xff && (a[1] & 0x0f) == 0x02))
      return CLUSTERDNS_NS_INVALID;
    if (memcmp(a, v6_loopback, 16)) return CLUSTERDNS_NS_OK;
  }
  /* Loopback: in the member's DNS pod that is the pod itself, so on the port it serves the zone
   * would be forwarded to itself, each query recursing until it times out. */
  return (port ? port : 53) == serving_port ? CLUSTERDNS_NS_SELF : CLUSTERDNS_NS_LOOPBACK;
}

int clusterdns_valid_nameserver(const char *s) { return clusterdns_nameserver_kind(s, 0) != CLUSTERDNS_NS_INVALID; }

int clusterdns_check_nameservers(const char *const *nameservers, int serving_port, const char **loopback,
                                 kf_error *err) {
  size_t n = 0;
  if (loopback) *loopback = NULL;
  for (const char *const *p = nameservers; p && *p; p++, n++) {
    if (n == DNS_MAX_NAMESERVERS)
      return kf_error_set(err, -EINVAL, "more than %d nameservers (CoreDNS's forward takes at most %d)",
                          DNS_MAX_NAMESERVERS, DNS_MAX_NAMESERVERS);
    switch (clusterdns_nameserver_kind(*p, serving_port)) {
      case CLUSTERDNS_NS_INVALID:
        return kf_error_set(err, -EINVAL,
                            "nameserver \"%.64s\" is not an IP address with an optional port, or is unspecified or "
                            "link-local",
                            *p);
      case CLUSTERDNS_NS_SELF:
        return kf_error_set(err, -ELOOP,
                            "nameserver %.64s is a loopback address on port %d, the port the member's cluster DNS "
                            "serves: in its pod that is the DNS server itself, which would forward the zone to itself "
                            "until it runs out of memory; use the address of the federation's DNS server",
                            *p, serving_port);
      case CLUSTERDNS_NS_LOOPBACK:
        if (loopback && !*loopback) *loopback = *p;
        break;
      case CLUSTERDNS_NS_OK: break;
    }
  }
  return 0;
}

/* Validates e, normalizes its zone into zone and counts its nameservers; with serving_port
 * (0: not checked) a loopback nameserver on that port is -ELOOP. */
int clusterdns_check_entry(const clusterdns_entry *e, int need_nameservers, int serving_port,
                           char zone[DNS_MAX_ZONE + 1], size_t *nns, kf_error *err) {
  size_t n = 0;
  int rc;
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
      return kf_error_set(err, -EINVAL,
                          "nameserver \"%.64s\" for zone %s is not an IP address with an optional port, or is "
                          "unspecified or link-local",
                          *p, zone);
  }
  if (serving_port && (rc = clusterdns_check_nameservers(e->nameservers, serving_port, NULL, err))) return rc;
  if (need_nameservers && n == 0)
    return kf_error_set(err, -EINVAL, "CoreDNS needs at least one nameserver to forward zone %s to", zone);
  *nns = n;
  return 0;
}
