/* ev: Kubernetes Events (events.k8s.io/v1) with aggregation, so a hot
 * reconcile loop cannot flood the apiserver.
 *
 * The same (object, type, reason, action, note) within 6 minutes becomes one
 * Event whose series.count grows; counts are flushed by one PATCH per Event at
 * most every 30 s. New Events per object pass a token bucket (burst 25, one
 * per 5 minutes after that, like client-go's spam filter); the table of
 * recent Events is bounded. Writes go out one at a time, like client-go's
 * broadcaster, queued up to 1,000 (then dropped): Events never compete with
 * the writes they report. Notes must not contain secret values. */
#ifndef KF_EV_H
#define KF_EV_H

#include <json-c/json.h>
#include <stdint.h>

#include <kf/kc.h>

typedef struct ev_recorder ev_recorder;

ev_recorder *ev_recorder_new(kc_client *c, const char *controller, const char *instance);
/* regarding: the object the event is about (apiVersion, kind, metadata.{name,namespace,uid}). */
void ev_emit(ev_recorder *r, json_object *regarding, const char *type, const char *reason, const char *action,
             const char *fmt, ...) __attribute__((format(printf, 6, 7)));
uint64_t ev_recorder_posted(const ev_recorder *r);  /* Events sent or queued to be */
uint64_t ev_recorder_dropped(const ev_recorder *r); /* refused by the spam filter or bounds */
/* Flushes pending counts (bounded, best effort) and frees the recorder. */
void ev_recorder_close(ev_recorder *r);

#endif
