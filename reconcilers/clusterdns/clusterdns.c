#include "clusterdns.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define DNS_MARK_BEGIN "# BEGIN kubefed.dev "
#define DNS_MARK_END "# END kubefed.dev "
#define DNS_MAX_ZONE 253
/* "[" + the longest IPv6 text + "]:65535" */
#define DNS_MAX_NAMESERVER 56

/* A growable byte buffer: the Corefile is spliced from pieces of the input,
 * which may hold any bytes, so lengths are explicit everywhere. */
typedef struct clusterdns_buf {
  char *p;
  size_t len, cap;
} clusterdns_buf;

static void clusterdns_buf_add(clusterdns_buf *b, const char *s, size_t n) {
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

static void clusterdns_buf_str(clusterdns_buf *b, const char *s) { clusterdns_buf_add(b, s, strlen(s)); }

static char *clusterdns_buf_take(clusterdns_buf *b) {
  clusterdns_buf_add(b, "", 0);
  return b->p;
}

static char clusterdns_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* ASCII only, as Go's TrimSpace is for the bytes kube-dns sees in practice;
 * the C library's isspace would depend on the locale. */
static int clusterdns_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int clusterdns_label_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

/* DNS-1123 label: kube-dns validates federation names so, and the name goes
 * into our Corefile marker, where anything looser could forge a marker. */
static int clusterdns_valid_label(const char *s, size_t n) {
  if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-') return 0;
  for (size_t i = 0; i < n; i++)
    if (!clusterdns_label_char(s[i])) return 0;
  return 1;
}

/* The zone as written everywhere: lower case, no trailing dot (kube-dns
 * validates `federations` domains and stubDomains keys as DNS-1123
 * subdomains, which have neither). */
static int clusterdns_norm_zone(const char *in, char out[DNS_MAX_ZONE + 1]) {
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
static int clusterdns_same_zone(const char *s, size_t n, const char *zone) {
  size_t zl = strlen(zone);
  if (n > 0 && s[n - 1] == '.') n--;
  if (n != zl) return 0;
  for (size_t i = 0; i < n; i++)
    if (clusterdns_lower(s[i]) != zone[i]) return 0;
  return 1;
}

static int clusterdns_valid_port(const char *p, size_t n) {
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
static int clusterdns_valid_nameserver(const char *s) {
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
static int clusterdns_check_entry(const clusterdns_entry *e, int need_nameservers, char zone[DNS_MAX_ZONE + 1],
                                  size_t *nns, kf_error *err) {
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

/* ---- CoreDNS Corefile ---- */

/* Our block for the file; without its final line ending when it replaces a
 * block in place or ends a file that had no final newline. */
static void clusterdns_render_block(clusterdns_buf *b, const char *federation, const char *zone,
                                    const char *const *nameservers, const char *eol, int final_eol) {
  clusterdns_buf_str(b, DNS_MARK_BEGIN);
  clusterdns_buf_str(b, federation);
  clusterdns_buf_str(b, eol);
  clusterdns_buf_str(b, zone);
  clusterdns_buf_str(b, ":53 {");
  clusterdns_buf_str(b, eol);
  clusterdns_buf_str(b, "    errors");
  clusterdns_buf_str(b, eol);
  clusterdns_buf_str(b, "    cache 30");
  clusterdns_buf_str(b, eol);
  clusterdns_buf_str(b, "    forward .");
  for (const char *const *p = nameservers; p && *p; p++) {
    clusterdns_buf_str(b, " ");
    clusterdns_buf_str(b, *p);
  }
  clusterdns_buf_str(b, eol);
  clusterdns_buf_str(b, "}");
  clusterdns_buf_str(b, eol);
  clusterdns_buf_str(b, DNS_MARK_END);
  clusterdns_buf_str(b, federation);
  if (final_eol) clusterdns_buf_str(b, eol);
}

/* The file's line ending: its first line's. A file without any newline that
 * ends in CR counts as CRLF, so that the CR we append after does not turn it
 * into a CRLF file behind our back (a later add would then disagree). */
static const char *clusterdns_file_eol(const char *s, size_t n) {
  const char *nl = memchr(s, '\n', n);
  if (nl) return nl > s && nl[-1] == '\r' ? "\r\n" : "\n";
  return n > 0 && s[n - 1] == '\r' ? "\r\n" : "\n";
}

/* Where our block's markers are. */
typedef struct clusterdns_block {
  int found;
  size_t begin;    /* start of the BEGIN line */
  size_t end;      /* end of the END marker text, before its line ending */
  size_t after;    /* past the END line's newline, or the end of the file */
  int end_nl;      /* the END line has a newline */
  const char *eol; /* the BEGIN line's ending, which is the block's */
} clusterdns_block;

static int clusterdns_line_is(const char *s, size_t ls, size_t ce, const char *mark, const char *federation) {
  size_t ml = strlen(mark), fl = strlen(federation);
  return ce - ls == ml + fl && !memcmp(s + ls, mark, ml) && !memcmp(s + ls + ml, federation, fl);
}

/* Markers are whole lines (one trailing CR allowed). 1 when the block is
 * there, 0 when not, -EINVAL when the markers are unbalanced or repeated:
 * then where our block ends is a guess, and a guess could eat user lines. */
static int clusterdns_find_block(const char *s, size_t n, const char *federation, clusterdns_block *blk,
                                 kf_error *err) {
  size_t nbegin = 0, nend = 0, ls = 0;
  memset(blk, 0, sizeof(*blk));
  while (ls < n) {
    const char *nl = memchr(s + ls, '\n', n - ls);
    size_t le = nl ? (size_t)(nl - s) : n;
    size_t ce = le > ls && s[le - 1] == '\r' ? le - 1 : le;
    if (clusterdns_line_is(s, ls, ce, DNS_MARK_BEGIN, federation)) {
      if (nbegin++ == 0) {
        blk->begin = ls;
        blk->eol = ce < le ? "\r\n" : "\n";
      }
    } else if (clusterdns_line_is(s, ls, ce, DNS_MARK_END, federation)) {
      if (nend++ == 0) {
        blk->end = ce;
        blk->after = nl ? le + 1 : n;
        blk->end_nl = nl != NULL;
      }
    }
    ls = nl ? le + 1 : n;
  }
  if (nbegin == 0 && nend == 0) return 0;
  if (nbegin != 1 || nend != 1 || blk->end < blk->begin)
    return kf_error_set(err, -EINVAL,
                        "the Corefile has unbalanced or repeated \"%s%s\" / \"%s%s\" markers; fix them by hand",
                        DNS_MARK_BEGIN, federation, DNS_MARK_END, federation);
  blk->found = 1;
  return 1;
}

/* Does a server block key ("example.com:53", "dns://example.com.", "a.com,")
 * serve zone on port 53? Other transports (tls://, grpc://, https://) listen
 * elsewhere and do not clash with a plain DNS block. */
static int clusterdns_key_serves(const char *k, size_t n, const char *zone) {
  static const char clusterdns_scheme[] = "dns://";
  size_t sl = sizeof(clusterdns_scheme) - 1;
  if (n >= sl && !strncmp(k, clusterdns_scheme, sl)) {
    k += sl;
    n -= sl;
  } else {
    for (size_t i = 0; i + 2 < n; i++)
      if (k[i] == ':' && k[i + 1] == '/' && k[i + 2] == '/') return 0;
  }
  for (size_t i = n; i > 0; i--) {
    if (k[i - 1] >= '0' && k[i - 1] <= '9') continue;
    if (k[i - 1] == ':' && i < n) {
      long port = 0;
      for (size_t j = i; j < n; j++) port = port > 65535 ? port : port * 10 + (k[j] - '0');
      if (port != 53) return 0;
      n = i - 1;
    }
    break;
  }
  return clusterdns_same_zone(k, n, zone);
}

typedef struct clusterdns_lexer {
  const char *zone;
  size_t depth;
  size_t line;        /* current line, 1-based */
  size_t tok_line;    /* line of the token being read */
  size_t last_line;   /* line of the previous token */
  size_t import_line; /* top-level `import` line: its arguments are not keys */
  size_t keys_line;   /* line of the first key still waiting for its "{" (0: none) */
  size_t clash_line;  /* line of a key serving our zone (0: none) */
  clusterdns_buf tok;
} clusterdns_lexer;

/* One token, as CoreDNS's Caddyfile parser reads it: at the top level, words
 * before a "{" are the server block's keys; "{" and "}" nest. */
static int clusterdns_lex_token(clusterdns_lexer *lx, kf_error *err) {
  const char *t = lx->tok.p ? lx->tok.p : "";
  size_t n = lx->tok.len;
  int first_on_line = lx->tok_line != lx->last_line;
  lx->last_line = lx->tok_line;
  if (n == 1 && t[0] == '{') {
    lx->depth++;
    lx->keys_line = 0;
  } else if (n == 1 && t[0] == '}') {
    if (lx->depth == 0)
      return kf_error_set(err, -EINVAL, "the Corefile has an unmatched \"}\" on line %zu; not editing it",
                          lx->tok_line);
    lx->depth--;
  } else if (lx->depth == 0 && n > 0) { /* "" is no key for Caddy either */
    if (first_on_line && n == 6 && !memcmp(t, "import", 6) && !lx->keys_line) {
      lx->import_line = lx->tok_line;
    } else if (lx->import_line != lx->tok_line) {
      size_t s = 0;
      if (!lx->keys_line) lx->keys_line = lx->tok_line;
      for (size_t i = 0; i <= n; i++) {
        if (i < n && t[i] != ',') continue;
        if (i > s && !lx->clash_line && clusterdns_key_serves(t + s, i - s, lx->zone)) lx->clash_line = lx->tok_line;
        s = i + 1;
      }
    }
  }
  lx->tok.len = 0;
  return 0;
}

/* Reads the Corefile, leaving out our own block [skip_from, skip_to), the
 * way CoreDNS's Caddyfile lexer does ('#' starts a comment anywhere outside
 * quotes, '"' quotes only at the start of a word, backslash escapes in
 * quotes). Refuses a file that is not balanced at its end (our block would
 * land inside someone else's) and one where another block serves the zone
 * (CoreDNS would refuse to start with two). Blocks pulled in by `import` are
 * not visible here. */
static int clusterdns_corefile_scan(const char *s, size_t n, size_t skip_from, size_t skip_to, const char *zone,
                                    const char *federation, kf_error *err) {
  clusterdns_lexer lx = {.zone = zone, .line = 1};
  int quoted = 0, escaped = 0, comment = 0, rc = 0;
  size_t quote_line = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    char c = s[i];
    if (i == skip_from) {
      for (; i < skip_to; i++)
        if (s[i] == '\n') lx.line++;
      if (i >= n) break;
      c = s[i];
    }
    if (quoted) {
      if (!escaped && c == '\\') {
        escaped = 1;
        continue;
      }
      if (!escaped && c == '"') {
        quoted = 0;
        rc = clusterdns_lex_token(&lx, err);
        continue;
      }
      if (c == '\n') lx.line++;
      if (escaped && c != '"') clusterdns_buf_add(&lx.tok, "\\", 1);
      clusterdns_buf_add(&lx.tok, &c, 1);
      escaped = 0;
      continue;
    }
    if (clusterdns_space(c)) {
      if (c == '\n') {
        lx.line++;
        comment = 0;
      }
      if (lx.tok.len) rc = clusterdns_lex_token(&lx, err);
      continue;
    }
    if (c == '#') comment = 1;
    if (comment) continue;
    if (lx.tok.len == 0) {
      lx.tok_line = lx.line;
      if (c == '"') {
        quoted = 1;
        quote_line = lx.line;
        continue;
      }
    }
    clusterdns_buf_add(&lx.tok, &c, 1);
  }
  if (rc == 0 && quoted)
    rc = kf_error_set(err, -EINVAL, "the Corefile has a quoted string from line %zu that never ends; not editing it",
                      quote_line);
  if (rc == 0 && lx.tok.len) rc = clusterdns_lex_token(&lx, err);
  if (rc == 0 && lx.depth)
    rc = kf_error_set(err, -EINVAL, "the Corefile has %zu unclosed \"{\" at its end; not editing it", lx.depth);
  if (rc == 0 && lx.keys_line)
    rc = kf_error_set(err, -EINVAL,
                      "the Corefile ends with a server block on line %zu that has no \"{\"; not editing it",
                      lx.keys_line);
  if (rc == 0 && lx.clash_line)
    rc = kf_error_set(err, -EINVAL,
                      "the Corefile already serves zone %s on port 53 (server block on line %zu) with a block "
                      "that is not federation %s's; remove that block or use another zone",
                      zone, lx.clash_line, federation);
  free(lx.tok.p);
  return rc;
}

/* After the file's last non-blank line (blank: nothing but a line ending);
 * s ends with a newline. 0 when every line is blank. */
static size_t clusterdns_content_end(const char *s, size_t n) {
  size_t i = n;
  while (i > 0) {
    size_t nl = i - 1, ls = nl;
    while (ls > 0 && s[ls - 1] != '\n') ls--;
    if (nl - ls == 0 || (nl - ls == 1 && s[ls] == '\r')) i = ls;
    else break;
  }
  return i;
}

static int clusterdns_corefile_len(const char *corefile, size_t *n, kf_error *err) {
  if (!corefile) return kf_error_set(err, -EINVAL, "no Corefile");
  *n = strnlen(corefile, DNS_MAX_CONFIG_BYTES + 1);
  if (*n > DNS_MAX_CONFIG_BYTES)
    return kf_error_set(err, -EFBIG, "the Corefile is larger than %d bytes", DNS_MAX_CONFIG_BYTES);
  return 0;
}

int clusterdns_corefile_add(const char *corefile, const clusterdns_entry *e, char **out, kf_error *err) {
  char zone[DNS_MAX_ZONE + 1];
  size_t nns, n = 0;
  clusterdns_block blk;
  clusterdns_buf b = {0};
  int rc;
  if (!out) return kf_error_set(err, -EINVAL, "no place for the Corefile");
  *out = NULL;
  if ((rc = clusterdns_check_entry(e, 1, zone, &nns, err)) || (rc = clusterdns_corefile_len(corefile, &n, err)))
    return rc;
  if ((rc = clusterdns_find_block(corefile, n, e->federation, &blk, err)) < 0) return rc;
  rc = clusterdns_corefile_scan(corefile, n, blk.found ? blk.begin : n, blk.found ? blk.after : n, zone, e->federation,
                                err);
  if (rc) return rc;
  if (blk.found) {
    /* In place, keeping whatever separates it from its neighbours, so that
     * clusterdns_corefile_remove still undoes the original add. */
    clusterdns_buf_add(&b, corefile, blk.begin);
    clusterdns_render_block(&b, e->federation, zone, e->nameservers, blk.eol, 0);
    clusterdns_buf_add(&b, corefile + blk.end, n - blk.end);
  } else if (n > 0 && corefile[n - 1] != '\n') {
    /* No final newline: end its last line, one blank line, then ours, which
     * also ends without one; remove knows this case from that. */
    const char *eol = clusterdns_file_eol(corefile, n);
    clusterdns_buf_add(&b, corefile, n);
    clusterdns_buf_str(&b, eol);
    clusterdns_buf_str(&b, eol);
    clusterdns_render_block(&b, e->federation, zone, e->nameservers, eol, 0);
  } else {
    /* Before any trailing blank lines rather than after them: then the blank
     * line before our block is always ours, and remove takes exactly it. A
     * file of blank lines only gets no separator (remove: block at 0). */
    const char *eol = clusterdns_file_eol(corefile, n);
    size_t i = clusterdns_content_end(corefile, n);
    clusterdns_buf_add(&b, corefile, i);
    if (i > 0) clusterdns_buf_str(&b, eol);
    clusterdns_render_block(&b, e->federation, zone, e->nameservers, eol, 1);
    clusterdns_buf_add(&b, corefile + i, n - i);
  }
  if (b.len > DNS_MAX_CONFIG_BYTES) {
    free(b.p);
    return kf_error_set(err, -EFBIG, "the Corefile would grow past %d bytes", DNS_MAX_CONFIG_BYTES);
  }
  *out = clusterdns_buf_take(&b);
  return 0;
}

int clusterdns_corefile_remove(const char *corefile, const char *federation, char **out, kf_error *err) {
  size_t n = 0, start, sep;
  clusterdns_block blk;
  clusterdns_buf b = {0};
  int rc;
  if (!out) return kf_error_set(err, -EINVAL, "no place for the Corefile");
  *out = NULL;
  if (!federation || !clusterdns_valid_label(federation, strnlen(federation, 64)))
    return kf_error_set(err, -EINVAL, "federation name \"%.64s\" is not a DNS-1123 label",
                        federation ? federation : "");
  if ((rc = clusterdns_corefile_len(corefile, &n, err))) return rc;
  if ((rc = clusterdns_find_block(corefile, n, federation, &blk, err)) < 0) return rc;
  if (!blk.found) {
    *out = kf_strndup(corefile, n);
    return 0;
  }
  start = blk.begin;
  sep = strlen(blk.eol);
  if (blk.end_nl) {
    /* The blank line add put before the block. At the very start, after a
     * blank line, the block was the first of two and the other one went. */
    if (start >= sep && !memcmp(corefile + start - sep, blk.eol, sep) &&
        (start == sep || corefile[start - sep - 1] == '\n'))
      start -= sep;
  } else if (start >= 2 * sep && !memcmp(corefile + start - 2 * sep, blk.eol, sep) &&
             !memcmp(corefile + start - sep, blk.eol, sep)) {
    /* Last in a file without a final newline: add ended the last line and
     * added a blank one. */
    start -= 2 * sep;
  } else if (start >= sep && !memcmp(corefile + start - sep, blk.eol, sep)) {
    start -= sep;
  }
  clusterdns_buf_add(&b, corefile, start);
  clusterdns_buf_add(&b, corefile + blk.after, n - blk.after);
  *out = clusterdns_buf_take(&b);
  return 0;
}

int clusterdns_corefile_has(const char *corefile, const clusterdns_entry *e) {
  char zone[DNS_MAX_ZONE + 1];
  size_t nns, n = 0;
  clusterdns_block blk;
  clusterdns_buf b = {0};
  int same;
  if (clusterdns_check_entry(e, 1, zone, &nns, NULL) || clusterdns_corefile_len(corefile, &n, NULL)) return 0;
  if (clusterdns_find_block(corefile, n, e->federation, &blk, NULL) != 1) return 0;
  clusterdns_render_block(&b, e->federation, zone, e->nameservers, blk.eol, 0);
  same = b.len == blk.end - blk.begin && !memcmp(b.p, corefile + blk.begin, b.len);
  free(b.p);
  return same;
}

/* ---- kube-dns ConfigMap ---- */

/* Where our item is in a `federations` value. */
typedef struct clusterdns_feds {
  int found, exact;                                /* an item named after us; its domain is exactly our zone */
  size_t index, count;                             /* our item's position; items in all */
  size_t seg_start, seg_end, trim_start, trim_end; /* our item, with and without its spaces */
} clusterdns_feds;

/* Parses `federations` as kube-dns does (ParseFederationsFlag: split on ",",
 * trim, split on the first "="; an all-blank value has no items). */
static int clusterdns_feds_parse(const char *v, size_t n, const char *federation, const char *zone, clusterdns_feds *f,
                                 kf_error *err) {
  size_t s = 0, fl = strlen(federation);
  int blank = 1;
  memset(f, 0, sizeof(*f));
  for (size_t i = 0; i < n && blank; i++) blank = clusterdns_space(v[i]);
  while (!blank) {
    const char *comma = memchr(v + s, ',', n - s);
    size_t e = comma ? (size_t)(comma - v) : n, a = s, b = e;
    while (a < b && clusterdns_space(v[a])) a++;
    while (b > a && clusterdns_space(v[b - 1])) b--;
    const char *eq = memchr(v + a, '=', b - a);
    size_t ne = eq ? (size_t)(eq - v) : a, ds = eq ? ne + 1 : b;
    while (ne > a && clusterdns_space(v[ne - 1])) ne--;
    while (ds < b && clusterdns_space(v[ds])) ds++;
    if (!eq || ne == a || ds == b)
      return kf_error_set(err, -EINVAL, "kube-dns \"federations\" item %zu is not name=domain; fix it by hand",
                          f->count + 1);
    if (ne - a == fl && !memcmp(v + a, federation, fl)) {
      if (f->found)
        return kf_error_set(err, -EINVAL, "kube-dns \"federations\" lists federation %s twice; fix it by hand",
                            federation);
      f->found = 1;
      f->exact = b - ds == strlen(zone) && !memcmp(v + ds, zone, b - ds);
      f->index = f->count;
      f->seg_start = s;
      f->seg_end = e;
      f->trim_start = a;
      f->trim_end = b;
    }
    f->count++;
    if (!comma) break;
    s = e + 1;
  }
  return 0;
}

/* 1 and the value when data has key as a string, 0 when it has no such key
 * (or null), negative when the value is not a string or too large. */
static int clusterdns_data_string(json_object *data, const char *key, const char **v, size_t *n, kf_error *err) {
  json_object *o = NULL;
  *v = "";
  *n = 0;
  if (!data || !json_object_object_get_ex(data, key, &o) || !o) return 0;
  if (!json_object_is_type(o, json_type_string))
    return kf_error_set(err, -EINVAL, "kube-dns ConfigMap key %s is not a string", key);
  *v = json_object_get_string(o);
  *n = (size_t)json_object_get_string_len(o);
  if (*n > DNS_MAX_CONFIG_BYTES)
    return kf_error_set(err, -EFBIG, "kube-dns ConfigMap key %s is larger than %d bytes", key, DNS_MAX_CONFIG_BYTES);
  return 1;
}

/* stubDomains as kube-dns reads it (a JSON object of string arrays; it
 * refuses the whole ConfigMap otherwise, so we refuse too). */
static int clusterdns_stubs_parse(const char *v, size_t n, json_object **obj, kf_error *err) {
  json_tokener *tok = json_tokener_new();
  json_object *o;
  size_t end;
  int ok;
  *obj = NULL;
  if (!tok) return kf_error_set(err, -ENOMEM, "out of memory");
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
  o = memchr(v, '\0', n) ? NULL : json_tokener_parse_ex(tok, v, (int)n);
  ok = o && json_tokener_get_error(tok) == json_tokener_success;
  end = ok ? json_tokener_get_parse_end(tok) : 0;
  json_tokener_free(tok);
  for (; ok && end < n; end++) ok = clusterdns_space(v[end]);
  ok = ok && json_object_is_type(o, json_type_object);
  if (ok) {
    json_object_object_foreach (o, key, val) {
      (void)key;
      if (!ok) break;
      ok = json_object_is_type(val, json_type_array);
      for (size_t i = 0; ok && i < json_object_array_length(val); i++)
        ok = json_object_is_type(json_object_array_get_idx(val, i), json_type_string);
    }
  }
  if (!ok) {
    json_object_put(o);
    return kf_error_set(err, -EINVAL,
                        "kube-dns \"stubDomains\" is not a JSON object of string arrays (kube-dns ignores it too); "
                        "fix it by hand");
  }
  *obj = o;
  return 0;
}

/* The one key of stubs naming zone (ignoring case and a trailing dot), NULL
 * when none; -EINVAL when two do (which one kube-dns uses is a guess). */
static int clusterdns_stubs_find(json_object *stubs, const char *zone, const char **found, kf_error *err) {
  *found = NULL;
  json_object_object_foreach (stubs, key, val) {
    (void)val;
    if (!clusterdns_same_zone(key, strlen(key), zone)) continue;
    if (*found) return kf_error_set(err, -EINVAL, "kube-dns \"stubDomains\" lists zone %s twice; fix it by hand", zone);
    *found = key;
  }
  return 0;
}

static int clusterdns_stub_is(json_object *list, const char *const *nameservers, size_t nns) {
  if (json_object_array_length(list) != nns) return 0;
  for (size_t i = 0; i < nns; i++) {
    json_object *s = json_object_array_get_idx(list, i);
    size_t l = (size_t)json_object_get_string_len(s);
    if (l != strlen(nameservers[i]) || memcmp(json_object_get_string(s), nameservers[i], l)) return 0;
  }
  return 1;
}

static json_object *clusterdns_stub_list(const char *const *nameservers, size_t nns) {
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < nns; i++) json_object_array_add(a, json_object_new_string(nameservers[i]));
  return a;
}

static json_object *clusterdns_stubs_string(json_object *stubs) {
  return json_object_new_string(
      json_object_to_json_string_ext(stubs, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int clusterdns_created(const char *const *created_keys, const char *key) {
  for (const char *const *k = created_keys; k && *k; k++)
    if (!strcmp(*k, key)) return 1;
  return 0;
}

static int clusterdns_check_data(json_object *data, json_object **out, kf_error *err) {
  if (!out) return kf_error_set(err, -EINVAL, "no place for the kube-dns values");
  *out = NULL;
  if (data && !json_object_is_type(data, json_type_object))
    return kf_error_set(err, -EINVAL, "kube-dns ConfigMap data is not an object");
  return 0;
}

int clusterdns_kubedns_add(json_object *data, const clusterdns_entry *e, json_object **out, kf_error *err) {
  char zone[DNS_MAX_ZONE + 1];
  const char *fv, *sv;
  size_t nns, fn, sn;
  json_object *stubs = NULL, *stubs_value = NULL;
  clusterdns_feds f;
  clusterdns_buf b = {0};
  int rc, have_stubs;
  if ((rc = clusterdns_check_data(data, out, err)) || (rc = clusterdns_check_entry(e, 0, zone, &nns, err))) return rc;
  if ((rc = clusterdns_data_string(data, DNS_KUBEDNS_FEDERATIONS, &fv, &fn, err)) < 0) return rc;
  if ((rc = clusterdns_feds_parse(fv, fn, e->federation, zone, &f, err))) return rc;
  if (nns > 0) {
    const char *key = NULL;
    if ((have_stubs = clusterdns_data_string(data, DNS_KUBEDNS_STUBDOMAINS, &sv, &sn, err)) < 0) return have_stubs;
    if (!have_stubs) stubs = json_object_new_object();
    else if ((rc = clusterdns_stubs_parse(sv, sn, &stubs, err)) || (rc = clusterdns_stubs_find(stubs, zone, &key, err)))
      goto out;
    if (!key) {
      json_object_object_add(stubs, zone, clusterdns_stub_list(e->nameservers, nns));
      stubs_value = clusterdns_stubs_string(stubs);
    } else {
      json_object *list = json_object_object_get(stubs, key);
      if (clusterdns_stub_is(list, e->nameservers, nns)) {
        stubs_value = json_object_new_string_len(sv, (int)sn);
      } else if (f.found && f.exact) {
        /* `federations` names us with this zone: we wrote both, and our
         * nameservers have changed since. */
        json_object_object_add(stubs, key, clusterdns_stub_list(e->nameservers, nns));
        stubs_value = clusterdns_stubs_string(stubs);
      } else {
        rc = kf_error_set(err, -EINVAL,
                          "kube-dns \"stubDomains\" already sends zone %s to other nameservers, and not for "
                          "federation %s; remove that entry or use another zone",
                          zone, e->federation);
        goto out;
      }
    }
  }
  if (f.found && f.exact) {
    clusterdns_buf_add(&b, fv, fn);
  } else if (f.found) {
    clusterdns_buf_add(&b, fv, f.trim_start);
    clusterdns_buf_str(&b, e->federation);
    clusterdns_buf_str(&b, "=");
    clusterdns_buf_str(&b, zone);
    clusterdns_buf_add(&b, fv + f.trim_end, fn - f.trim_end);
  } else {
    /* Appended: an all-blank value is kept in front, so removal gives it back. */
    clusterdns_buf_add(&b, fv, fn);
    if (f.count) clusterdns_buf_str(&b, ",");
    clusterdns_buf_str(&b, e->federation);
    clusterdns_buf_str(&b, "=");
    clusterdns_buf_str(&b, zone);
  }
  *out = json_object_new_object();
  json_object_object_add(*out, DNS_KUBEDNS_FEDERATIONS, json_object_new_string_len(b.p, (int)b.len));
  if (stubs_value) {
    json_object_object_add(*out, DNS_KUBEDNS_STUBDOMAINS, stubs_value);
    stubs_value = NULL;
  }
out:
  json_object_put(stubs_value);
  json_object_put(stubs);
  free(b.p);
  return rc;
}

int clusterdns_kubedns_remove(json_object *data, const clusterdns_entry *e, const char *const *created_keys,
                              json_object **out, kf_error *err) {
  char zone[DNS_MAX_ZONE + 1];
  const char *fv, *sv;
  size_t nns, fn, sn;
  json_object *stubs = NULL, *result;
  clusterdns_feds f;
  int rc, have_feds, have_stubs = 0;
  if ((rc = clusterdns_check_data(data, out, err)) || (rc = clusterdns_check_entry(e, 0, zone, &nns, err))) return rc;
  if ((have_feds = clusterdns_data_string(data, DNS_KUBEDNS_FEDERATIONS, &fv, &fn, err)) < 0) return have_feds;
  if ((rc = clusterdns_feds_parse(fv, fn, e->federation, zone, &f, err))) return rc;
  if (nns > 0 && (have_stubs = clusterdns_data_string(data, DNS_KUBEDNS_STUBDOMAINS, &sv, &sn, err)) < 0)
    return have_stubs;
  if (have_stubs && (rc = clusterdns_stubs_parse(sv, sn, &stubs, err))) return rc;
  result = json_object_new_object();
  if (stubs) {
    const char *key = NULL;
    if ((rc = clusterdns_stubs_find(stubs, zone, &key, err))) goto fail;
    /* Ours: our nameservers, or `federations` names us with this zone (we
     * wrote both; the nameservers may have changed since). */
    if (key && (clusterdns_stub_is(json_object_object_get(stubs, key), e->nameservers, nns) || (f.found && f.exact))) {
      json_object_object_del(stubs, key);
      if (json_object_object_length(stubs) > 0)
        json_object_object_add(result, DNS_KUBEDNS_STUBDOMAINS, clusterdns_stubs_string(stubs));
      else if (clusterdns_created(created_keys, DNS_KUBEDNS_STUBDOMAINS))
        json_object_object_add(result, DNS_KUBEDNS_STUBDOMAINS, NULL);
      else json_object_object_add(result, DNS_KUBEDNS_STUBDOMAINS, json_object_new_string("{}"));
    }
  }
  if (f.found) {
    clusterdns_buf b = {0};
    if (f.count == 1) {
      /* Only ours: what was around it (blanks) stays, as add found it. */
      clusterdns_buf_add(&b, fv, f.trim_start);
      clusterdns_buf_add(&b, fv + f.trim_end, fn - f.trim_end);
    } else if (f.index > 0) {
      clusterdns_buf_add(&b, fv, f.seg_start - 1);
      clusterdns_buf_add(&b, fv + f.seg_end, fn - f.seg_end);
    } else {
      clusterdns_buf_add(&b, fv, f.seg_start);
      clusterdns_buf_add(&b, fv + f.seg_end + 1, fn - f.seg_end - 1);
    }
    if (f.count == 1 && clusterdns_created(created_keys, DNS_KUBEDNS_FEDERATIONS))
      json_object_object_add(result, DNS_KUBEDNS_FEDERATIONS, NULL);
    else json_object_object_add(result, DNS_KUBEDNS_FEDERATIONS, json_object_new_string_len(b.p, (int)b.len));
    free(b.p);
  }
  json_object_put(stubs);
  *out = result;
  return 0;
fail:
  json_object_put(stubs);
  json_object_put(result);
  return rc;
}

int clusterdns_kubedns_has(json_object *data, const clusterdns_entry *e) {
  json_object *want = NULL;
  int same = 1;
  if (clusterdns_kubedns_add(data, e, &want, NULL)) return 0;
  json_object_object_foreach (want, key, val) {
    json_object *cur = NULL;
    if (!json_object_object_get_ex(data, key, &cur) || !cur ||
        json_object_get_string_len(cur) != json_object_get_string_len(val) ||
        memcmp(json_object_get_string(cur), json_object_get_string(val), (size_t)json_object_get_string_len(val)))
      same = 0;
  }
  json_object_put(want);
  return same;
}
