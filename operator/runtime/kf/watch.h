/* watch: the Kubernetes watch stream.
 *
 * watch_framer splits a streamed body into JSON events: objects may arrive
 * split across reads, or several in one read, with or without newlines. It
 * bounds the size and nesting of one event and rejects invalid UTF-8.
 *
 * kc_watch runs one watch request (allowWatchBookmarks, resourceVersion,
 * timeoutSeconds) and reports ADDED/MODIFIED/DELETED/BOOKMARK events; an ERROR
 * event ends the watch with its Status code (410 becomes KC_ERR_GONE, the
 * caller's cue to relist). Reconnecting is the informer's job. */
#ifndef KF_WATCH_H
#define KF_WATCH_H

#include <json-c/json.h>
#include <stddef.h>

#include <kf/kc.h>

#define WATCH_MAX_EVENT_BYTES (16u << 20)
/* Deep enough for any built-in (schema-typed) kind, managedFields and the event around it
 * included (a Deployment's pod template is nested about 15 deep). A framer's nesting bound costs
 * 32 bytes per level for as long as the watch lives: the default (KJ_MAX_DEPTH, for custom
 * resources that may nest as deep as the apiserver allows) is 316 KiB per watch, this 2 KiB. */
#define WATCH_TYPED_DEPTH 64

typedef struct watch_framer {
  json_tokener *tok;
  size_t pending; /* bytes of the current, incomplete event */
  size_t max_event;
} watch_framer;

/* Called for each complete event (a JSON object, borrowed). Non-zero stops feeding. */
typedef int (*watch_frame_cb)(json_object *event, void *data);

int watch_framer_init(watch_framer *f, size_t max_event_bytes);
/* As watch_framer_init, nesting bounded at max_depth (0: KJ_MAX_DEPTH); deeper events fail with
 * -EBADMSG. */
int watch_framer_init_depth(watch_framer *f, size_t max_event_bytes, int max_depth);
/* 0 when all input was consumed (an incomplete tail is kept for the next feed),
 * -EBADMSG for malformed JSON / non-object events / invalid UTF-8, -EMSGSIZE past
 * the size bound, or the callback's non-zero value. */
int watch_framer_feed(watch_framer *f, const char *buf, size_t len, watch_frame_cb cb, void *data, kf_error *err);
void watch_framer_free(watch_framer *f);

typedef struct kc_watch kc_watch;

typedef struct kc_watch_opts {
  const char *label_selector;
  const char *field_selector;
  const char *resource_version; /* resume point; NULL/"" starts from "most recent" */
  long timeout_seconds;         /* server-side timeout; default 300 */
  int max_depth;                /* nesting bound of an event (WATCH_TYPED_DEPTH for built-in kinds);
                                 * 0: KJ_MAX_DEPTH */
} kc_watch_opts;

/* type is "ADDED", "MODIFIED", "DELETED" or "BOOKMARK"; obj is borrowed. */
typedef void (*kc_watch_event_cb)(kc_watch *w, const char *type, json_object *obj, void *data);
/* Runs once: rc 0 when the server ended the watch normally, KC_ERR_GONE when the
 * resourceVersion is too old, KC_ERR_CANCELED after kc_watch_stop, else the error.
 * The watch is freed after this returns. */
typedef void (*kc_watch_end_cb)(kc_watch *w, int rc, const kf_error *err, void *data);

int kc_watch_start(kc_client *c, const kc_resource *res, const char *ns, const kc_watch_opts *o,
                   kc_watch_event_cb on_event, kc_watch_end_cb on_end, void *data, kc_watch **out, kf_error *err);
void kc_watch_stop(kc_watch *w);

#endif
