/* etcd (etcd_client): etcd v3's key-value API through its JSON gateway (/v3/kv/range, put, deleterange, txn), on the
 * runtime's asynchronous http engine.
 *
 * What the coredns DNS provider needs, no more: range (a key or a prefix), put, delete and a
 * transaction of puts and deletes without compares (one revision for a name's whole record set,
 * so CoreDNS never serves half of a change). Keys and values are bytes; the gateway carries them
 * base64-encoded and int64s as strings, which this module hides.
 *
 * Endpoints are tried in order: a transport failure (no connection, timeout) moves on to the
 * next for the same request, since every call here may safely be repeated; an answer from etcd
 * (even an error) ends it. http:// endpoints are used as written (in the clear: a person chose
 * so in the provider file); https:// ones are always verified, against the given CA or the
 * system's. A callback runs exactly once per started call, from the loop, never from within the
 * call that started it. */
#ifndef KF_ETCD_H
#define KF_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include <kf/error.h>
#include <kf/http.h>

typedef struct etcd_client etcd_client;

typedef struct etcd_client_opts {
  const char *const *endpoints; /* NULL-terminated base URLs, e.g. "http://127.0.0.1:2379"; at least one */
  const char *ca_pem;           /* https: the CA to verify etcd against (NULL: the system's) */
  size_t ca_pem_len;
  const char *cert_pem; /* https: client certificate and key (etcd --client-cert-auth), or NULL */
  size_t cert_pem_len;
  const char *key_pem;
  size_t key_pem_len;
  uint64_t timeout_ms; /* per request and endpoint; 0: 10 s */
} etcd_client_opts;

typedef struct etcd_kv {
  char *key; /* NUL-terminated (a key holding NUL bytes is still whole: key_len) */
  size_t key_len;
  char *value;
  size_t value_len;
  int64_t mod_revision;
} etcd_kv;

typedef struct etcd_result {
  int rc;           /* 0, or a negative code with error set */
  kf_error error;   /* message naming the endpoint; never a value */
  int64_t revision; /* the store's revision after the call (header.revision) */
  etcd_kv *kvs;     /* range: the keys, sorted; owned by the result, valid during the callback */
  size_t n_kvs;
  int64_t deleted; /* delete: how many keys went */
} etcd_result;

typedef void (*etcd_done_cb)(etcd_client *c, const etcd_result *res, void *data);

/* One operation of a transaction: a put of value (value_len bytes) or, with del, a delete of key. */
typedef struct etcd_op {
  int del;
  const char *key;
  const char *value;
  size_t value_len;
} etcd_op;

/* 0 and *out, or -EINVAL (message) for no endpoint or one that is not http(s)://. Copies opts. */
int etcd_client_new(http_engine *eng, const etcd_client_opts *opts, etcd_client **out, kf_error *err);
/* Cancels what is in flight (their callbacks run with -ECANCELED) and frees the client once they
 * have. NULL is fine. */
void etcd_client_close(etcd_client *c);

/* Every key starting with prefix (prefix "" is the whole keyspace), or with prefix_only == 0 the
 * one key. keys_only leaves every value empty ("", value_len 0). */
int etcd_range(etcd_client *c, const char *prefix, int prefix_only, int keys_only, etcd_done_cb cb, void *data,
               kf_error *err);
int etcd_put(etcd_client *c, const char *key, const char *value, size_t value_len, etcd_done_cb cb, void *data,
             kf_error *err);
/* The key, or with prefix_only every key starting with it. */
int etcd_delete(etcd_client *c, const char *key, int prefix_only, etcd_done_cb cb, void *data, kf_error *err);
/* n operations (at least one) as one transaction, one revision. */
int etcd_txn(etcd_client *c, const etcd_op *ops, size_t n, etcd_done_cb cb, void *data, kf_error *err);

/* How many requests this client has sent to etcd (each endpoint attempt counts): lets a test or
 * a metric tell "nothing changed, nothing sent". */
uint64_t etcd_client_requests(const etcd_client *c);

#endif
