/* servicedns config: the coredns provider file, as v1 read it with gcfg. */
#include "servicedns_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A comma list into a NULL-terminated vector of trimmed, non-empty items. */
static char **split_list(const char *v) {
  size_t n = 0;
  char **out = kf_calloc(strlen(v) + 2, sizeof(*out));
  const char *p = v;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    const char *s = p;
    while (l && servicedns__space(*s)) s++, l--;
    while (l && servicedns__space(s[l - 1])) l--;
    if (l) out[n++] = kf_strndup(s, l);
    p = e ? e + 1 : p + strlen(p);
  }
  return out;
}

static void free_list(char **v) {
  for (char **p = v; p && *p; p++) free(*p);
  free(v);
}

static size_t list_len(char *const *v) {
  size_t n = 0;
  while (v && v[n]) n++;
  return n;
}

/* gcfg's value syntax: blanks around it dropped, "..." quoted (with \" \\ \n \t escapes), a
 * comment (';' or '#') outside quotes ends it. -EINVAL for an unterminated quote. */
static int unquote(const char *s, size_t n, char **out) {
  kf_buf b = {0};
  int q = 0;
  size_t i = 0, keep = 0;
  while (i < n && servicedns__space(s[i])) i++;
  for (; i < n; i++) {
    char c = s[i];
    if (q) {
      if (c == '"') {
        q = 0;
        keep = b.len;
      } else if (c == '\\' && i + 1 < n) {
        char e = s[++i];
        kf_buf_addc(&b, e == 'n' ? '\n' : e == 't' ? '\t' : e);
        keep = b.len;
      } else {
        kf_buf_addc(&b, c);
        keep = b.len;
      }
      continue;
    }
    if (c == ';' || c == '#') break;
    if (c == '"') {
      q = 1;
      continue;
    }
    kf_buf_addc(&b, c);
    if (!servicedns__space(c)) keep = b.len;
  }
  if (q) {
    free(b.p);
    return -EINVAL;
  }
  *out = kf_strndup(b.p ? b.p : "", keep);
  free(b.p);
  return 0;
}

static int check_endpoints(char **v, const char *var, size_t line, kf_error *err) {
  for (char **p = v; p && *p; p++)
    if (strncmp(*p, "http://", 7) != 0 && strncmp(*p, "https://", 8) != 0)
      return kf_error_set(err, -EINVAL, "provider config line %zu: %s entry \"%s\" is not an http:// or https:// URL",
                          line, var, *p);
  return 0;
}

int servicedns_config_parse(const char *text, size_t len, servicedns_config *out, kf_error *err) {
  memset(out, 0, sizeof(*out));
  if (len > SERVICEDNS_MAX_CONFIG_BYTES)
    return kf_error_set(err, -EFBIG, "provider config is %zu bytes, more than %d", len, SERVICEDNS_MAX_CONFIG_BYTES);
  servicedns_config c = {0};
  size_t lineno = 0, etcd_line = 0;
  int in_global = 0, rc = 0;
  const char *p = text, *end = text + len;
  while (p < end && rc == 0) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    lineno++;
    const char *s = p;
    size_t n = (size_t)(le - p);
    p = nl ? nl + 1 : end;
    while (n && servicedns__space(*s)) s++, n--;
    while (n && servicedns__space(s[n - 1])) n--;
    if (n == 0 || s[0] == ';' || s[0] == '#') continue;
    if (memchr(s, '\0', n)) {
      rc = kf_error_set(err, -EINVAL, "provider config line %zu: contains a NUL byte", lineno);
      break;
    }
    if (s[0] == '[') {
      const char *close = memchr(s, ']', n);
      size_t rest = close ? n - (size_t)(close - s) - 1 : 0;
      const char *r = close ? close + 1 : NULL;
      while (rest && servicedns__space(*r)) r++, rest--;
      if (!close || (rest && *r != ';' && *r != '#')) {
        rc = kf_error_set(err, -EINVAL, "provider config line %zu: malformed section header", lineno);
        break;
      }
      size_t sl = (size_t)(close - s - 1);
      if (sl != 6 || strncasecmp(s + 1, "global", 6) != 0) {
        rc = kf_error_set(err, -EINVAL, "provider config line %zu: unknown section \"%.*s\" (only [Global])", lineno,
                          (int)(sl > 64 ? 64 : sl), s + 1);
        break;
      }
      in_global = 1;
      continue;
    }
    if (!in_global) {
      rc = kf_error_set(err, -EINVAL, "provider config line %zu: a variable before the [Global] section", lineno);
      break;
    }
    const char *eq = memchr(s, '=', n);
    if (!eq) {
      rc = kf_error_set(err, -EINVAL, "provider config line %zu: expected NAME = VALUE", lineno);
      break;
    }
    size_t kl = (size_t)(eq - s);
    while (kl && servicedns__space(s[kl - 1])) kl--;
    char *val = NULL;
    if (unquote(eq + 1, n - (size_t)(eq - s) - 1, &val) != 0) {
      rc = kf_error_set(err, -EINVAL, "provider config line %zu: a quoted value that never ends", lineno);
      break;
    }
#define SDNS_VAR(lit) (kl == sizeof(lit) - 1 && strncasecmp(s, lit, kl) == 0)
    if (SDNS_VAR("etcd-endpoints")) {
      free_list(c.etcd_endpoints);
      c.etcd_endpoints = split_list(val);
      etcd_line = lineno;
    } else if (SDNS_VAR("zones")) {
      free_list(c.zones);
      c.zones = split_list(val);
    } else if (SDNS_VAR("coredns-endpoints")) {
      free_list(c.coredns_endpoints);
      c.coredns_endpoints = split_list(val);
    } else if (SDNS_VAR("etcd-cert-file")) {
      free(c.etcd_cert_file);
      c.etcd_cert_file = *val ? kf_strdup(val) : NULL;
    } else if (SDNS_VAR("etcd-key-file")) {
      free(c.etcd_key_file);
      c.etcd_key_file = *val ? kf_strdup(val) : NULL;
    } else if (SDNS_VAR("etcd-ca-file")) {
      free(c.etcd_ca_file);
      c.etcd_ca_file = *val ? kf_strdup(val) : NULL;
    } else {
      rc = kf_error_set(err, -EINVAL, "provider config line %zu: unknown variable \"%.*s\"", lineno,
                        (int)(kl > 64 ? 64 : kl), s);
    }
#undef SDNS_VAR
    free(val);
  }
  if (rc == 0 && list_len(c.zones) == 0) rc = kf_error_set(err, -EINVAL, "Need to provide at least one DNS Zone");
  for (char **z = c.zones; rc == 0 && z && *z; z++) {
    size_t zl = strlen(*z);
    if (zl > 1 && (*z)[zl - 1] == '.') (*z)[zl - 1] = '\0';
    for (char *q = *z; *q; q++) *q = servicedns__lower(*q);
    if (!servicedns__valid_name(*z))
      rc = kf_error_set(err, -EINVAL, "provider config: zone \"%s\" is not a DNS name", *z);
  }
  if (rc == 0) rc = check_endpoints(c.etcd_endpoints, "etcd-endpoints", etcd_line, err);
  if (rc == 0 && !!c.etcd_cert_file != !!c.etcd_key_file)
    rc = kf_error_set(err, -EINVAL, "provider config: etcd-cert-file and etcd-key-file go together (%s is not set)",
                      c.etcd_cert_file ? "etcd-key-file" : "etcd-cert-file");
  if (rc != 0) {
    servicedns_config_free(&c);
    return rc;
  }
  if (list_len(c.etcd_endpoints) == 0) {
    free_list(c.etcd_endpoints);
    c.etcd_endpoints = split_list(SERVICEDNS_DEFAULT_ETCD);
  }
  if (!c.coredns_endpoints) c.coredns_endpoints = kf_calloc(1, sizeof(char *));
  *out = c;
  return 0;
}

void servicedns_config_free(servicedns_config *c) {
  if (!c) return;
  free_list(c->etcd_endpoints);
  free_list(c->zones);
  free_list(c->coredns_endpoints);
  free(c->etcd_cert_file);
  free(c->etcd_key_file);
  free(c->etcd_ca_file);
  memset(c, 0, sizeof(*c));
}
