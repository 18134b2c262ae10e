/* kcfg: kubeconfig files and data (the in-cluster configuration is kcfg_incluster.c).
 *
 * The kubeconfig is parsed in two passes over the same bytes: a streaming pass
 * over libyaml events that bounds nesting depth and node count before anything
 * is built, then yaml_parser_load into a document whose nodes we look up by
 * path. We never walk the document recursively, so aliases (which libyaml
 * loads as shared node references, possibly cyclic) cannot make us loop or
 * expand.
 *
 * Error codes:
 *   -EFBIG    input or a referenced file larger than KCFG_MAX_BYTES
 *   -ENOENT   context, cluster or user not found; a file does not exist
 *   -ENOTSUP  credentials we cannot use: exec, auth-provider, basic auth,
 *             impersonation, insecure-skip-tls-verify
 *   -EINVAL   anything else malformed or missing
 *   -errno    a file could not be read
 * Messages name the kubeconfig ("<data>" for bytes) and the context, and only
 * ever contain names, paths and field names: never token or key material. */
#include <kf/kcfg.h>

#include "kcfg_internal.h"

#include <kf/b64.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yaml.h>

/* Real kubeconfigs nest about 6 deep (extensions can add a few levels). */
#define KCFG_MAX_DEPTH 64
/* Each libyaml node costs ~100 bytes once loaded; 256 Ki nodes is ~25 MiB. */
#define KCFG_MAX_NODES ((size_t)1 << 18)
#define KCFG_DATA_SRC "<data>"

/* State of one load: where the bytes came from (for messages), how to resolve
 * file references, and the loaded document. */
typedef struct kcfg__ld {
  const char *src;      /* kubeconfig path or "<data>" */
  const char *base_dir; /* absolute dir for relative paths; NULL refuses files */
  const char *context;  /* context name once known, for messages */
  kf_error *err;
  yaml_document_t doc;
  bool have_doc;
} kcfg__ld;

/* ---- errors ------------------------------------------------------------- */

void kcfg__sanitize(kf_error *err) {
  if (!err) return;
  for (char *p = err->msg; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

static int kcfg__fail(kcfg__ld *ld, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int kcfg__fail(kcfg__ld *ld, int code, const char *fmt, ...) {
  char detail[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  /* Bound the prefix so a long path or name cannot push the reason out. */
  if (ld->context)
    kf_error_set(ld->err, code, "kubeconfig %.160s: context \"%.100s\": %s", ld->src, ld->context, detail);
  else kf_error_set(ld->err, code, "kubeconfig %.160s: %s", ld->src, detail);
  kcfg__sanitize(ld->err);
  return code;
}

/* ---- small buffers ------------------------------------------------------ */

static void kcfg__free_buf(char *p, size_t len, bool secret) {
  if (secret) kf_free_secret(p, len);
  else free(p);
}

int kcfg_read_file(const char *path, size_t max, bool secret, char **out, size_t *out_len) {
  struct stat st;
  size_t cap = 4096, len = 0;
  char *buf;
  int fd;

  *out = NULL;
  *out_len = 0;
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -errno;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 && (uint64_t)st.st_size <= max)
    cap = (size_t)st.st_size + 2; /* +1 for NUL, +1 to see EOF without growing */
  buf = kf_calloc(cap, 1);
  for (;;) {
    ssize_t n;
    if (len + 1 >= cap) {
      size_t ncap = cap * 2 > max + 2 ? max + 2 : cap * 2;
      char *nbuf;
      if (ncap <= cap) { /* already at max + 2 and still not at EOF */
        close(fd);
        kcfg__free_buf(buf, cap, secret);
        return -EFBIG;
      }
      /* Not realloc: it may leave an unwiped copy of a key behind. */
      nbuf = kf_calloc(ncap, 1);
      memcpy(nbuf, buf, len);
      kcfg__free_buf(buf, cap, secret);
      buf = nbuf;
      cap = ncap;
    }
    n = read(fd, buf + len, cap - 1 - len);
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      close(fd);
      kcfg__free_buf(buf, cap, secret);
      return -e;
    }
    if (n == 0) break;
    len += (size_t)n;
    if (len > max) {
      close(fd);
      kcfg__free_buf(buf, cap, secret);
      return -EFBIG;
    }
  }
  close(fd);
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  return 0;
}

static bool kcfg__is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

/* Token files end with a newline (and editors add more); client-go TrimSpaces. */
size_t kcfg__trim(char *buf, size_t len) {
  size_t start = 0;
  while (len > 0 && kcfg__is_space(buf[len - 1])) buf[--len] = '\0';
  while (start < len && kcfg__is_space(buf[start])) start++;
  if (start > 0) {
    memmove(buf, buf + start, len - start);
    memset(buf + len - start, 0, start);
    len -= start;
  }
  return len;
}

/* The token goes into an Authorization header: a CR/LF would inject headers. */
bool kcfg__token_ok(const char *tok, size_t len) {
  if (len == 0) return false;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)tok[i] < 0x21 || tok[i] == 0x7f) return false;
  return true;
}

bool kcfg__has_pem(const char *buf, size_t len) { return memmem(buf, len, "-----BEGIN ", 11) != NULL; }

/* ---- YAML ----------------------------------------------------------------- */

/* libyaml frees without wiping; the kubeconfig holds keys and tokens. */
static void kcfg__parser_wipe(yaml_parser_t *p) {
  if (p->buffer.start) explicit_bzero(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
  if (p->raw_buffer.start) explicit_bzero(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
}

static void kcfg__doc_wipe(yaml_document_t *d) {
  for (yaml_node_t *n = d->nodes.start; n && n < d->nodes.top; n++)
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
      explicit_bzero(n->data.scalar.value, n->data.scalar.length);
}

static int kcfg__yaml_error(kcfg__ld *ld, const yaml_parser_t *p) {
  const char *problem = p->problem ? p->problem : "invalid YAML";
  switch (p->error) {
    case YAML_MEMORY_ERROR: return kcfg__fail(ld, -ENOMEM, "out of memory parsing YAML");
    case YAML_READER_ERROR:
      return kcfg__fail(ld, -EINVAL, "invalid YAML input at byte %zu: %s", p->problem_offset, problem);
    default:
      if (p->context)
        return kcfg__fail(ld, -EINVAL, "YAML syntax error at line %zu, column %zu: %s (%s at line %zu)",
                          p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                          p->context_mark.line + 1);
      return kcfg__fail(ld, -EINVAL, "YAML syntax error at line %zu, column %zu: %s", p->problem_mark.line + 1,
                        p->problem_mark.column + 1, problem);
  }
}

/* Streams the first document's events to bound depth and size before
 * yaml_parser_load builds anything (libyaml itself has no nesting limit). */
static int kcfg__precheck(kcfg__ld *ld, const char *data, size_t len) {
  yaml_parser_t p;
  size_t depth = 0, nodes = 0;
  int rc = 0;

  if (!yaml_parser_initialize(&p)) return kcfg__fail(ld, -ENOMEM, "out of memory parsing YAML");
  yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
  for (;;) {
    yaml_event_t ev;
    yaml_event_type_t type;
    if (!yaml_parser_parse(&p, &ev)) {
      rc = kcfg__yaml_error(ld, &p);
      break;
    }
    type = ev.type;
    switch (type) {
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT:
        depth++;
        nodes++;
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: depth--; break;
      case YAML_SCALAR_EVENT:
        explicit_bzero(ev.data.scalar.value, ev.data.scalar.length);
        nodes++;
        break;
      case YAML_ALIAS_EVENT: nodes++; break;
      default: break;
    }
    yaml_event_delete(&ev);
    if (depth > KCFG_MAX_DEPTH) {
      rc = kcfg__fail(ld, -EINVAL, "YAML is nested deeper than %d levels", KCFG_MAX_DEPTH);
      break;
    }
    if (nodes > KCFG_MAX_NODES) {
      rc = kcfg__fail(ld, -EINVAL, "YAML has more than %zu nodes", KCFG_MAX_NODES);
      break;
    }
    if (type == YAML_DOCUMENT_END_EVENT || type == YAML_STREAM_END_EVENT) break;
  }
  kcfg__parser_wipe(&p);
  yaml_parser_delete(&p);
  return rc;
}

static int kcfg__yaml_load(kcfg__ld *ld, const char *data, size_t len) {
  yaml_parser_t p;
  int rc = 0;

  if (!yaml_parser_initialize(&p)) return kcfg__fail(ld, -ENOMEM, "out of memory parsing YAML");
  yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
  if (yaml_parser_load(&p, &ld->doc)) ld->have_doc = true;
  else rc = kcfg__yaml_error(ld, &p);
  kcfg__parser_wipe(&p);
  yaml_parser_delete(&p);
  return rc;
}

/* YAML null: an empty or ~/null plain scalar, or an explicit !!null tag. */
static bool kcfg__is_null(const yaml_node_t *n) {
  const char *v;
  if (!n) return true;
  if (n->tag && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0) return true;
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
  v = (const char *)n->data.scalar.value;
  return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* Value of key in map, or NULL. The first of duplicate keys wins. */
static yaml_node_t *kcfg__get(kcfg__ld *ld, const yaml_node_t *map, const char *key) {
  size_t klen = strlen(key);
  if (!map || map->type != YAML_MAPPING_NODE) return NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
    if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == klen &&
        memcmp(k->data.scalar.value, key, klen) == 0) {
      yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
      return kcfg__is_null(v) ? NULL : v;
    }
  }
  return NULL;
}

/* String field key of map: *out NULL when absent, null or "" (Go's omitempty
 * makes "" mean unset). A non-string value is an error. */
static int kcfg__str(kcfg__ld *ld, const yaml_node_t *map, const char *key, const char *owner, const char **out) {
  yaml_node_t *n = kcfg__get(ld, map, key);
  *out = NULL;
  if (!n) return 0;
  if (n->type != YAML_SCALAR_NODE) return kcfg__fail(ld, -EINVAL, "%s: %s must be a string", owner, key);
  /* Double-quoted "\0" makes a NUL; C string handling would silently truncate. */
  if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
    return kcfg__fail(ld, -EINVAL, "%s: %s contains a NUL character", owner, key);
  if (n->data.scalar.length > 0) *out = (const char *)n->data.scalar.value;
  return 0;
}

/* Finds the entry `name` in the top-level list (clusters, users, contexts) and
 * returns its `field` mapping (NULL if the entry has none) and *found. A later
 * duplicate wins, as in client-go, which loads the list into a map. */
static int kcfg__find(kcfg__ld *ld, const yaml_node_t *root, const char *list, const char *field, const char *name,
                      const yaml_node_t **entry, bool *found) {
  yaml_node_t *seq = kcfg__get(ld, root, list);
  size_t i = 0;

  *entry = NULL;
  *found = false;
  if (!seq) return 0;
  if (seq->type != YAML_SEQUENCE_NODE) return kcfg__fail(ld, -EINVAL, "%s must be a list", list);
  for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++, i++) {
    yaml_node_t *item = yaml_document_get_node(&ld->doc, *it);
    const char *iname;
    yaml_node_t *inner;
    int rc;
    if (!item || item->type != YAML_MAPPING_NODE) return kcfg__fail(ld, -EINVAL, "%s[%zu] must be a mapping", list, i);
    if ((rc = kcfg__str(ld, item, "name", list, &iname)) < 0) return rc;
    if (!iname || strcmp(iname, name) != 0) continue;
    inner = kcfg__get(ld, item, field);
    if (inner && inner->type != YAML_MAPPING_NODE)
      return kcfg__fail(ld, -EINVAL, "%s[%zu] (\"%.100s\"): %s must be a mapping", list, i, name, field);
    *entry = inner;
    *found = true;
  }
  return 0;
}

/* ---- files referenced by the kubeconfig ---------------------------------- */

char *kcfg__join(const char *dir, const char *rel) {
  size_t n = strlen(dir);
  return kf_asprintf("%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", rel);
}

/* Resolves a path field against base_dir. A kubeconfig given as data may not
 * reference files at all: a Secret naming e.g. the operator's own
 * service-account token as its tokenFile would make us send that token to
 * whatever server the Secret names. */
static int kcfg__resolve(kcfg__ld *ld, const char *owner, const char *field, const char *value, const char *instead,
                         char **path) {
  *path = NULL;
  if (!ld->base_dir)
    return kcfg__fail(ld, -EINVAL,
                      "%s: %s refers to the file %.160s, but a kubeconfig given as data must be "
                      "self-contained (use %s)",
                      owner, field, value, instead);
  *path = value[0] == '/' ? kf_strdup(value) : kcfg__join(ld->base_dir, value);
  return 0;
}

static int kcfg__read_ref(kcfg__ld *ld, const char *owner, const char *field, const char *path, bool secret, char **out,
                          size_t *out_len) {
  int rc = kcfg_read_file(path, KCFG_MAX_BYTES, secret, out, out_len);
  if (rc == -EFBIG)
    return kcfg__fail(ld, rc, "%s: %s %.200s is larger than %zu bytes", owner, field, path, KCFG_MAX_BYTES);
  if (rc < 0) return kcfg__fail(ld, rc, "%s: cannot read %s %.200s: %s", owner, field, path, strerror(-rc));
  return 0;
}

/* Loads PEM from `field`-data (base64) or else from the file named by `field`.
 * Both absent leaves *out NULL. client-go lets -data override the file. */
static int kcfg__pem(kcfg__ld *ld, const yaml_node_t *map, const char *owner, const char *field, bool secret,
                     char **out, size_t *out_len) {
  char data_field[64];
  const char *data, *file;
  char *path = NULL;
  int rc;

  *out = NULL;
  *out_len = 0;
  snprintf(data_field, sizeof(data_field), "%s-data", field);
  if ((rc = kcfg__str(ld, map, data_field, owner, &data)) < 0) return rc;
  if ((rc = kcfg__str(ld, map, field, owner, &file)) < 0) return rc;
  if (data) {
    if (kf_b64_decode(data, strlen(data), out, out_len) < 0)
      return kcfg__fail(ld, -EINVAL, "%s: %s is not valid base64", owner, data_field);
  } else if (file) {
    if ((rc = kcfg__resolve(ld, owner, field, file, data_field, &path)) < 0) return rc;
    rc = kcfg__read_ref(ld, owner, field, path, secret, out, out_len);
    free(path);
    if (rc < 0) return rc;
  } else {
    return 0;
  }
  if (!kcfg__has_pem(*out, *out_len)) {
    kcfg__free_buf(*out, *out_len + 1, secret);
    *out = NULL;
    *out_len = 0;
    return kcfg__fail(ld, -EINVAL, "%s: %s does not contain PEM data%s", owner, data ? data_field : field,
                      data ? " (base64-encoded twice?)" : "");
  }
  return 0;
}

/* ---- validation ----------------------------------------------------------- */

/* Checks server is https://host[:port][/path] and returns it with the
 * scheme lower-cased and trailing slashes removed (callers append /api/...). */
static int kcfg__server(kcfg__ld *ld, const char *owner, const char *server, char **out) {
  const char *sep = strstr(server, "://");
  const char *auth, *auth_end;
  size_t len;

  *out = NULL;
  /* Userinfo first: once we know the URL carries no password, we may quote it. */
  auth = sep ? sep + 3 : server;
  auth_end = auth + strcspn(auth, "/?#");
  if (memchr(auth, '@', (size_t)(auth_end - auth)))
    return kcfg__fail(ld, -EINVAL, "%s: server URL must not contain credentials", owner);
  for (const char *p = server; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f)
      return kcfg__fail(ld, -EINVAL, "%s: server URL contains blanks or control characters", owner);
  if (!sep || (size_t)(sep - server) != 5 || strncasecmp(server, "https", 5) != 0) {
    if (sep && (size_t)(sep - server) == 4 && strncasecmp(server, "http", 4) == 0)
      return kcfg__fail(ld, -EINVAL,
                        "%s: server %.200s uses plain http; only API servers "
                        "over TLS are supported (use https://)",
                        owner, server);
    return kcfg__fail(ld, -EINVAL, "%s: server %.200s is not an https:// URL", owner, server);
  }
  if (auth_end == auth || *auth == ':') return kcfg__fail(ld, -EINVAL, "%s: server %.200s has no host", owner, server);
  if (strpbrk(auth, "?#"))
    return kcfg__fail(ld, -EINVAL, "%s: server %.200s must not have a query or fragment", owner, server);
  len = strlen(auth);
  while (len > 0 && auth[len - 1] == '/') len--;
  *out = kf_asprintf("https://%.*s", (int)len, auth);
  return 0;
}

/* insecure-skip-tls-verify: YAML 1.1 booleans, as sigs.k8s.io/yaml reads them.
 * Anything that is not clearly false is refused, so a typo cannot turn
 * verification off elsewhere while we think it is on. */
static int kcfg__insecure(kcfg__ld *ld, const yaml_node_t *map, const char *owner) {
  static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"};
  static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"};
  yaml_node_t *n = kcfg__get(ld, map, "insecure-skip-tls-verify");
  const char *v;
  if (!n) return 0;
  if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
    v = (const char *)n->data.scalar.value;
    for (size_t i = 0; i < sizeof(falses) / sizeof(falses[0]); i++)
      if (!strcmp(v, falses[i])) return 0;
    for (size_t i = 0; i < sizeof(trues) / sizeof(trues[0]); i++)
      if (!strcmp(v, trues[i]))
        return kcfg__fail(ld, -ENOTSUP,
                          "%s: insecure-skip-tls-verify is set; the API server's certificate is always "
                          "verified (set certificate-authority-data instead)",
                          owner);
  }
  return kcfg__fail(ld, -EINVAL, "%s: insecure-skip-tls-verify must be true or false", owner);
}

/* ---- cluster and user ----------------------------------------------------- */

static int kcfg__load_cluster(kcfg__ld *ld, const yaml_node_t *root, kcfg *cfg) {
  const yaml_node_t *c;
  const char *server, *sni;
  char owner[128];
  bool found;
  int rc;

  snprintf(owner, sizeof(owner), "cluster \"%.100s\"", cfg->cluster);
  if ((rc = kcfg__find(ld, root, "clusters", "cluster", cfg->cluster, &c, &found)) < 0) return rc;
  if (!found) return kcfg__fail(ld, -ENOENT, "%s not found in clusters", owner);
  if ((rc = kcfg__str(ld, c, "server", owner, &server)) < 0) return rc;
  if (!server) return kcfg__fail(ld, -EINVAL, "%s has no server", owner);
  if ((rc = kcfg__server(ld, owner, server, &cfg->server)) < 0) return rc;
  if ((rc = kcfg__insecure(ld, c, owner)) < 0) return rc;
  if ((rc = kcfg__str(ld, c, "tls-server-name", owner, &sni)) < 0) return rc;
  cfg->tls_server_name = kf_strdup(sni);
  return kcfg__pem(ld, c, owner, "certificate-authority", false, &cfg->ca_pem, &cfg->ca_pem_len);
}

static int kcfg__load_token(kcfg__ld *ld, const yaml_node_t *u, const char *owner, kcfg *cfg) {
  const char *token, *file;
  char *buf;
  size_t len;
  int rc;

  if ((rc = kcfg__str(ld, u, "token", owner, &token)) < 0) return rc;
  if ((rc = kcfg__str(ld, u, "tokenFile", owner, &file)) < 0) return rc;
  if (file) {
    /* client-go: the file's (periodically re-read) contents take precedence. */
    if ((rc = kcfg__resolve(ld, owner, "tokenFile", file, "token", &cfg->token_file)) < 0) return rc;
    if ((rc = kcfg__read_ref(ld, owner, "tokenFile", cfg->token_file, true, &buf, &len)) < 0) return rc;
    len = kcfg__trim(buf, len);
    if (!kcfg__token_ok(buf, len)) {
      kf_free_secret(buf, len + 1);
      return kcfg__fail(ld, -EINVAL, "%s: tokenFile %.200s is empty or contains blanks or control characters", owner,
                        cfg->token_file);
    }
    cfg->token = buf;
  } else if (token) {
    if (!kcfg__token_ok(token, strlen(token)))
      return kcfg__fail(ld, -EINVAL, "%s: token contains blanks or control characters", owner);
    cfg->token = kf_strdup(token);
  }
  return 0;
}

static int kcfg__load_user(kcfg__ld *ld, const yaml_node_t *root, kcfg *cfg) {
  const yaml_node_t *u, *n;
  const char *s;
  char owner[128];
  bool found;
  int rc;

  snprintf(owner, sizeof(owner), "user \"%.100s\"", cfg->user);
  if ((rc = kcfg__find(ld, root, "users", "user", cfg->user, &u, &found)) < 0) return rc;
  if (!found) return kcfg__fail(ld, -ENOENT, "%s not found in users", owner);

  if ((n = kcfg__get(ld, u, "exec"))) {
    s = NULL;
    if (n->type == YAML_MAPPING_NODE && (rc = kcfg__str(ld, n, "command", owner, &s)) < 0) return rc;
    return kcfg__fail(ld, -ENOTSUP,
                      "%s uses an exec credential plugin (command %.100s), which this program "
                      "cannot run; supply a token or client certificate",
                      owner, s ? s : "unset");
  }
  if ((n = kcfg__get(ld, u, "auth-provider"))) {
    s = NULL;
    if (n->type == YAML_MAPPING_NODE && (rc = kcfg__str(ld, n, "name", owner, &s)) < 0) return rc;
    return kcfg__fail(ld, -ENOTSUP,
                      "%s uses the auth-provider plugin %.100s, which this program cannot run; "
                      "supply a token or client certificate",
                      owner, s ? s : "(unnamed)");
  }
  if (kcfg__get(ld, u, "username") || kcfg__get(ld, u, "password"))
    return kcfg__fail(ld, -ENOTSUP,
                      "%s uses username/password basic authentication, which Kubernetes no longer "
                      "supports; supply a token or client certificate",
                      owner);
  /* Silently dropping impersonation would act with the caller's own, usually
   * broader, identity. */
  if (kcfg__get(ld, u, "as") || kcfg__get(ld, u, "as-groups") || kcfg__get(ld, u, "as-uid") ||
      kcfg__get(ld, u, "as-user-extra"))
    return kcfg__fail(ld, -ENOTSUP, "%s uses impersonation (as), which this program does not support", owner);

  if ((rc = kcfg__pem(ld, u, owner, "client-certificate", false, &cfg->client_cert_pem, &cfg->client_cert_pem_len)) < 0)
    return rc;
  if ((rc = kcfg__pem(ld, u, owner, "client-key", true, &cfg->client_key_pem, &cfg->client_key_pem_len)) < 0) return rc;
  if (cfg->client_cert_pem && !cfg->client_key_pem)
    return kcfg__fail(ld, -EINVAL, "%s has a client certificate but no client key", owner);
  if (cfg->client_key_pem && !cfg->client_cert_pem)
    return kcfg__fail(ld, -EINVAL, "%s has a client key but no client certificate", owner);
  return kcfg__load_token(ld, u, owner, cfg);
}

static int kcfg__parse(kcfg__ld *ld, const char *data, size_t len, const char *context, kcfg **out) {
  const yaml_node_t *root, *ctx;
  const char *cluster, *user, *ns;
  kcfg *cfg;
  bool found;
  int rc;

  if (len > KCFG_MAX_BYTES)
    return kcfg__fail(ld, -EFBIG, "is %zu bytes, more than the %zu-byte limit", len, KCFG_MAX_BYTES);
  if ((rc = kcfg__precheck(ld, data, len)) < 0) return rc;
  if ((rc = kcfg__yaml_load(ld, data, len)) < 0) return rc;
  root = yaml_document_get_root_node(&ld->doc);
  if (!root || kcfg__is_null(root)) return kcfg__fail(ld, -EINVAL, "the document is empty");
  if (root->type != YAML_MAPPING_NODE) return kcfg__fail(ld, -EINVAL, "the document's top level must be a mapping");

  if (!context || !*context) {
    if ((rc = kcfg__str(ld, root, "current-context", "kubeconfig", &context)) < 0) return rc;
    if (!context) return kcfg__fail(ld, -EINVAL, "no current-context is set and no context was given");
    ld->context = context;
  }
  if ((rc = kcfg__find(ld, root, "contexts", "context", context, &ctx, &found)) < 0) return rc;
  if (!found) return kcfg__fail(ld, -ENOENT, "not found in contexts");
  if ((rc = kcfg__str(ld, ctx, "cluster", "context", &cluster)) < 0) return rc;
  if ((rc = kcfg__str(ld, ctx, "user", "context", &user)) < 0) return rc;
  if ((rc = kcfg__str(ld, ctx, "namespace", "context", &ns)) < 0) return rc;
  if (!cluster) return kcfg__fail(ld, -EINVAL, "has no cluster");
  if (!user) return kcfg__fail(ld, -EINVAL, "has no user");

  cfg = kf_calloc(1, sizeof(*cfg));
  cfg->context = kf_strdup(context);
  cfg->cluster = kf_strdup(cluster);
  cfg->user = kf_strdup(user);
  cfg->namespace_ = kf_strdup(ns ? ns : "default");
  if ((rc = kcfg__load_cluster(ld, root, cfg)) < 0 || (rc = kcfg__load_user(ld, root, cfg)) < 0) {
    kcfg_free(cfg);
    return rc;
  }
  *out = cfg;
  return 0;
}

static int kcfg__load(const char *data, size_t len, const char *src, const char *base_dir, const char *context,
                      kcfg **out, kf_error *err) {
  kcfg__ld ld;
  int rc;

  memset(&ld, 0, sizeof(ld));
  ld.src = src;
  ld.base_dir = base_dir;
  ld.context = context && *context ? context : NULL;
  ld.err = err;
  rc = kcfg__parse(&ld, data, len, context, out);
  if (ld.have_doc) {
    kcfg__doc_wipe(&ld.doc);
    yaml_document_delete(&ld.doc);
  }
  return rc;
}

/* ---- public API ------------------------------------------------------------ */

int kcfg_load_data(const char *data, size_t len, const char *base_dir, const char *context, kcfg **out, kf_error *err) {
  if (!out) return kf_error_set(err, -EINVAL, "kcfg_load_data: out is NULL");
  *out = NULL;
  if (!data && len > 0) return kf_error_set(err, -EINVAL, "kcfg_load_data: data is NULL");
  return kcfg__load(data ? data : "", len, KCFG_DATA_SRC, base_dir, context, out, err);
}

int kcfg_load_file(const char *path, const char *context, kcfg **out, kf_error *err) {
  kcfg__ld ld = {.src = path, .context = context && *context ? context : NULL, .err = err};
  const char *slash;
  char *buf, *dir, *cwd = NULL;
  size_t len;
  int rc;

  if (!out) return kf_error_set(err, -EINVAL, "kcfg_load_file: out is NULL");
  *out = NULL;
  if (!path || !*path) return kf_error_set(err, -EINVAL, "kcfg_load_file: no path given");
  rc = kcfg_read_file(path, KCFG_MAX_BYTES, true, &buf, &len);
  if (rc == -EFBIG) return kcfg__fail(&ld, rc, "is larger than the %zu-byte limit", KCFG_MAX_BYTES);
  if (rc < 0) return kcfg__fail(&ld, rc, "cannot read: %s", strerror(-rc));

  /* The base directory is made absolute now, so a token_file kept for
   * kcfg_refresh_token still resolves if the process changes directory. */
  slash = strrchr(path, '/');
  if (slash == path) dir = kf_strdup("/");
  else if (slash) dir = kf_strndup(path, (size_t)(slash - path));
  else dir = kf_strdup(".");
  if (dir[0] != '/') {
    char *abs;
    if (!(cwd = getcwd(NULL, 0))) {
      rc = kcfg__fail(&ld, -errno, "cannot resolve relative paths: getcwd: %s", strerror(errno));
      goto out;
    }
    abs = strcmp(dir, ".") == 0 ? kf_strdup(cwd) : kcfg__join(cwd, dir);
    free(dir);
    dir = abs;
  }
  rc = kcfg__load(buf, len, path, dir, context, out, err);
out:
  free(cwd);
  free(dir);
  kf_free_secret(buf, len + 1);
  return rc;
}

static char *kcfg__dup_mem(const char *p, size_t len) {
  char *d;
  if (!p) return NULL;
  d = kf_calloc(len + 1, 1);
  memcpy(d, p, len);
  return d;
}

kcfg *kcfg_dup(const kcfg *cfg) {
  kcfg *d;
  if (!cfg) return NULL;
  d = kf_calloc(1, sizeof(*d));
  d->context = kf_strdup(cfg->context);
  d->cluster = kf_strdup(cfg->cluster);
  d->user = kf_strdup(cfg->user);
  d->server = kf_strdup(cfg->server);
  d->namespace_ = kf_strdup(cfg->namespace_);
  d->tls_server_name = kf_strdup(cfg->tls_server_name);
  d->ca_pem = kcfg__dup_mem(cfg->ca_pem, cfg->ca_pem_len);
  d->ca_pem_len = cfg->ca_pem ? cfg->ca_pem_len : 0;
  d->client_cert_pem = kcfg__dup_mem(cfg->client_cert_pem, cfg->client_cert_pem_len);
  d->client_cert_pem_len = cfg->client_cert_pem ? cfg->client_cert_pem_len : 0;
  d->client_key_pem = kcfg__dup_mem(cfg->client_key_pem, cfg->client_key_pem_len);
  d->client_key_pem_len = cfg->client_key_pem ? cfg->client_key_pem_len : 0;
  d->token = kf_strdup(cfg->token);
  d->token_file = kf_strdup(cfg->token_file);
  return d;
}

void kcfg_free(kcfg *cfg) {
  if (!cfg) return;
  free(cfg->context);
  free(cfg->cluster);
  free(cfg->user);
  free(cfg->server);
  free(cfg->namespace_);
  free(cfg->tls_server_name);
  free(cfg->ca_pem);
  free(cfg->client_cert_pem);
  if (cfg->client_key_pem) kf_free_secret(cfg->client_key_pem, cfg->client_key_pem_len + 1);
  if (cfg->token) kf_free_secret(cfg->token, strlen(cfg->token) + 1);
  free(cfg->token_file);
  free(cfg);
}
