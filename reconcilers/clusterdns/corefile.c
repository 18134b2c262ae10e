/* clusterdns corefile: our marked block in a CoreDNS Corefile (add, has, remove; byte-exact revert). */
#include "clusterdns_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CoreDNS Corefile ---- */

/* Our block for the file; without its final line ending when it replaces a
 * block in place or ends a file that had no final newline. */
static void clusterdns_render_block(kf_buf *b, const char *federation, const char *zone, int port,
                                    const char *const *nameservers, const char *eol, int final_eol) {
  char key[16];
  snprintf(key, sizeof(key), ":%d {", port);
  kf_buf_str(b, DNS_MARK_BEGIN);
  kf_buf_str(b, federation);
  kf_buf_str(b, eol);
  kf_buf_str(b, zone);
  kf_buf_str(b, key);
  kf_buf_str(b, eol);
  kf_buf_str(b, "    errors");
  kf_buf_str(b, eol);
  kf_buf_str(b, "    cache 30");
  kf_buf_str(b, eol);
  kf_buf_str(b, "    forward .");
  for (const char *const *p = nameservers; p && *p; p++) {
    kf_buf_str(b, " ");
    kf_buf_str(b, *p);
  }
  kf_buf_str(b, eol);
  kf_buf_str(b, "}");
  kf_buf_str(b, eol);
  kf_buf_str(b, DNS_MARK_END);
  kf_buf_str(b, federation);
  if (final_eol) kf_buf_str(b, eol);
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

/* A server block key ("example.com:53", "dns://example.com.", ".", "a.com,"): 1 when it is
 * plain DNS, with its zone [*zs, *zs + *zn) and port (53 when it names none); 0 for other
 * transports (tls://, grpc://, https://), which listen elsewhere and clash with nothing. */
static int clusterdns_key_parse(const char *k, size_t n, const char **zs, size_t *zn, long *port) {
  static const char clusterdns_scheme[] = "dns://";
  size_t sl = sizeof(clusterdns_scheme) - 1;
  *port = 53;
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
      long p = 0;
      for (size_t j = i; j < n; j++) p = p > 65535 ? p : p * 10 + (k[j] - '0');
      *port = p;
      n = i - 1;
    }
    break;
  }
  *zs = k;
  *zn = n;
  return 1;
}

typedef struct clusterdns_lexer {
  const char *zone;
  size_t depth;
  size_t line;        /* current line, 1-based */
  size_t tok_line;    /* line of the token being read */
  size_t last_line;   /* line of the previous token */
  size_t import_line; /* top-level `import` line: its arguments are not keys */
  size_t keys_line;   /* line of the first key still waiting for its "{" (0: none) */
  /* Keys serving our zone, on whatever port (which port ours listens on is known at the end). */
  size_t nzone_keys;
  struct {
    long port;
    size_t line;
  } zone_keys[8];
  /* The port our block listens on: the root ("." zone) blocks' when there are any, as the
   * cluster's DNS Service sends every query there; else the other blocks'. [0]: root keys,
   * [1]: the others; port 0: none seen, other_port: a port that differs from port. */
  struct {
    long port, other_port;
    size_t line, other_line;
  } ports[2];
  int reload; /* a server block has the reload plugin */
  kf_buf tok;
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
  } else if (lx->depth == 1 && first_on_line && n == 6 && !memcmp(t, "reload", 6)) {
    lx->reload = 1;
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
        const char *zs;
        size_t zn;
        long port;
        if (i > s && clusterdns_key_parse(t + s, i - s, &zs, &zn, &port)) {
          if (lx->zone && clusterdns_same_zone(zs, zn, lx->zone)) {
            /* The first key per port; a ninth port for one zone (no real Corefile) is not kept. */
            size_t k = 0;
            while (k < lx->nzone_keys && lx->zone_keys[k].port != port) k++;
            if (k == lx->nzone_keys && k < 8) {
              lx->zone_keys[k].port = port;
              lx->zone_keys[k].line = lx->tok_line;
              lx->nzone_keys++;
            }
          }
          int root = zn == 0 || (zn == 1 && zs[0] == '.');
          if (!lx->ports[!root].port) {
            lx->ports[!root].port = port;
            lx->ports[!root].line = lx->tok_line;
          } else if (port != lx->ports[!root].port && !lx->ports[!root].other_port) {
            lx->ports[!root].other_port = port;
            lx->ports[!root].other_line = lx->tok_line;
          }
        }
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
 * land inside someone else's), one whose server blocks listen on different
 * ports and, with a zone, one where another block serves the zone (CoreDNS
 * would refuse to start with two). Blocks pulled in by `import` are not
 * visible here. */
static int clusterdns_corefile_scan(const char *s, size_t n, size_t skip_from, size_t skip_to, const char *zone,
                                    const char *federation, clusterdns_corefile_facts *facts, kf_error *err) {
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
      if (escaped && c != '"') kf_buf_add(&lx.tok, "\\", 1);
      kf_buf_add(&lx.tok, &c, 1);
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
    kf_buf_add(&lx.tok, &c, 1);
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
  int deciding = lx.ports[0].port ? 0 : 1;
  long port = lx.ports[deciding].port ? lx.ports[deciding].port : 53;
  if (rc == 0 && lx.ports[deciding].other_port)
    rc = kf_error_set(err, -EINVAL,
                      "the Corefile's %sserver blocks listen on different ports (%ld on line %zu, %ld on line %zu): "
                      "federation %s's block cannot tell which one the member's DNS Service sends queries to; "
                      "not editing it",
                      deciding == 0 ? "root (\".\") " : "", lx.ports[deciding].port, lx.ports[deciding].line,
                      lx.ports[deciding].other_port, lx.ports[deciding].other_line, federation);
  for (size_t k = 0; rc == 0 && k < lx.nzone_keys; k++)
    if (lx.zone_keys[k].port == port)
      rc = kf_error_set(err, -EINVAL,
                        "the Corefile already serves zone %s on port %ld (server block on line %zu) with a block "
                        "that is not federation %s's; remove that block or use another zone",
                        zone, port, lx.zone_keys[k].line, federation);
  if (rc == 0 && facts) {
    facts->port = (int)port;
    facts->reload = lx.reload;
  }
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
  clusterdns_corefile_facts facts;
  kf_buf b = {0};
  int rc;
  if (!out) return kf_error_set(err, -EINVAL, "no place for the Corefile");
  *out = NULL;
  if ((rc = clusterdns_check_entry(e, 1, 0, zone, &nns, err)) || (rc = clusterdns_corefile_len(corefile, &n, err)))
    return rc;
  if ((rc = clusterdns_find_block(corefile, n, e->federation, &blk, err)) < 0) return rc;
  rc = clusterdns_corefile_scan(corefile, n, blk.found ? blk.begin : n, blk.found ? blk.after : n, zone, e->federation,
                                &facts, err);
  if (rc) return rc;
  if ((rc = clusterdns_check_entry(e, 1, facts.port, zone, &nns, err))) return rc;
  if (blk.found) {
    /* In place, keeping whatever separates it from its neighbours, so that
     * clusterdns_corefile_remove still undoes the original add. */
    kf_buf_add(&b, corefile, blk.begin);
    clusterdns_render_block(&b, e->federation, zone, facts.port, e->nameservers, blk.eol, 0);
    kf_buf_add(&b, corefile + blk.end, n - blk.end);
  } else if (n > 0 && corefile[n - 1] != '\n') {
    /* No final newline: end its last line, one blank line, then ours, which
     * also ends without one; remove knows this case from that. */
    const char *eol = clusterdns_file_eol(corefile, n);
    kf_buf_add(&b, corefile, n);
    kf_buf_str(&b, eol);
    kf_buf_str(&b, eol);
    clusterdns_render_block(&b, e->federation, zone, facts.port, e->nameservers, eol, 0);
  } else {
    /* Before any trailing blank lines rather than after them: then the blank
     * line before our block is always ours, and remove takes exactly it. A
     * file of blank lines only gets no separator (remove: block at 0). */
    const char *eol = clusterdns_file_eol(corefile, n);
    size_t i = clusterdns_content_end(corefile, n);
    kf_buf_add(&b, corefile, i);
    if (i > 0) kf_buf_str(&b, eol);
    clusterdns_render_block(&b, e->federation, zone, facts.port, e->nameservers, eol, 1);
    kf_buf_add(&b, corefile + i, n - i);
  }
  if (b.len > DNS_MAX_CONFIG_BYTES) {
    free(b.p);
    return kf_error_set(err, -EFBIG, "the Corefile would grow past %d bytes", DNS_MAX_CONFIG_BYTES);
  }
  *out = kf_buf_take(&b);
  return 0;
}

int clusterdns_corefile_remove(const char *corefile, const char *federation, char **out, kf_error *err) {
  size_t n = 0, start, sep;
  clusterdns_block blk;
  kf_buf b = {0};
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
  kf_buf_add(&b, corefile, start);
  kf_buf_add(&b, corefile + blk.after, n - blk.after);
  *out = kf_buf_take(&b);
  return 0;
}

int clusterdns_corefile_has(const char *corefile, const clusterdns_entry *e) {
  char zone[DNS_MAX_ZONE + 1];
  size_t nns, n = 0;
  clusterdns_block blk;
  clusterdns_corefile_facts facts;
  kf_buf b = {0};
  int same;
  if (clusterdns_check_entry(e, 1, 0, zone, &nns, NULL) || clusterdns_corefile_len(corefile, &n, NULL)) return 0;
  if (clusterdns_find_block(corefile, n, e->federation, &blk, NULL) != 1) return 0;
  if (clusterdns_corefile_scan(corefile, n, blk.begin, blk.after, zone, e->federation, &facts, NULL)) return 0;
  clusterdns_render_block(&b, e->federation, zone, facts.port, e->nameservers, blk.eol, 0);
  same = b.len == blk.end - blk.begin && !memcmp(b.p, corefile + blk.begin, b.len);
  free(b.p);
  return same;
}

int clusterdns_corefile_inspect(const char *corefile, const char *federation, clusterdns_corefile_facts *out,
                                kf_error *err) {
  size_t n = 0;
  clusterdns_block blk;
  int rc;
  if (!out) return kf_error_set(err, -EINVAL, "no place for the facts");
  if (!federation || !clusterdns_valid_label(federation, strnlen(federation, 64)))
    return kf_error_set(err, -EINVAL, "federation name \"%.64s\" is not a DNS-1123 label",
                        federation ? federation : "");
  if ((rc = clusterdns_corefile_len(corefile, &n, err))) return rc;
  if ((rc = clusterdns_find_block(corefile, n, federation, &blk, err)) < 0) return rc;
  return clusterdns_corefile_scan(corefile, n, blk.found ? blk.begin : n, blk.found ? blk.after : n, NULL, federation,
                                  out, err);
}
