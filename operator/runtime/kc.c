#include <kf/kc.h>

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include <kf/kj.h>
#include <kf/log.h>

#define KC_DEFAULT_TIMEOUT_MS 30000
#define KC_BACKOFF_BASE_MS 200
#define KC_BACKOFF_MAX_MS 5000
#define KC_RETRY_AFTER_MAX_S 30
#define KC_TOKEN_REFRESH_MS 60000
#define KC_THROTTLE_WARN_MS 30000

struct kc_client {
  http_engine *eng;
  kcfg *cfg;
  http_tls tls;
  kf_metrics *metrics;
  http_pool *pool;       /* connections of its own (kc_client_isolate); NULL: the engine's */
  char *target;          /* kc_client_set_metrics_target */
  char *field_manager;   /* server-side apply and write requests name it; NULL: apply refused */
  struct kc_call *calls; /* in flight or waiting to retry */
  int closing;
  uint64_t token_read_ms;
  uint64_t timeout_ms; /* per attempt when a request sets none */
  int max_attempts;
  uint64_t throttle_warned_ms; /* last "throttled" warning: one per KC_THROTTLE_WARN_MS */
  int throttle_warned;
};

/* One logical call: survives retries, owns copies of everything it sends. */
typedef struct kc_call {
  kc_client *c;
  struct kc_call *prev, *next;
  char *method, *url, *content_type, *body, *what;
  char *resource; /* for metrics: the resource's plural, or the raw path */
  size_t body_len;
  uint64_t timeout_ms;
  int no_retry;
  int raw;       /* raw path request: a non-JSON body is passed as a string */
  int finishing; /* its callback is running */
  int cancelled; /* kc_client_close asked it to end */
  int attempt;
  int last_timed_out; /* the previous attempt timed out: do not reuse its connection */
  http_request *inflight;
  uv_timer_t *retry_timer; /* allocated while waiting to retry */
  kc_cb cb;
  void *data;
  /* kc_list_all state */
  json_object *accum;
  const kc_resource *res;
  char *ns, *label_selector, *field_selector;
  long limit;
} kc_call;

static int kc_start_attempt(kc_call *call, kf_error *err);
static void kc_retry_cb(uv_timer_t *t);

kc_client *kc_client_new(http_engine *eng, const kcfg *cfg, kf_error *err) {
  kc_client *c;
  if (!eng || !cfg || !cfg->server) {
    kf_error_set(err, -EINVAL, "kube client needs an engine and a config with a server");
    return NULL;
  }
  if (cfg->client_cert_pem) {
    BIO *bio = BIO_new_mem_buf(cfg->client_cert_pem, (int)cfg->client_cert_pem_len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!x) {
      kf_error_set(err, -EINVAL, "context %s: client certificate of user %s is not valid PEM", cfg->context,
                   cfg->user ? cfg->user : "?");
      return NULL;
    }
    int after = X509_cmp_current_time(X509_get0_notAfter(x));
    int before = X509_cmp_current_time(X509_get0_notBefore(x));
    X509_free(x);
    if (after <= 0) {
      kf_error_set(err, -EKEYEXPIRED, "context %s: client certificate of user %s has expired; renew it", cfg->context,
                   cfg->user ? cfg->user : "?");
      return NULL;
    }
    if (before >= 0) {
      kf_error_set(err, -EKEYEXPIRED, "context %s: client certificate of user %s is not valid yet", cfg->context,
                   cfg->user ? cfg->user : "?");
      return NULL;
    }
  }
  c = kf_calloc(1, sizeof(*c));
  c->eng = eng;
  c->cfg = kcfg_dup(cfg);
  c->tls.ca_pem = c->cfg->ca_pem;
  c->tls.ca_pem_len = c->cfg->ca_pem_len;
  c->tls.cert_pem = c->cfg->client_cert_pem;
  c->tls.cert_pem_len = c->cfg->client_cert_pem_len;
  c->tls.key_pem = c->cfg->client_key_pem;
  c->tls.key_pem_len = c->cfg->client_key_pem_len;
  c->tls.server_name = c->cfg->tls_server_name;
  c->token_read_ms = uv_now(http_engine_loop(eng));
  c->timeout_ms = KC_DEFAULT_TIMEOUT_MS;
  c->max_attempts = KC_MAX_ATTEMPTS;
  return c;
}

int kc_err_terminal(int rc) { return rc == KC_ERR_INVALID || rc == KC_ERR_FORBIDDEN || rc == KC_ERR_UNAUTHORIZED; }

kc_client *kc_client_derive(const kc_client *parent, const kcfg *cfg, kf_error *err) {
  kc_client *c = kc_client_new(parent->eng, cfg, err);
  if (c) kc_client_set_field_manager(c, parent->field_manager);
  return c;
}

void kc_client_set_field_manager(kc_client *c, const char *name) {
  free(c->field_manager);
  c->field_manager = name ? kf_strdup(name) : NULL;
}

const char *kc_client_field_manager(const kc_client *c) { return c->field_manager; }

void kc_client_set_metrics(kc_client *c, kf_metrics *m) { c->metrics = m; }
void kc_client_set_metrics_target(kc_client *c, const char *target) {
  free(c->target);
  c->target = target ? kf_strdup(target) : NULL;
}
void kc_client_set_limits(kc_client *c, uint64_t timeout_ms, int max_attempts) {
  c->timeout_ms = timeout_ms ? timeout_ms : KC_DEFAULT_TIMEOUT_MS;
  c->max_attempts = max_attempts < 1 ? 1 : max_attempts > KC_MAX_ATTEMPTS ? KC_MAX_ATTEMPTS : max_attempts;
}
int kc_client_isolate(kc_client *c, kf_error *err) {
  if (c->pool) return 0;
  c->pool = http_pool_new(c->eng, err);
  return c->pool ? 0 : -ESHUTDOWN;
}

const kcfg *kc_client_config(const kc_client *c) { return c->cfg; }
http_engine *kc_client_engine(const kc_client *c) { return c->eng; }

static void kc_client_maybe_free(kc_client *c) {
  if (c->closing && !c->calls) {
    http_pool_close(c->pool); /* after its watches, if any are still ending */
    kcfg_free(c->cfg);
    free(c->target);
    free(c->field_manager);
    free(c);
  }
}

static void kc_timer_closed(uv_handle_t *h) { free(h); }

static void kc_call_free(kc_call *call) {
  kc_client *c = call->c;
  if (call->prev) call->prev->next = call->next;
  else c->calls = call->next;
  if (call->next) call->next->prev = call->prev;
  if (call->retry_timer) uv_close((uv_handle_t *)call->retry_timer, kc_timer_closed);
  free(call->method);
  free(call->url);
  free(call->content_type);
  if (call->body) kf_free_secret(call->body, call->body_len); /* may be a Secret (apply) */
  free(call->what);
  free(call->resource);
  free(call->ns);
  free(call->label_selector);
  free(call->field_selector);
  if (call->accum) json_object_put(call->accum);
  free(call);
}

static void kc_call_finish(kc_call *call, int rc, json_object *obj, const kf_error *err) {
  kc_client *c = call->c;
  kc_cb cb = call->cb;
  /* The callback may close the client: this call is already answered, not cancelled. */
  call->cb = NULL;
  call->finishing = 1;
  if (cb) cb(c, rc, obj, err, call->data);
  kc_call_free(call);
  kc_client_maybe_free(c);
}

void kc_client_close(kc_client *c) {
  if (!c || c->closing) return;
  c->closing = 1;
  /* Every call ends with KC_ERR_CANCELED from the loop, never on this stack (libuv's rule):
   * in-flight ones through http's deferred cancel, ones waiting to retry through their timer,
   * fired now. The client is freed after the last. */
  for (kc_call *call = c->calls; call; call = call->next) {
    if (call->finishing || call->cancelled) continue;
    call->cancelled = 1;
    if (call->inflight) http_request_cancel(call->inflight);
    else if (call->retry_timer) uv_timer_start(call->retry_timer, kc_retry_cb, 0, 0);
  }
  kc_client_maybe_free(c);
}

char *kc_escape(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *out = kf_calloc(1, n * 3 + 1), *o = out;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
        *p == '.' || *p == '~') {
      *o++ = (char)*p;
    } else {
      *o++ = '%';
      *o++ = hex[*p >> 4];
      *o++ = hex[*p & 15];
    }
  }
  return out;
}

char *kc_path(const kc_resource *res, const char *ns, const char *name, const char *subresource) {
  char *base = (res->group && res->group[0]) ? kf_asprintf("/apis/%s/%s", res->group, res->version)
                                             : kf_asprintf("/api/%s", res->version);
  char *nspart = (res->namespaced && ns && ns[0]) ? kf_asprintf("/namespaces/%s", ns) : kf_strdup("");
  char *path = kf_asprintf("%s%s/%s%s%s%s%s", base, nspart, res->resource, name ? "/" : "", name ? name : "",
                           (name && subresource) ? "/" : "", (name && subresource) ? subresource : "");
  free(base);
  free(nspart);
  return path;
}

int kc_status_error(long http_status, const char *body, size_t len, const char *what, kf_error *err) {
  int code;
  const char *reason = NULL, *message = NULL;
  json_object *st = NULL;

  if (body && len) {
    json_tokener *tok = json_tokener_new();
    st = json_tokener_parse_ex(tok, body, (int)len);
    json_tokener_free(tok);
    if (st && (!json_object_is_type(st, json_type_object) || !kc_obj_str(st, "kind") ||
               strcmp(kc_obj_str(st, "kind"), "Status") != 0)) {
      json_object_put(st);
      st = NULL;
    }
  }
  if (st) {
    reason = kc_obj_str(st, "reason");
    message = kc_obj_str(st, "message");
  }
  switch (http_status) {
    case 400:
    case 422: code = KC_ERR_INVALID; break;
    case 401: code = KC_ERR_UNAUTHORIZED; break;
    case 403: code = KC_ERR_FORBIDDEN; break;
    case 404: code = KC_ERR_NOTFOUND; break;
    case 409: code = (reason && strcmp(reason, "AlreadyExists") == 0) ? KC_ERR_EXISTS : KC_ERR_CONFLICT; break;
    case 410: code = KC_ERR_GONE; break;
    case 429: code = KC_ERR_THROTTLED; break;
    case 504: code = KC_ERR_TIMEOUT; break;
    default: code = KC_ERR_SERVER; break;
  }
  if (err) {
    kf_error_clear(err);
    err->http_status = (int)http_status;
    snprintf(err->reason, sizeof(err->reason), "%s", reason ? reason : "");
  }
  kf_error_set(err, code, "%s: %ld %s%s%s", what, http_status, reason ? reason : "", message ? ": " : "",
               message ? message : "");
  if (st) json_object_put(st);
  return code;
}

static int kc_transport_error(const kc_client *c, const http_response *res, const char *what, kf_error *err) {
  int code;
  const char *hint = "";
  switch (res->curl_code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      code = KC_ERR_TLS;
      hint = " (the server's certificate is not signed by the configured CA)";
      break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER: code = KC_ERR_TLS; break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST: code = KC_ERR_UNREACHABLE; break;
    case CURLE_OPERATION_TIMEDOUT: code = KC_ERR_TIMEOUT; break;
    case CURLE_ABORTED_BY_CALLBACK: code = KC_ERR_CANCELED; break;
    default: code = -EIO; break;
  }
  kf_error_clear(err);
  snprintf(err->reason, sizeof(err->reason), "%s",
           code == KC_ERR_TLS        ? "TLSError"
           : code == KC_ERR_CANCELED ? "Canceled"
                                     : "TransportError");
  return kf_error_set(err, code, "%s: context %s, server %s: %s%s", what, c->cfg->context, c->cfg->server, res->error,
                      hint);
}

static void kc_retry_cb(uv_timer_t *t) {
  kc_call *call = t->data;
  kf_error err;
  uv_close((uv_handle_t *)t, kc_timer_closed);
  call->retry_timer = NULL;
  kf_error_clear(&err);
  if (call->cancelled) { /* kc_client_close: end it here, on the loop */
    kf_error_set(&err, KC_ERR_CANCELED, "client closed");
    snprintf(err.reason, sizeof(err.reason), "Canceled");
    kc_call_finish(call, KC_ERR_CANCELED, NULL, &err);
    return;
  }
  if (kc_start_attempt(call, &err) != 0) kc_call_finish(call, err.code, NULL, &err);
}

static int kc_should_retry(const kc_call *call, const http_response *res, int rc) {
  if (call->no_retry || call->c->closing || call->attempt >= call->c->max_attempts) return 0;
  if (res->curl_code != 0) return rc == KC_ERR_UNREACHABLE || rc == KC_ERR_TIMEOUT || rc == -EIO;
  return res->status == 429 || res->status == 500 || res->status == 502 || res->status == 503 || res->status == 504;
}

static uint64_t kc_backoff_ms(const kc_call *call, const http_response *res) {
  if (res->status == 429 || (res->status == 503 && res->retry_after_s >= 0)) {
    long s = res->retry_after_s < 0 ? 1 : res->retry_after_s;
    if (s > KC_RETRY_AFTER_MAX_S) s = KC_RETRY_AFTER_MAX_S;
    return (uint64_t)(s > 0 ? s : 0) * 1000 + (uint64_t)(kf_random() % 100);
  }
  uint64_t d = (uint64_t)KC_BACKOFF_BASE_MS << (call->attempt > 5 ? 5 : call->attempt - 1);
  if (d > KC_BACKOFF_MAX_MS) d = KC_BACKOFF_MAX_MS;
  return d / 2 + (uint64_t)kf_random() % (d / 2 + 1); /* jitter: no thundering herd after an outage */
}

static void kc_record_target(kc_client *c, const char *verb, const char *resource) {
  char labels[192];
  if (!c->metrics || !c->target) return;
  snprintf(labels, sizeof(labels), "target=\"%s\",verb=\"%s\",resource=\"%s\"", c->target, verb, resource);
  kf_metrics_add(c->metrics, "api_requests_by_target_total",
                 "API requests (watches included) by the kind of cluster asked, verb and resource", labels, 1);
}

static void kc_record(kc_client *c, const char *method, const char *resource, long status) {
  char labels[96];
  if (!c->metrics) return;
  snprintf(labels, sizeof(labels), "verb=\"%s\",code=\"%ld\"", method, status);
  kf_metrics_add(c->metrics, "api_requests_total", "API requests by verb and HTTP code", labels, 1);
  kc_record_target(c, method, resource);
}

static void kc_list_all_page(kc_call *call, json_object *page);

static void kc_http_done(http_request *req, const http_response *res, void *data) {
  kc_call *call = data;
  kc_client *c = call->c;
  kf_error err;
  int rc;
  (void)req;
  call->inflight = NULL;
  kf_error_clear(&err);
  kc_record(c, call->method, call->resource, res->status);
  if (res->curl_code != 0) {
    rc = kc_transport_error(c, res, call->what, &err);
  } else if (res->status < 200 || res->status >= 300) {
    rc = kc_status_error(res->status, res->body, res->body_len, call->what, &err);
  } else {
    json_object *obj = kj_parse(res->body, res->body_len);
    if (!obj && call->raw) obj = json_object_new_string_len(res->body ? res->body : "", (int)res->body_len);
    if (!obj) {
      kf_error_set(&err, -EBADMSG, "%s: response is not valid JSON", call->what);
      kc_call_finish(call, -EBADMSG, NULL, &err);
      return;
    }
    if (call->accum || call->limit) {
      kc_list_all_page(call, obj);
      json_object_put(obj);
      return;
    }
    kc_call_finish(call, 0, obj, NULL);
    json_object_put(obj);
    return;
  }
  if (kc_should_retry(call, res, rc)) {
    uint64_t delay = kc_backoff_ms(call, res);
    call->last_timed_out = rc == KC_ERR_TIMEOUT;
    uint64_t now = uv_now(http_engine_loop(c->eng));
    if (call->last_timed_out) {
      KF_WARN("API request timed out, retrying on a new connection", "what", call->what);
    } else if (res->status == 429 && (!c->throttle_warned || now - c->throttle_warned_ms >= KC_THROTTLE_WARN_MS)) {
      /* Otherwise a flow-control storm is invisible at the default level: every request is
       * retried quietly. Once per period per client, so the storm does not flood the log. */
      char wait_s[32];
      snprintf(wait_s, sizeof(wait_s), "%.1f", (double)delay / 1000.0);
      KF_WARN("the API server is throttling requests (429); waiting as it asks (Retry-After)", "server", c->cfg->server,
              "what", call->what, "wait_s", wait_s);
      c->throttle_warned = 1;
      c->throttle_warned_ms = now;
    } else {
      KF_DEBUG("retrying API request", "what", call->what, "error", err.msg);
    }
    call->retry_timer = kf_calloc(1, sizeof(uv_timer_t));
    uv_timer_init(http_engine_loop(c->eng), call->retry_timer);
    call->retry_timer->data = call;
    uv_timer_start(call->retry_timer, kc_retry_cb, delay, 0);
    return;
  }
  kc_call_finish(call, rc, NULL, &err);
}

static int kc_start_attempt(kc_call *call, kf_error *err) {
  kc_client *c = call->c;
  const char *headers[2] = {NULL, NULL};
  char *ct = NULL;
  http_request_opts o;
  int rc;

  if (c->cfg->token_file && uv_now(http_engine_loop(c->eng)) - c->token_read_ms > KC_TOKEN_REFRESH_MS) {
    /* Bound service-account tokens rotate; a stale one would fail with 401. */
    kf_error terr;
    if (kcfg_refresh_token(c->cfg, &terr) != 0) KF_WARN("token refresh failed", "error", terr.msg);
    c->token_read_ms = uv_now(http_engine_loop(c->eng));
  }
  call->attempt++;
  if (call->content_type) {
    ct = kf_asprintf("Content-Type: %s", call->content_type);
    headers[0] = ct;
  }
  memset(&o, 0, sizeof(o));
  o.method = call->method;
  o.url = call->url;
  o.headers = headers;
  o.bearer_token = c->cfg->token;
  o.body = call->body;
  o.body_len = call->body_len;
  o.tls = &c->tls;
  o.timeout_ms = call->timeout_ms;
  o.on_done = kc_http_done;
  o.data = call;
  o.fresh_connect = call->last_timed_out;
  o.pool = c->pool;
  rc = http_request_start(c->eng, &o, &call->inflight, err);
  free(ct);
  return rc;
}

static kc_call *kc_call_new(kc_client *c, const kc_request *r, kc_cb cb, void *data) {
  kc_call *call = kf_calloc(1, sizeof(*call));
  char *path = r->path ? kf_strdup(r->path) : kc_path(r->res, r->namespace_, r->name, r->subresource);
  call->c = c;
  call->raw = r->path != NULL;
  call->cb = cb;
  call->data = data;
  call->method = kf_strdup(r->method);
  call->url = kf_asprintf("%s%s%s%s", c->cfg->server, path, r->query ? "?" : "", r->query ? r->query : "");
  call->what = kf_asprintf("%s %s", r->method, path);
  call->resource = kf_strdup(r->res ? r->res->resource : path);
  free(path);
  call->content_type = r->content_type ? kf_strdup(r->content_type) : NULL;
  if (r->body) {
    call->body = kf_strndup(r->body, r->body_len);
    call->body_len = r->body_len;
  }
  call->timeout_ms = r->timeout_ms ? r->timeout_ms : c->timeout_ms;
  call->no_retry = r->no_retry;
  call->next = c->calls;
  if (c->calls) c->calls->prev = call;
  c->calls = call;
  return call;
}

static int kc_call_start(kc_call *call) {
  kf_error err;
  kf_error_clear(&err);
  int rc = kc_start_attempt(call, &err);
  if (rc != 0) {
    /* libuv's rule: a call that returns an error never calls back. */
    call->cb = NULL;
    kc_call_finish(call, rc, NULL, &err);
  }
  return rc;
}

int kc_do(kc_client *c, const kc_request *r, kc_cb cb, void *data) {
  if (c->closing) return KC_ERR_CANCELED;
  return kc_call_start(kc_call_new(c, r, cb, data));
}

static int kc_do_json(kc_client *c, kc_request *r, json_object *body, kc_cb cb, void *data) {
  size_t len = 0;
  const char *txt = json_object_to_json_string_length(body, KC_JSON_FLAGS, &len);
  r->body = txt;
  r->body_len = len;
  int rc = kc_do(c, r, cb, data);
  /* kc_do copied it; the text stays cached in body's print buffer until body is freed, unwiped
   * by json-c: zero it now (a Secret's data is in it; the next serialization rewrites it). */
  explicit_bzero((char *)txt, len);
  return rc;
}

int kc_get(kc_client *c, const kc_resource *res, const char *ns, const char *name, kc_cb cb, void *data) {
  kc_request r = {.method = "GET", .res = res, .namespace_ = ns, .name = name};
  return kc_do(c, &r, cb, data);
}

static char *kc_list_query(const kc_list_opts *o, const char *cont) {
  char *q = kf_strdup("");
  const char *names[] = {"labelSelector", "fieldSelector", "resourceVersion", "continue"};
  const char *vals[] = {o ? o->label_selector : NULL, o ? o->field_selector : NULL, o ? o->resource_version : NULL,
                        cont};
  for (int i = 0; i < 4; i++) {
    if (!vals[i] || !vals[i][0]) continue;
    char *e = kc_escape(vals[i]);
    char *n = kf_asprintf("%s%s%s=%s", q, q[0] ? "&" : "", names[i], e);
    free(e);
    free(q);
    q = n;
  }
  if (o && o->limit > 0) {
    char *n = kf_asprintf("%s%slimit=%ld", q, q[0] ? "&" : "", o->limit);
    free(q);
    q = n;
  }
  return q;
}

int kc_list(kc_client *c, const kc_resource *res, const char *ns, const kc_list_opts *o, kc_cb cb, void *data) {
  char *q = kc_list_query(o, o ? o->continue_token : NULL);
  kc_request r = {.method = "GET", .res = res, .namespace_ = ns, .query = q[0] ? q : NULL};
  int rc = kc_do(c, &r, cb, data);
  free(q);
  return rc;
}

static void kc_list_all_page(kc_call *call, json_object *page) {
  json_object *items = kc_obj_get(page, "items");
  const char *cont = kc_obj_str(page, "metadata.continue");
  kf_error err;

  if (!call->accum) {
    call->accum = json_object_new_object();
    json_object_object_add(call->accum, "apiVersion", json_object_get(kc_obj_get(page, "apiVersion")));
    json_object_object_add(call->accum, "kind", json_object_get(kc_obj_get(page, "kind")));
    json_object_object_add(call->accum, "items", json_object_new_array());
  }
  json_object *all = kc_obj_get(call->accum, "items");
  for (size_t i = 0; items && i < json_object_array_length(items); i++)
    json_object_array_add(all, json_object_get(json_object_array_get_idx(items, i)));
  /* The resourceVersion of the last page is the one a watch resumes from. */
  json_object_object_add(call->accum, "metadata", json_object_get(kc_obj_get(page, "metadata")));
  if (!cont || !cont[0]) {
    json_object *result = json_object_get(call->accum);
    kc_call_finish(call, 0, result, NULL);
    json_object_put(result);
    return;
  }
  kc_list_opts o = {.label_selector = call->label_selector,
                    .field_selector = call->field_selector,
                    .limit = call->limit};
  char *q = kc_list_query(&o, cont);
  char *path = kc_path(call->res, call->ns, NULL, NULL);
  free(call->url);
  call->url = kf_asprintf("%s%s?%s", call->c->cfg->server, path, q);
  free(path);
  free(q);
  call->attempt = 0;
  kf_error_clear(&err);
  if (kc_start_attempt(call, &err) != 0) kc_call_finish(call, err.code, NULL, &err);
}

int kc_list_all(kc_client *c, const kc_resource *res, const char *ns, const kc_list_opts *o, kc_cb cb, void *data) {
  kc_list_opts first = o ? *o : (kc_list_opts){0};
  if (first.limit <= 0) first.limit = 500;
  first.continue_token = NULL;
  char *q = kc_list_query(&first, NULL);
  kc_request r = {.method = "GET", .res = res, .namespace_ = ns, .query = q};
  kc_call *call;
  if (c->closing) {
    free(q);
    return KC_ERR_CANCELED;
  }
  call = kc_call_new(c, &r, cb, data);
  free(q);
  call->res = res;
  call->ns = ns ? kf_strdup(ns) : NULL;
  call->label_selector = first.label_selector ? kf_strdup(first.label_selector) : NULL;
  call->field_selector = first.field_selector ? kf_strdup(first.field_selector) : NULL;
  call->limit = first.limit;
  return kc_call_start(call);
}

/* Writes name the client's field manager, so what a create or update sets is owned by the same
 * manager as what its applies set (without it the apiserver names the manager after the user
 * agent). force: an apply takes over conflicting fields. NULL without a field manager. */
static char *kc_manager_query(const kc_client *c, int force) {
  return c->field_manager ? kf_asprintf("fieldManager=%s%s", c->field_manager, force ? "&force=true" : "") : NULL;
}

int kc_create(kc_client *c, const kc_resource *res, const char *ns, json_object *obj, kc_cb cb, void *data) {
  char *query = kc_manager_query(c, 0);
  kc_request r = {.method = "POST", .res = res, .namespace_ = ns, .content_type = "application/json", .query = query};
  int rc = kc_do_json(c, &r, obj, cb, data);
  free(query);
  return rc;
}

int kc_update(kc_client *c, const kc_resource *res, const char *ns, json_object *obj, const char *subresource, kc_cb cb,
              void *data) {
  kc_request r = {.method = "PUT",
                  .res = res,
                  .namespace_ = ns,
                  .name = kc_obj_str(obj, "metadata.name"),
                  .subresource = subresource,
                  .content_type = "application/json"};
  if (!r.name) return KC_ERR_INVALID;
  char *query = kc_manager_query(c, 0);
  r.query = query;
  int rc = kc_do_json(c, &r, obj, cb, data);
  free(query);
  return rc;
}

int kc_patch(kc_client *c, const kc_resource *res, const char *ns, const char *name, kc_patch_type type,
             json_object *patch, const char *subresource, kc_cb cb, void *data) {
  static const char *const types[] = {"application/merge-patch+json", "application/json-patch+json",
                                      "application/strategic-merge-patch+json", "application/apply-patch+yaml"};
  if (type == KC_PATCH_APPLY && !c->field_manager) return KC_ERR_INVALID; /* SSA needs an owner */
  char *query = kc_manager_query(c, type == KC_PATCH_APPLY);
  kc_request r = {.method = "PATCH",
                  .res = res,
                  .namespace_ = ns,
                  .name = name,
                  .subresource = subresource,
                  .content_type = types[type],
                  .query = query};
  int rc = kc_do_json(c, &r, patch, cb, data);
  free(query);
  return rc;
}

int kc_apply(kc_client *c, const kc_resource *res, json_object *obj, const char *subresource, kc_cb cb, void *data) {
  const char *name = kc_obj_str(obj, "metadata.name");
  if (!name) return KC_ERR_INVALID;
  /* JSON is valid YAML, so the apply-patch content type takes it as is. */
  return kc_patch(c, res, kc_obj_str(obj, "metadata.namespace"), name, KC_PATCH_APPLY, obj, subresource, cb, data);
}

int kc_delete(kc_client *c, const kc_resource *res, const char *ns, const char *name, const kc_delete_opts *o, kc_cb cb,
              void *data) {
  json_object *body = json_object_new_object();
  kc_request r = {.method = "DELETE", .res = res, .namespace_ = ns, .name = name, .content_type = "application/json"};
  int rc;
  json_object_object_add(body, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(body, "kind", json_object_new_string("DeleteOptions"));
  if (o && o->propagation_policy)
    json_object_object_add(body, "propagationPolicy", json_object_new_string(o->propagation_policy));
  if (o && (o->precondition_uid || o->precondition_resource_version)) {
    json_object *pre = json_object_new_object();
    if (o->precondition_uid) json_object_object_add(pre, "uid", json_object_new_string(o->precondition_uid));
    if (o->precondition_resource_version)
      json_object_object_add(pre, "resourceVersion", json_object_new_string(o->precondition_resource_version));
    json_object_object_add(body, "preconditions", pre);
  }
  rc = kc_do_json(c, &r, body, cb, data);
  json_object_put(body);
  return rc;
}

int kc_stream(kc_client *c, const kc_resource *res, const char *ns, const char *query, uint64_t timeout_ms,
              http_data_cb on_data, http_done_cb on_done, void *data, http_request **out, kf_error *err) {
  http_request_opts o;
  char *path = kc_path(res, ns, NULL, NULL);
  char *url = kf_asprintf("%s%s?%s", c->cfg->server, path, query);
  int rc;
  if (c->closing) {
    free(path);
    free(url);
    return kf_error_set(err, KC_ERR_CANCELED, "client closed");
  }
  memset(&o, 0, sizeof(o));
  o.method = "GET";
  o.url = url;
  o.bearer_token = c->cfg->token;
  o.tls = &c->tls;
  o.timeout_ms = timeout_ms;
  o.on_data = on_data;
  o.on_done = on_done;
  o.data = data;
  o.pool = c->pool;
  rc = http_request_start(c->eng, &o, out, err);
  if (rc == 0) kc_record_target(c, "WATCH", res->resource);
  free(path);
  free(url);
  return rc;
}

int kc_apply_finalizer(kc_client *c, const kc_resource *res, const char *ns, const char *name, const char *uid,
                       const char *finalizer, kc_cb cb, void *data) {
  json_object *body = json_object_new_object(), *meta = json_object_new_object();
  char *api_version = res->group && res->group[0] ? kf_asprintf("%s/%s", res->group, res->version)
                                                  : kf_strdup(res->version);
  json_object_object_add(body, "apiVersion", json_object_new_string(api_version));
  json_object_object_add(body, "kind", json_object_new_string(res->kind));
  json_object_object_add(meta, "name", json_object_new_string(name));
  if (ns) json_object_object_add(meta, "namespace", json_object_new_string(ns));
  if (uid) json_object_object_add(meta, "uid", json_object_new_string(uid));
  if (finalizer) {
    json_object *list = json_object_new_array();
    json_object_array_add(list, json_object_new_string(finalizer));
    json_object_object_add(meta, "finalizers", list);
  }
  json_object_object_add(body, "metadata", meta);
  int rc = kc_apply(c, res, body, NULL, cb, data);
  json_object_put(body);
  free(api_version);
  return rc;
}
