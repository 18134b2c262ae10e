/* apply: the three writes a controller makes to a child object, in one place.
 *
 *   apply_ensure   controller-runtime's CreateOrPatch, updating by server-side apply: the live object
 *                  (from an informer cache when given, else a GET) is compared with the desired
 *                  fields (kj_subset) and written only when it differs, so a steady state makes no
 *                  writes. APPLY_CREATE_ONLY creates a missing object and leaves an existing one
 *                  alone (a token Secret the member's token controller fills, a Namespace).
 *                  What the cache can answer costs no request, and a miss in the cache is
 *                  created at once with a POST (a 409 says it exists: it is read then).
 *   apply_delete   deletes an object only if it is ours, with a uid precondition, so an object
 *                  somebody recreated under the same name in the meantime survives.
 *
 * Ownership is a set of labels (owner_labels: key, value, ..., NULL), e.g. managed-by and the
 * federation's name. An existing object without all of them belongs to somebody else: ensure
 * never overwrites it (APPLY_ERR_NOT_OURS) and delete leaves it (reported, not an error).
 * owner_labels NULL: no ownership check (objects a controller shares, e.g. a member's kube-system
 * ConfigMap edited by key).
 *
 * Callbacks follow libuv's rule: the callback runs if and only if the call returned 0, exactly
 * once, and never on the caller's stack (a cache hit is reported from the loop). */
#ifndef KF_APPLY_H
#define KF_APPLY_H

#include <json-c/json.h>

#include <kf/informer.h>
#include <kf/kc.h>

/* An object of the desired name exists and is not ours. Outside errno's range of KC_ERR_*. */
#define APPLY_ERR_NOT_OURS (-4096)

typedef enum { APPLY_IF_DIFFERS = 0, APPLY_CREATE_ONLY } apply_mode;

typedef struct apply_opts {
  kc_client *client; /* the cluster to write to */
  const kc_resource *res;
  /* Optional, synced: answers reads when it holds the object; a miss is created (POST) without a
   * read first. It may hold only our objects (a label selector): somebody else's same-named object
   * makes the POST fail with 409, never overwritten. Without a cache every ensure GETs first. */
  const informer *cache;
  const char *const *owner_labels; /* key, value, ..., NULL; NULL: no ownership check */
  apply_mode mode;
  /* The caller has reason to think the object absent (the first pass of a first join): with no
   * cache, POST at once instead of reading first; a 409 reads it then, as with a cache miss. */
  int assume_absent;
} apply_opts;

typedef struct apply_result {
  int rc;              /* 0, APPLY_ERR_NOT_OURS or a KC_ERR_* of the read or the write */
  int wrote;           /* 1 when a create, apply or delete was sent and succeeded */
  int not_ours;        /* apply_delete: the object exists and was left (not ours) */
  const char *step;    /* "read", "write" or "delete": where rc came from */
  json_object *live;   /* the object as it is now (borrowed for the callback), or NULL after a
                               delete, a create that met an existing object, or an error */
  const kf_error *err; /* message for rc != 0 (never NULL then), borrowed */
} apply_result;

typedef void (*apply_cb)(const apply_result *r, void *data);

/* Makes desired's fields true on the cluster. Takes desired (it is put, wiped, when done: desired
 * Secrets carry keys). Returns 0 (cb will run) or a negative code when desired has no name (cb will
 * not run; desired is still put). */
int apply_ensure(const apply_opts *o, json_object *desired, apply_cb cb, void *data);
/* Deletes res ns/name if it is ours (Background propagation, uid precondition); a missing object is
 * success with wrote = 0. Returns 0 (cb will run) or a negative code. */
int apply_delete(const apply_opts *o, const char *ns, const char *name, apply_cb cb, void *data);
/* 1 when obj carries every owner label (owner_labels NULL: always 1). */
int apply_is_ours(json_object *obj, const char *const *owner_labels);

#endif
