/* kj: small json-c helpers for building Kubernetes objects and comparing them.
 *
 * Builders take ownership of the child values they are given (as json-c's
 * json_object_object_add does) and return the parent, so desired objects read
 * top-down. kj_subset is how reconcilers decide whether to write: an object in
 * the cache that already holds every field we would apply needs no request. */
#ifndef KF_KJ_H
#define KF_KJ_H

#include <json-c/json.h>
#include <stdint.h>

/* Nesting depth the operator's JSON parsers accept (API responses, the informer cache, watch
 * events). kube-apiserver stores objects up to 10,000 levels deep (its decoder's limit), and a
 * CRD field with x-kubernetes-preserve-unknown-fields (a Federation's affinity, resources,
 * tolerations) takes any JSON. With json-c's default of 32, one such Federation nested 30 levels
 * made every list of Federations fail ("response is not valid JSON"): the informer never synced
 * and no Federation in any namespace was reconciled; below that, the informer cache could not
 * read the object back and it was silently never reconciled. Lists and watch events add a few
 * levels around an object. */
#define KJ_MAX_DEPTH 10100

/* Parses len bytes of JSON text, nested at most KJ_MAX_DEPTH deep; NULL when not valid JSON.
 * One parser (its stack ~400 KiB, allocated once) is reused: loop thread only. */
json_object *kj_parse(const char *text, size_t len);

json_object *kj_obj(void);
json_object *kj_arr(void);
/* Each sets key on obj (replacing it) and returns obj. A NULL string value is skipped. */
json_object *kj_set(json_object *obj, const char *key, json_object *val);
json_object *kj_str(json_object *obj, const char *key, const char *val);
json_object *kj_int(json_object *obj, const char *key, int64_t val);
json_object *kj_bool(json_object *obj, const char *key, int val);
/* Sets key to a deep copy of val when val is not NULL. */
json_object *kj_copy(json_object *obj, const char *key, json_object *val);
/* Appends and returns arr. */
json_object *kj_push(json_object *arr, json_object *val);
json_object *kj_push_str(json_object *arr, const char *val);

/* Drops the caller's reference to o, first zeroing every string value in it (recursively): for
 * objects that held Secret data (a desired Secret, its data map), which json-c would free without
 * wiping. The caller's reference must be the only one. Keys are not wiped (field names). */
void kj_put_wiped(json_object *o);

/* Removes every key of obj in place (an informer's transform keeps the object it was given, so
 * it empties and refills it). */
void kj_clear(json_object *obj);

/* The strings of arr joined with sep (malloc'd; "" for NULL or empty). */
char *kj_join(json_object *arr, const char *sep);

/* 1 when every field of want is in have with an equal value: objects recursively
 * (have may hold more keys, e.g. server-side defaults), arrays element by element
 * with equal length, scalars by value (an int equal to a double counts as equal). */
int kj_subset(json_object *want, json_object *have);
/* The same, leaving in path (e.g. ".spec.ports[0].port") where the first difference is. */
int kj_subset_why(json_object *want, json_object *have, char *path, size_t size);

#endif
