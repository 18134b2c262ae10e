/* fed: the Federation controller (the declarative `kubefed init`).
 *
 * Level-based: each reconcile reads the Federation and its children from the
 * informer caches and moves the world one step towards the spec. Steps so far:
 * the certificate authority (Secret F-ca, generated off the loop, owned by the
 * Federation; or the user's CA from spec.certificates.caSecretRef), reported as
 * the CertificatesReady condition with observedGeneration. Status is written
 * only when it changes, and .spec is never written. */
#ifndef KF_FEDERATION_H
#define KF_FEDERATION_H

#include <uv.h>

#include "events.h"
#include "kclient.h"
#include "metrics.h"

extern const kc_resource FED_FEDERATIONS;

typedef struct fed_controller fed_controller;

/* ns NULL or "": all namespaces. metrics and events may be NULL. */
fed_controller *fed_controller_new(uv_loop_t *loop, kc_client *c, const char *ns, kf_metrics *metrics,
                                   ev_recorder *events);
/* Starts the informers (every replica keeps its caches warm). */
void fed_controller_start_informers(fed_controller *f);
int fed_controller_synced(const fed_controller *f);
/* Starts reconciling (the leader only). */
void fed_controller_start(fed_controller *f);
/* Reconciles still running finish first; then everything is freed. */
void fed_controller_close(fed_controller *f);

#endif
