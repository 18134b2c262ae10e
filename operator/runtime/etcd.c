/* etcd: etcd v3's JSON gateway (/v3/kv/range, put, deleterange, txn) on the http engine. */
#include <kf/b64.h>
#include <kf/etcd.h>

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define ETCD_DEFAULT_TIMEOUT_MS 10000
/* A range of every record of a large zone is the biggest answer; etcd's own default limit for a
 * request is 1.5 MiB, its responses are bounded by what fits the store. */
#define ETCD_MAX_BODY (256u * 1024 * 1024)

typedef enum { CALL_RANGE, CALL_PUT, CALL_DELETE, CALL_TXN } call_kind;

typedef struct etcd_call {
  etcd_client *c;
  call_kind kind;
  const char *path; /* "/v3/kv/range", ... */
  char *body;
  size_t ep; /* the endpoint being tried */
  http_request *req;
  etcd_done_cb cb;
  void *data;
  struct etcd_call *prev, *next;
} etcd_call;

struct etcd_client {
  http_engine *eng;
  char **endpoints;
  size_t n_endpoints;
  char *ca_pem, *cert_pem, *key_pem;
  http_tls tls;
  uint64_t timeout_ms;
  uint64_t requests;
  etcd_call *calls;
  int closing;
};

static char *dup_bytes(const char *p, size_t n) {
  if (!p) return NULL;
  char *d = kf_calloc(1, n + 1);
  memcpy(d, p, n);
  return d;
}

int etcd_client_new(http_engine *eng, const etcd_client_opts *o, etcd_client **out, kf_error *err) {
  *out = NULL;
  size_t n = 0;
  while (o->endpoints && o->endpoints[n]) n++;
  if (n == 0) return kf_error_set(err, -EINVAL, "etcd: no endpoint");
  for (size_t i = 0; i < n; i++)
    if (strncmp(o->endpoints[i], "http://", 7) != 0 && strncmp(o->endpoints[i], "https://", 8) != 0)
      return kf_error_set(err, -EINVAL, "etcd endpoint \"%s\" is not an http:// or https:// URL", o->endpoints[i]);
  etcd_client *c = kf_calloc(1, sizeof(*c));
  c->eng = eng;
  c->endpoints = kf_calloc(n + 1, sizeof(*c->endpoints));
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(o->endpoints[i]);
    while (l > 0 && o->endpoints[i][l - 1] == '/') l--; /* "http://e:2379/" + "/v3/..." */
    c->endpoints[i] = kf_strndup(o->endpoints[i], l);
  }
  c->n_endpoints = n;
  c->ca_pem = dup_bytes(o->ca_pem, o->ca_pem_len);
  c->cert_pem = dup_bytes(o->cert_pem, o->cert_pem_len);
  c->key_pem = dup_bytes(o->key_pem, o->key_pem_len);
  c->tls = (http_tls){.ca_pem = c->ca_pem,
                      .ca_pem_len = o->ca_pem_len,
                      .cert_pem = c->cert_pem,
                      .cert_pem_len = o->cert_pem_len,
                      .key_pem = c->key_pem,
                      .key_pem_len = o->key_pem_len};
  c->timeout_ms = o->timeout_ms ? o->timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
  *out = c;
  return 0;
}

static void client_free(etcd_client *c) {
  for (size_t i = 0; i < c->n_endpoints; i++) free(c->endpoints[i]);
  free(c->endpoints);
  free(c->ca_pem);
  free(c->cert_pem);
  if (c->key_pem) kf_free_secret(c->key_pem, c->tls.key_pem_len);
  free(c);
}

void etcd_client_close(etcd_client *c) {
  if (!c) return;
  c->closing = 1;
  if (!c->calls) {
    client_free(c);
    return;
  }
  /* Each cancelled request's done callback unlinks its call; the last one frees the client. */
  for (etcd_call *k = c->calls; k; k = k->next)
    if (k->req) http_request_cancel(k->req);
}

uint64_t etcd_client_requests(const etcd_client *c) { return c->requests; }

static void call_unlink_free(etcd_call *k) {
  etcd_client *c = k->c;
  if (k->prev) k->prev->next = k->next;
  else c->calls = k->next;
  if (k->next) k->next->prev = k->prev;
  free(k->body);
  free(k);
  if (c->closing && !c->calls) client_free(c);
}

static int64_t json_i64(json_object *o) {
  /* The gateway writes int64s as strings. */
  if (!o) return 0;
  if (json_object_is_type(o, json_type_string)) return strtoll(json_object_get_string(o), NULL, 10);
  return json_object_get_int64(o);
}

static int b64_field(json_object *o, const char *name, char **out, size_t *len) {
  json_object *v = json_object_object_get(o, name);
  *out = NULL;
  *len = 0;
  if (!v) {
    *out = kf_calloc(1, 1); /* the gateway leaves out empty fields */
    return 0;
  }
  const char *s = json_object_get_string(v);
  return kf_b64_decode(s, strlen(s), out, len);
}

static void result_free(etcd_result *r) {
  for (size_t i = 0; i < r->n_kvs; i++) {
    free(r->kvs[i].key);
    free(r->kvs[i].value);
  }
  free(r->kvs);
}

static void parse_answer(etcd_call *k, const http_response *res, etcd_result *r) {
  const char *ep = k->c->endpoints[k->ep];
  json_object *o = res->body ? json_tokener_parse(res->body) : NULL;
  if (res->status != 200) {
    json_object *m = o ? json_object_object_get(o, "message") : NULL;
    if (!m && o) m = json_object_object_get(o, "error");
    r->rc = kf_error_set(&r->error, -EIO, "etcd %s%s: HTTP %ld: %s", ep, k->path, res->status,
                         m ? json_object_get_string(m) : "no message");
    json_object_put(o);
    return;
  }
  if (!o || !json_object_is_type(o, json_type_object)) {
    r->rc = kf_error_set(&r->error, -EPROTO, "etcd %s%s: the answer is not a JSON object", ep, k->path);
    json_object_put(o);
    return;
  }
  r->revision = json_i64(json_object_object_get(json_object_object_get(o, "header"), "revision"));
  r->deleted = json_i64(json_object_object_get(o, "deleted"));
  json_object *kvs = json_object_object_get(o, "kvs");
  size_t n = kvs && json_object_is_type(kvs, json_type_array) ? json_object_array_length(kvs) : 0;
  r->kvs = kf_calloc(n + 1, sizeof(*r->kvs));
  for (size_t i = 0; i < n; i++) {
    json_object *kv = json_object_array_get_idx(kvs, i);
    etcd_kv *d = &r->kvs[r->n_kvs];
    if (b64_field(kv, "key", &d->key, &d->key_len) != 0 || b64_field(kv, "value", &d->value, &d->value_len) != 0) {
      free(d->key);
      free(d->value);
      memset(d, 0, sizeof(*d));
      r->rc = kf_error_set(&r->error, -EPROTO, "etcd %s%s: a key or value that is not base64", ep, k->path);
      break;
    }
    d->mod_revision = json_i64(json_object_object_get(kv, "mod_revision"));
    r->n_kvs++;
  }
  if (k->kind == CALL_TXN) {
    json_object *ok = json_object_object_get(o, "succeeded");
    if (!ok || !json_object_get_boolean(ok))
      r->rc = kf_error_set(&r->error, -EIO, "etcd %s%s: the transaction did not succeed", ep, k->path);
  }
  json_object_put(o);
}

static int call_send(etcd_call *k, kf_error *err);

static void call_done(http_request *req, const http_response *res, void *data) {
  (void)req;
  etcd_call *k = data;
  etcd_client *c = k->c;
  k->req = NULL;
  etcd_result r = {0};
  if (c->closing) {
    r.rc = kf_error_set(&r.error, -ECANCELED, "etcd client closed");
  } else if (res->curl_code != 0 || res->status == 0) {
    /* No answer from this endpoint: the next one gets the same request. */
    kf_error e = {0};
    kf_error_set(&e, -EHOSTUNREACH, "etcd %s%s: %s", c->endpoints[k->ep], k->path,
                 res->error[0] ? res->error : "no response");
    while (k->ep + 1 < c->n_endpoints) {
      k->ep++;
      if (call_send(k, &e) == 0) return;
    }
    r.rc = e.code;
    r.error = e;
  } else {
    parse_answer(k, res, &r);
  }
  k->cb(c, &r, k->data);
  result_free(&r);
  call_unlink_free(k);
}

static int call_send(etcd_call *k, kf_error *err) {
  etcd_client *c = k->c;
  char *url = kf_asprintf("%s%s", c->endpoints[k->ep], k->path);
  static const char *const headers[] = {"Content-Type: application/json", NULL};
  http_request_opts o = {.method = "POST",
                         .url = url,
                         .headers = headers,
                         .body = k->body,
                         .body_len = strlen(k->body),
                         .tls = &c->tls,
                         .timeout_ms = c->timeout_ms,
                         .max_body = ETCD_MAX_BODY,
                         .on_done = call_done,
                         .data = k,
                         .allow_http = 1};
  int rc = http_request_start(c->eng, &o, &k->req, err);
  free(url);
  if (rc == 0) c->requests++;
  return rc;
}

/* Starts k on the first endpoint that accepts it; on failure frees k (no callback). */
static int call_start(etcd_client *c, call_kind kind, const char *path, json_object *body, etcd_done_cb cb, void *data,
                      kf_error *err) {
  if (c->closing) {
    json_object_put(body);
    return kf_error_set(err, -ESHUTDOWN, "etcd client is closing");
  }
  etcd_call *k = kf_calloc(1, sizeof(*k));
  k->c = c;
  k->kind = kind;
  k->path = path;
  k->body = kf_strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(body);
  k->cb = cb;
  k->data = data;
  k->next = c->calls;
  if (c->calls) c->calls->prev = k;
  c->calls = k;
  int rc;
  for (;;) {
    rc = call_send(k, err);
    if (rc == 0 || k->ep + 1 >= c->n_endpoints) break;
    k->ep++;
  }
  if (rc != 0) {
    int closing = c->closing;
    c->closing = 0; /* not freeing the client from here */
    call_unlink_free(k);
    c->closing = closing;
  }
  return rc;
}

static void add_b64(json_object *o, const char *name, const char *p, size_t n) {
  char *s = kf_b64_encode(p, n);
  json_object_object_add(o, name, json_object_new_string(s));
  free(s);
}

/* etcd's prefix range end: the prefix with its last byte below 0xff incremented and what follows
 * dropped; "\0" (to the end of the keyspace) when there is none. */
static void add_range_end(json_object *o, const char *prefix) {
  size_t n = strlen(prefix);
  char *end = kf_strndup(prefix, n);
  while (n > 0 && (unsigned char)end[n - 1] == 0xff) n--;
  if (n == 0) {
    add_b64(o, "range_end", "", 1);
  } else {
    end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
    add_b64(o, "range_end", end, n);
  }
  free(end);
}

int etcd_range(etcd_client *c, const char *prefix, int prefix_only, int keys_only, etcd_done_cb cb, void *data,
               kf_error *err) {
  json_object *b = json_object_new_object();
  if (prefix_only && !*prefix) add_b64(b, "key", "", 1); /* key \0 .. range_end \0: everything */
  else add_b64(b, "key", prefix, strlen(prefix));
  if (prefix_only) add_range_end(b, prefix);
  if (keys_only) json_object_object_add(b, "keys_only", json_object_new_boolean(1));
  return call_start(c, CALL_RANGE, "/v3/kv/range", b, cb, data, err);
}

static json_object *put_body(const char *key, const char *value, size_t value_len) {
  json_object *b = json_object_new_object();
  add_b64(b, "key", key, strlen(key));
  add_b64(b, "value", value, value_len);
  return b;
}

int etcd_put(etcd_client *c, const char *key, const char *value, size_t value_len, etcd_done_cb cb, void *data,
             kf_error *err) {
  return call_start(c, CALL_PUT, "/v3/kv/put", put_body(key, value, value_len), cb, data, err);
}

static json_object *delete_body(const char *key, int prefix_only) {
  json_object *b = json_object_new_object();
  add_b64(b, "key", key, strlen(key));
  if (prefix_only) add_range_end(b, key);
  return b;
}

int etcd_delete(etcd_client *c, const char *key, int prefix_only, etcd_done_cb cb, void *data, kf_error *err) {
  if (prefix_only && !*key) return kf_error_set(err, -EINVAL, "etcd: refusing to delete the whole keyspace");
  return call_start(c, CALL_DELETE, "/v3/kv/deleterange", delete_body(key, prefix_only), cb, data, err);
}

int etcd_txn(etcd_client *c, const etcd_op *ops, size_t n, etcd_done_cb cb, void *data, kf_error *err) {
  if (n == 0) return kf_error_set(err, -EINVAL, "etcd: an empty transaction");
  json_object *b = json_object_new_object(), *succ = json_object_new_array();
  for (size_t i = 0; i < n; i++) {
    json_object *op = json_object_new_object();
    if (ops[i].del) json_object_object_add(op, "request_delete_range", delete_body(ops[i].key, 0));
    else json_object_object_add(op, "request_put", put_body(ops[i].key, ops[i].value, ops[i].value_len));
    json_object_array_add(succ, op);
  }
  json_object_object_add(b, "success", succ);
  return call_start(c, CALL_TXN, "/v3/kv/txn", b, cb, data, err);
}
