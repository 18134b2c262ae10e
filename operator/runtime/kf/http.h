/* http: asynchronous HTTPS requests on a libuv loop.
 *
 * One http_engine per loop owns a curl multi handle driven by uv_poll and
 * uv_timer (curl's multi-uv pattern), so all connections share one thread, and
 * requests to the same server reuse connections and multiplex over HTTP/2.
 * TLS is always verified (plain http:// only where a request opts in, see allow_http); the caller supplies the CA, client certificate and
 * key as PEM bytes (never written to disk). Single attempt only: retry policy
 * belongs to the caller, which knows whether a verb is safe to repeat. */
#ifndef KF_HTTP_H
#define KF_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <kf/error.h>

typedef struct http_engine http_engine;
typedef struct http_pool http_pool;
typedef struct http_request http_request;

typedef struct http_tls {
  const char *ca_pem;
  size_t ca_pem_len; /* NULL: system CAs */
  const char *cert_pem;
  size_t cert_pem_len; /* client certificate or NULL */
  const char *key_pem;
  size_t key_pem_len;      /* client key or NULL */
  const char *server_name; /* verify the certificate against this name instead of the URL's host */
} http_tls;

typedef struct http_response {
  long status; /* HTTP status, 0 when no response arrived */
  char *body;  /* NUL-terminated, owned by the request; NULL for streams */
  size_t body_len;
  long retry_after_s; /* Retry-After header in seconds, -1 when absent */
  int curl_code;      /* CURLcode, 0 on transport success */
  char error[256];    /* transport error text when curl_code != 0 */
} http_response;

/* Called for each chunk of a streaming response body with a 2xx status.
 * Return 0 to continue, non-zero to abort the transfer. */
typedef int (*http_data_cb)(http_request *req, const char *buf, size_t len, void *data);
/* Called exactly once when the request ends (completed, failed or cancelled).
 * res is valid only during the callback; the request is freed after it returns. */
typedef void (*http_done_cb)(http_request *req, const http_response *res, void *data);

typedef struct http_request_opts {
  const char *method; /* GET, POST, PUT, PATCH, DELETE */
  const char *url;
  const char *const *headers; /* NULL-terminated "Name: value" list, may be NULL */
  const char *bearer_token;   /* sent as Authorization; never logged */
  const char *body;           /* copied */
  size_t body_len;
  const http_tls *tls;
  uint64_t timeout_ms;         /* whole-request timeout; 0 means none (then stall_timeout_ms must be set) */
  uint64_t connect_timeout_ms; /* default 10 s */
  uint64_t stall_timeout_ms;   /* abort when fewer than 1 byte/s arrives for this long (watches) */
  size_t max_body;             /* refuse buffered bodies larger than this; default 64 MiB */
  int fresh_connect;           /* open a new connection rather than reuse one (after a stall) */
  http_data_cb on_data;        /* non-NULL: stream 2xx bodies instead of buffering */
  http_done_cb on_done;        /* required */
  void *data;
  http_pool *pool; /* the connections to use; NULL: the engine's, shared by every such request */
  int allow_http;  /* also accept an http:// URL, sent in the clear: only for endpoints a person configured
                    * so (the DNS provider's etcd-endpoints); https:// stays verified either way */
} http_request_opts;

http_engine *http_engine_new(uv_loop_t *loop, kf_error *err);
/* The User-Agent every later request sends (copied), e.g. "kubefed-operator/0.1.0"; the runtime
 * names no program itself. */
void http_engine_set_user_agent(http_engine *eng, const char *user_agent);
/* Starts a request. Returns 0 and sets *out (may be NULL) or a negative code. */
int http_request_start(http_engine *eng, const http_request_opts *opts, http_request **out, kf_error *err);
/* Aborts a request; its on_done runs (with curl_code CURLE_ABORTED_BY_CALLBACK) from the loop
 * shortly after, never before this returns. Safe to call from on_data. */
void http_request_cancel(http_request *req);
size_t http_engine_inflight(const http_engine *eng);
uv_loop_t *http_engine_loop(const http_engine *eng);
/* Cancels everything in flight, closes the uv handles and frees the engine once they are closed.
 * Pools still held are closed too (their http_pool_close then only frees them). */
void http_engine_close(http_engine *eng);

/* A connection pool of its own (a curl multi handle on the engine's loop, about 6 KiB): requests
 * started with it use only its connections. For a client of one server among many that share a
 * host and credentials (members of a benchmark, two federations joining one cluster): with the
 * engine's shared pool their requests and watches would pile onto the same few connections,
 * where curl caps streams per connection (100) and wakes every stream of a connection for each
 * read, and a busy member would delay the others. NULL with err set when the engine is closing. */
http_pool *http_pool_new(http_engine *eng, kf_error *err);
/* Lets go of the pool: it closes (connections, then itself) once its requests have ended; new
 * requests on it fail with -ESHUTDOWN. NULL is fine. */
void http_pool_close(http_pool *pool);

#endif
