/* kc: an asynchronous Kubernetes API client for any group/version/resource.
 *
 * Requests run on the http_engine's loop. libuv's contract: a verb that returns
 * 0 calls its callback exactly once, from the loop (never on the caller's
 * stack), with rc 0 and the decoded object, or a negative rc with err filled from
 * the metav1.Status the server returned (reason, code, message) or from the
 * transport; a verb that returns an error never calls back. kc_client_close ends
 * every call with KC_ERR_CANCELED, also from the loop. The object is borrowed:
 * take a json_object_get() to keep it.
 *
 * Retries are bounded: 429 waits for Retry-After (capped), 5xx and connection
 * failures back off exponentially, at most KC_MAX_ATTEMPTS attempts. */
#ifndef KF_KC_H
#define KF_KC_H

#include <json-c/json.h>

#include <kf/http.h>
#include <kf/error.h>
#include <kf/kcfg.h>
#include <kf/metrics.h>

#define KC_MAX_ATTEMPTS 6
/* Compact JSON without json-c's "\/" escape, which YAML (apply patches) rejects. */
#define KC_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

typedef struct kc_client kc_client;

/* rc values, negative errno-style; err->reason carries the server's exact reason. */
#define KC_ERR_NOTFOUND (-ENOENT)          /* 404 */
#define KC_ERR_EXISTS (-EEXIST)            /* 409 AlreadyExists */
#define KC_ERR_CONFLICT (-EBUSY)           /* 409 Conflict (stale resourceVersion) */
#define KC_ERR_GONE (-ESTALE)              /* 410 Expired / Gone */
#define KC_ERR_UNAUTHORIZED (-EPERM)       /* 401 */
#define KC_ERR_FORBIDDEN (-EACCES)         /* 403 */
#define KC_ERR_INVALID (-EINVAL)           /* 400, 422 */
#define KC_ERR_THROTTLED (-EAGAIN)         /* 429 after the last attempt */
#define KC_ERR_SERVER (-EIO)               /* other 5xx, other codes */
#define KC_ERR_TLS (-EPROTO)               /* certificate verification or handshake */
#define KC_ERR_UNREACHABLE (-ECONNREFUSED) /* connect/DNS failure */
#define KC_ERR_TIMEOUT (-ETIMEDOUT)
#define KC_ERR_CANCELED (-ECANCELED)

/* The one rule for which errors are terminal: retrying the same request cannot succeed until
 * something outside it changes (the object: 400/422; the credentials or RBAC: 401/403). A
 * controller reports them in a condition and looks again at its slow period (or on the next
 * change), instead of retrying with fast backoff as it does for everything else (as
 * controller-runtime's TerminalError). */
int kc_err_terminal(int rc);

typedef struct kc_resource {
  const char *group; /* "" for the core group */
  const char *version;
  const char *resource; /* plural, lower case */
  const char *kind;
  int namespaced;
} kc_resource;

extern const kc_resource KC_NAMESPACES, KC_CONFIGMAPS, KC_SECRETS, KC_SERVICES, KC_SERVICEACCOUNTS, KC_PVCS, KC_PVS,
    KC_NODES, KC_DEPLOYMENTS, KC_LEASES, KC_EVENTS, KC_ROLES, KC_ROLEBINDINGS, KC_CLUSTERROLES, KC_CLUSTERROLEBINDINGS,
    KC_CRDS;

typedef void (*kc_cb)(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data);

typedef enum { KC_PATCH_MERGE, KC_PATCH_JSON, KC_PATCH_STRATEGIC, KC_PATCH_APPLY } kc_patch_type;

typedef struct kc_list_opts {
  const char *label_selector;
  const char *field_selector;
  const char *resource_version;
  const char *continue_token;
  long limit; /* page size; 0: server default (all) */
} kc_list_opts;

typedef struct kc_delete_opts {
  const char *propagation_policy; /* Foreground, Background, Orphan or NULL */
  const char *precondition_uid;
  const char *precondition_resource_version;
} kc_delete_opts;

typedef struct kc_request {
  const char *method;
  const kc_resource *res;  /* NULL when path is set */
  const char *path;        /* a raw path such as /readyz instead of res/ns/name; a body that
                             * is not JSON reaches the callback as a json string */
  const char *namespace_;  /* ignored for cluster-scoped resources */
  const char *name;        /* NULL for collection requests */
  const char *subresource; /* "status" or NULL */
  const char *query;       /* extra query string without '?', already escaped */
  const char *content_type;
  const char *body;
  size_t body_len;
  uint64_t timeout_ms; /* per attempt; default 30 s */
  int no_retry;
} kc_request;

/* The client copies cfg. It refuses an expired or not-yet-valid client certificate
 * up front, with the context named, rather than failing every request with 401. */
kc_client *kc_client_new(http_engine *eng, const kcfg *cfg, kf_error *err);
/* Cancels in-flight requests (their callbacks run with -ECANCELED) and frees the
 * client once they have finished. Safe to call from one of its own callbacks. */
void kc_client_close(kc_client *c);
/* A client for another cluster (cfg) on parent's engine, applying as the same field manager. */
kc_client *kc_client_derive(const kc_client *parent, const kcfg *cfg, kf_error *err);
/* The server-side apply field manager (copied): the program's own name, so two programs never
 * take each other's fields. kc_apply fails with KC_ERR_INVALID until one is set. */
void kc_client_set_field_manager(kc_client *c, const char *name);
const char *kc_client_field_manager(const kc_client *c);
void kc_client_set_metrics(kc_client *c, kf_metrics *m);
/* Also counts the client's requests, watches included, in api_requests_by_target_total{target,
 * verb, resource}: target names the kind of cluster (e.g. "member"), so a benchmark can say which
 * requests a change costs where. NULL: not counted there. */
void kc_client_set_metrics_target(kc_client *c, const char *target);
/* Per-attempt timeout for requests that set none (0: the default 30 s) and attempts per call
 * (1..KC_MAX_ATTEMPTS): a client of a cluster that may hang bounds each call's time. */
void kc_client_set_limits(kc_client *c, uint64_t timeout_ms, int max_attempts);
/* Gives the client connections of its own (http_pool_new) instead of the engine's shared ones:
 * one TCP+TLS connection that its requests and watches multiplex over (HTTP/2), used by no other
 * client. Before the client's first request. 0 or -ESHUTDOWN. */
int kc_client_isolate(kc_client *c, kf_error *err);
const kcfg *kc_client_config(const kc_client *c);
http_engine *kc_client_engine(const kc_client *c);

/* Builds the path for res/ns/name/subresource, e.g. /api/v1/namespaces/x/configmaps/y. */
char *kc_path(const kc_resource *res, const char *ns, const char *name, const char *subresource);
/* Percent-encodes a query value. */
char *kc_escape(const char *s);

int kc_do(kc_client *c, const kc_request *r, kc_cb cb, void *data);

int kc_get(kc_client *c, const kc_resource *res, const char *ns, const char *name, kc_cb cb, void *data);
/* One page: the callback gets the List object (items, metadata.continue, resourceVersion). */
int kc_list(kc_client *c, const kc_resource *res, const char *ns, const kc_list_opts *o, kc_cb cb, void *data);
/* Follows `continue` until done; the callback gets one List holding all items. */
int kc_list_all(kc_client *c, const kc_resource *res, const char *ns, const kc_list_opts *o, kc_cb cb, void *data);
int kc_create(kc_client *c, const kc_resource *res, const char *ns, json_object *obj, kc_cb cb, void *data);
int kc_update(kc_client *c, const kc_resource *res, const char *ns, json_object *obj, const char *subresource, kc_cb cb,
              void *data);
int kc_patch(kc_client *c, const kc_resource *res, const char *ns, const char *name, kc_patch_type type,
             json_object *patch, const char *subresource, kc_cb cb, void *data);
/* Server-side apply as the client's field manager, force=true. The name
 * and namespace are read from obj's metadata. */
int kc_apply(kc_client *c, const kc_resource *res, json_object *obj, const char *subresource, kc_cb cb, void *data);
int kc_delete(kc_client *c, const kc_resource *res, const char *ns, const char *name, const kc_delete_opts *o, kc_cb cb,
              void *data);

/* A raw streaming GET of res's collection with the query (watches). The client's
 * TLS and token are used; on_data/on_done are http callbacks. */
int kc_stream(kc_client *c, const kc_resource *res, const char *ns, const char *query, uint64_t timeout_ms,
              http_data_cb on_data, http_done_cb on_done, void *data, http_request **out, kf_error *err);

/* Decodes an error response into err: metav1.Status reason/message/code when the
 * body is one, else the status line. Returns the negative code it set. */
int kc_status_error(long http_status, const char *body, size_t len, const char *what, kf_error *err);

/* metadata.finalizers by server-side apply of that field alone: with finalizer, our field
 * manager owns that entry; with NULL, our entry (and only ours) goes. uid (the object's, as
 * read) is a precondition: an apply to a missing name would otherwise create the object, so a
 * removal racing the object's own deletion (a second reconcile from a lagging cache, or a
 * restarted operator) could resurrect it; with uid the server answers KC_ERR_CONFLICT instead
 * when the object is gone or was replaced by a new one of the same name. */
int kc_apply_finalizer(kc_client *c, const kc_resource *res, const char *ns, const char *name, const char *uid,
                       const char *finalizer, kc_cb cb, void *data);
int kc_has_finalizer(json_object *obj, const char *finalizer);

/* The current time as a metav1.MicroTime string (malloc'd), as Leases and Events want it. */
char *kc_micro_time_now(void);

/* Convenience accessors on objects (NULL when absent). */
const char *kc_obj_str(json_object *obj, const char *path); /* dotted path, e.g. "metadata.name" */
/* One key, taken whole: for label, annotation and data keys, which contain dots. */
const char *kc_obj_key_str(json_object *obj, const char *key);
json_object *kc_obj_get(json_object *obj, const char *path);

#endif
