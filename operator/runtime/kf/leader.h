/* leader: leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection with the LeaseLock.
 *
 * Every retry period a candidate reads the Lease; it takes it when it is free
 * (no holder) or expired (renewTime + leaseDurationSeconds passed, judged by
 * the local clock since the record last changed, so clock skew between
 * candidates does not matter), and the leader renews it. Writes carry the
 * resourceVersion read, so two candidates can never both win. A leader that
 * cannot renew within the renew deadline stops leading. Release (on SIGTERM)
 * empties holderIdentity so a successor need not wait for expiry. */
#ifndef KF_LEADER_H
#define KF_LEADER_H

#include <stdint.h>

#include <kf/kc.h>

typedef struct leader_elector leader_elector;

typedef struct leader_opts {
  const char *namespace_;
  const char *name;
  const char *identity;       /* unique per process, e.g. hostname_pid */
  uint64_t lease_duration_ms; /* default 15000 */
  uint64_t renew_deadline_ms; /* default 10000 */
  uint64_t retry_period_ms;   /* default 2000 */
  void (*on_started_leading)(leader_elector *le, void *data);
  void (*on_stopped_leading)(leader_elector *le, void *data);
  void *data;
} leader_opts;

leader_elector *leader_new(kc_client *c, const leader_opts *o);
void leader_start(leader_elector *le);
int leader_is_leader(const leader_elector *le);
/* Gives up the lease if held (one bounded request), then calls done and frees the elector. */
void leader_release_and_close(leader_elector *le, void (*done)(void *data), void *data);

#endif
