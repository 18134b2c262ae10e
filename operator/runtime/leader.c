#include <kf/leader.h>

#include <stdlib.h>
#include <string.h>

#include <kf/log.h>

struct leader_elector {
  kc_client *c;
  char *ns, *name, *identity;
  uint64_t lease_ms, renew_deadline_ms, retry_ms;
  void (*on_started)(leader_elector *, void *);
  void (*on_stopped)(leader_elector *, void *);
  void *data;
  uv_timer_t timer;
  int leader;
  int busy; /* a get/write is in flight */
  int closing;
  int was_leader;         /* leading when the release began */
  uint64_t last_renew_ms; /* loop time of our last successful renew */
  char *observed_record;  /* holder|renewTime|transitions of the last record seen */
  uint64_t observed_ms;   /* loop time when observed_record last changed */
  void (*release_done)(void *);
  void *release_data;
};

static void leader_tick(uv_timer_t *t);
static void leader_release_now(leader_elector *le);

static uv_loop_t *leader_loop(leader_elector *le) { return http_engine_loop(kc_client_engine(le->c)); }

leader_elector *leader_new(kc_client *c, const leader_opts *o) {
  leader_elector *le = kf_calloc(1, sizeof(*le));
  le->c = c;
  le->ns = kf_strdup(o->namespace_);
  le->name = kf_strdup(o->name);
  le->identity = kf_strdup(o->identity);
  le->lease_ms = o->lease_duration_ms ? o->lease_duration_ms : 15000;
  le->renew_deadline_ms = o->renew_deadline_ms ? o->renew_deadline_ms : 10000;
  le->retry_ms = o->retry_period_ms ? o->retry_period_ms : 2000;
  le->on_started = o->on_started_leading;
  le->on_stopped = o->on_stopped_leading;
  le->data = o->data;
  uv_timer_init(leader_loop(le), &le->timer);
  le->timer.data = le;
  return le;
}

int leader_is_leader(const leader_elector *le) { return le->leader; }

static void leader_set_leader(leader_elector *le, int leader) {
  if (le->leader == leader) return;
  le->leader = leader;
  KF_INFO(leader ? "became leader" : "stopped leading", "lease", le->name, "identity", le->identity);
  if (leader && le->on_started) le->on_started(le, le->data);
  if (!leader && le->on_stopped) le->on_stopped(le, le->data);
}

static json_object *leader_record(leader_elector *le, json_object *old_spec, int release) {
  json_object *lease = json_object_new_object(), *meta = json_object_new_object(), *spec = json_object_new_object();
  char *now = kc_micro_time_now();
  int transitions = 0;
  const char *old_holder = kc_obj_str(old_spec, "holderIdentity");
  json_object *t = kc_obj_get(old_spec, "leaseTransitions");
  if (t) transitions = json_object_get_int(t);
  if (!release && old_holder && old_holder[0] && strcmp(old_holder, le->identity) != 0) transitions++;
  json_object_object_add(lease, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
  json_object_object_add(lease, "kind", json_object_new_string("Lease"));
  json_object_object_add(meta, "name", json_object_new_string(le->name));
  json_object_object_add(meta, "namespace", json_object_new_string(le->ns));
  json_object_object_add(lease, "metadata", meta);
  json_object_object_add(spec, "holderIdentity", json_object_new_string(release ? "" : le->identity));
  json_object_object_add(spec, "leaseDurationSeconds",
                         json_object_new_int(release ? 1 : (int)((le->lease_ms + 999) / 1000)));
  const char *acquire = kc_obj_str(old_spec, "acquireTime");
  int keep_acquire = !release && old_holder && strcmp(old_holder, le->identity) == 0 && acquire;
  json_object_object_add(spec, "acquireTime", json_object_new_string(keep_acquire ? acquire : now));
  json_object_object_add(spec, "renewTime", json_object_new_string(now));
  json_object_object_add(spec, "leaseTransitions", json_object_new_int(transitions));
  json_object_object_add(lease, "spec", spec);
  free(now);
  return lease;
}

static void leader_schedule(leader_elector *le) {
  if (!le->closing) uv_timer_start(&le->timer, leader_tick, le->retry_ms, 0);
}

static void leader_check_deadline(leader_elector *le) {
  if (le->leader && uv_now(leader_loop(le)) - le->last_renew_ms > le->renew_deadline_ms) {
    KF_WARN("failed to renew lease within the deadline", "lease", le->name);
    leader_set_leader(le, 0);
  }
}

static void leader_write_done(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  leader_elector *le = data;
  (void)c;
  (void)obj;
  le->busy = 0;
  if (le->closing) {
    le->was_leader = le->was_leader || rc == 0;
    leader_release_now(le);
    return;
  }
  if (rc == 0) {
    le->last_renew_ms = uv_now(leader_loop(le));
    leader_set_leader(le, 1);
  } else {
    /* A conflict means another candidate wrote first: normal, not worth a warning. */
    if (rc != KC_ERR_CONFLICT && rc != KC_ERR_EXISTS)
      KF_WARN("lease write failed", "lease", le->name, "error", err ? err->msg : "");
    leader_check_deadline(le);
  }
  leader_schedule(le);
}

static void leader_get_done(kc_client *c, int rc, json_object *lease, const kf_error *err, void *data) {
  leader_elector *le = data;
  uint64_t now = uv_now(leader_loop(le));
  (void)c;
  if (le->closing) {
    le->busy = 0;
    leader_release_now(le);
    return;
  }
  if (rc == KC_ERR_NOTFOUND) {
    json_object *rec = leader_record(le, NULL, 0);
    if (kc_create(le->c, &KC_LEASES, le->ns, rec, leader_write_done, le) != 0) le->busy = 0, leader_schedule(le);
    json_object_put(rec);
    return;
  }
  if (rc != 0) {
    le->busy = 0;
    KF_WARN("lease read failed", "lease", le->name, "error", err ? err->msg : "");
    leader_check_deadline(le);
    leader_schedule(le);
    return;
  }
  json_object *spec = kc_obj_get(lease, "spec");
  const char *holder = kc_obj_str(spec, "holderIdentity");
  const char *renew = kc_obj_str(spec, "renewTime");
  json_object *dur = kc_obj_get(spec, "leaseDurationSeconds");
  json_object *tr = kc_obj_get(spec, "leaseTransitions");
  char *record = kf_asprintf("%s|%s|%d", holder ? holder : "", renew ? renew : "", tr ? json_object_get_int(tr) : 0);
  if (!le->observed_record || strcmp(record, le->observed_record) != 0) {
    free(le->observed_record);
    le->observed_record = record;
    le->observed_ms = now;
  } else {
    free(record);
  }
  uint64_t duration_ms = dur ? (uint64_t)json_object_get_int(dur) * 1000 : le->lease_ms;
  int mine = holder && strcmp(holder, le->identity) == 0;
  int free_or_expired = !holder || !holder[0] || now >= le->observed_ms + duration_ms;
  if (!mine && !free_or_expired) {
    le->busy = 0;
    leader_set_leader(le, 0);
    leader_schedule(le);
    return;
  }
  json_object *rec = leader_record(le, spec, 0);
  json_object_object_add(kc_obj_get(rec, "metadata"), "resourceVersion",
                         json_object_new_string(kc_obj_str(lease, "metadata.resourceVersion")));
  if (kc_update(le->c, &KC_LEASES, le->ns, rec, NULL, leader_write_done, le) != 0) le->busy = 0, leader_schedule(le);
  json_object_put(rec);
}

static void leader_tick(uv_timer_t *t) {
  leader_elector *le = t->data;
  if (le->busy || le->closing) return;
  le->busy = 1;
  if (kc_get(le->c, &KC_LEASES, le->ns, le->name, leader_get_done, le) != 0) {
    le->busy = 0;
    leader_schedule(le);
  }
}

void leader_start(leader_elector *le) { uv_timer_start(&le->timer, leader_tick, 0, 0); }

static void leader_free(uv_handle_t *h) {
  leader_elector *le = h->data;
  void (*done)(void *) = le->release_done;
  void *data = le->release_data;
  free(le->ns);
  free(le->name);
  free(le->identity);
  free(le->observed_record);
  free(le);
  if (done) done(data);
}

static void leader_released(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  leader_elector *le = data;
  (void)c;
  (void)obj;
  if (rc != 0) KF_WARN("lease release failed", "lease", le->name, "error", err ? err->msg : "");
  else KF_INFO("released lease", "lease", le->name);
  uv_close((uv_handle_t *)&le->timer, leader_free);
}

static void leader_release_get(kc_client *c, int rc, json_object *lease, const kf_error *err, void *data) {
  leader_elector *le = data;
  if (rc != 0 || !kc_obj_str(lease, "spec.holderIdentity") ||
      strcmp(kc_obj_str(lease, "spec.holderIdentity"), le->identity) != 0) {
    leader_released(c, rc, NULL, err, le);
    return;
  }
  json_object *rec = leader_record(le, kc_obj_get(lease, "spec"), 1);
  json_object_object_add(kc_obj_get(rec, "metadata"), "resourceVersion",
                         json_object_new_string(kc_obj_str(lease, "metadata.resourceVersion")));
  kc_request r = {.method = "PUT",
                  .res = &KC_LEASES,
                  .namespace_ = le->ns,
                  .name = le->name,
                  .content_type = "application/json",
                  .timeout_ms = 5000,
                  .no_retry = 1};
  size_t len;
  r.body = json_object_to_json_string_length(rec, KC_JSON_FLAGS, &len);
  r.body_len = len;
  if (kc_do(le->c, &r, leader_released, le) != 0) leader_released(c, -EIO, NULL, NULL, le);
  json_object_put(rec);
}

static void leader_release_now(leader_elector *le) {
  kc_request r = {
      .method = "GET", .res = &KC_LEASES, .namespace_ = le->ns, .name = le->name, .timeout_ms = 5000, .no_retry = 1};
  if (!le->was_leader || kc_do(le->c, &r, leader_release_get, le) != 0)
    uv_close((uv_handle_t *)&le->timer, leader_free);
}

void leader_release_and_close(leader_elector *le, void (*done)(void *data), void *data) {
  le->was_leader = le->leader;
  le->closing = 1;
  le->release_done = done;
  le->release_data = data;
  uv_timer_stop(&le->timer);
  le->leader = 0;
  /* A read or write in flight finishes first; its callback continues the release. */
  if (!le->busy) leader_release_now(le);
}
