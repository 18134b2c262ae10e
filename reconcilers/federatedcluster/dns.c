/* The member's cluster DNS, for a join and (run->deleting) an unjoin: a marked CoreDNS Corefile
 * block or the kube-dns keys (clusterdns_kubedns_plan does the bookkeeping), written only when
 * they differ, and the DNS ConfigMap watched so an edit is undone within seconds.
 *
 * The nameservers are checked against the port the member's DNS serves (the Corefile's, 53 for
 * kube-dns) before anything is written: a loopback one on that port would make the member's DNS
 * forward the zone to itself (refused, ForwardLoop); a loopback one elsewhere works only where
 * that DNS shares the host's network, as in single-host test setups (a Warning event). Without
 * nameservers (spec.dns.corednsNameservers unset, or another provider) CoreDNS gets no block and
 * kube-dns only the `federations` entry, as kubefed v1 did.
 *
 *   fc_dns             mode None / KubeDNS / CoreDNS / Auto (coredns, else kube-dns)
 *   fc_dns_configmap   the ConfigMap read: plan, write, or the condition saying why not
 *   fc_dns_written     the write's result; then the next step */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kf/kj.h>

#include "clusterdns/clusterdns.h"
#include "fc.h"

static void fc_dns_ok(fc_run *run, const char *what) {
  if (!run->deleting) fc_cond_set(run, C_DNS, "True", "Configured", "%s", what);
  steps_next(&run->steps);
}

static void fc_dns_written(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)c;
  (void)obj;
  if (rc != 0) {
    /* Forbidden (RBAC removed) is no transient error: no fast retry, a reason that says it. */
    fc_stop(run, kc_err_terminal(rc) ? 0 : rc, C_DNS, rc == KC_ERR_FORBIDDEN ? "DNSUpdateForbidden" : "DNSUpdateFailed",
            "updating the member's DNS ConfigMap failed (nothing was changed): %s", cond_error_text(err, "failed"));
    return;
  }
  /* The condition was set with the write (fc_dns_configured). */
  steps_next(&run->steps);
}

/* ns_buf holds max entries and the NULL: one more than clusterdns accepts, so that too many are
 * refused with a message rather than cut silently. */
static void fc_dns_entry(fc_run *run, clusterdns_entry *e, const char **ns_buf, size_t max) {
  json_object *nss = kc_obj_get(run->fed, "spec.dns.corednsNameservers");
  size_t n = 0;
  const char *provider = kc_obj_str(run->fed, "spec.dns.provider");
  for (size_t i = 0; json_object_is_type(nss, json_type_array) && kf_streq(provider, "coredns") &&
                     i < json_object_array_length(nss) && n < max;
       i++)
    ns_buf[n++] = json_object_get_string(json_object_array_get_idx(nss, i));
  ns_buf[n] = NULL;
  e->federation = run->spec.fed_name;
  e->zone = kc_obj_str(run->fed, "spec.dns.zoneName");
  e->nameservers = ns_buf;
}

/* "a b c" of the entry's nameservers, at most size - 1 bytes. */
static void fc_dns_list(const clusterdns_entry *e, char *buf, size_t size) {
  size_t len = 0;
  buf[0] = '\0';
  for (const char *const *p = e->nameservers; p && *p && len + 1 < size; p++) {
    int w = snprintf(buf + len, size - len, "%s%s", len ? " " : "", *p);
    if (w < 0) break;
    len += (size_t)w;
  }
}

/* DNSConfigured=True: what the member's DNS was told, the same words whether this run wrote it
 * or found it written (a condition message stable across reconciles). Written is not applied:
 * CoreDNS reads its ConfigMap volume once the kubelet syncs it (up to about a minute) and only
 * with the reload plugin; kube-dns watches its ConfigMap itself. */
static void fc_dns_configured(fc_run *run, const clusterdns_entry *e, const clusterdns_corefile_facts *coredns,
                              const char *loopback) {
  char list[DNS_MAX_NAMESERVERS * 64];
  const char *provider = kc_obj_str(run->fed, "spec.dns.provider"), *zone = e->zone ? e->zone : "";
  const char *why_none = kf_streq(provider, "coredns")
                             ? "spec.dns.corednsNameservers is not set, so members resolve the zone through "
                               "their upstream DNS"
                             : "the provider serves the zone in public DNS";
  char tail[256] = "";
  if (loopback)
    snprintf(tail, sizeof(tail),
             "; %s is a loopback address, reachable only where the member's DNS shares the host's "
             "network (see the LoopbackNameserver event)",
             loopback);
  fc_dns_list(e, list, sizeof(list));
  if (run->deleting) return;
  if (coredns && !list[0])
    fc_cond_set(run, C_DNS, "True", "NotForwarded", "the member's Corefile has no block for zone %s: %s", zone,
                why_none);
  else if (coredns)
    fc_cond_set(run, C_DNS, "True", "Configured",
                "written to the member's Corefile: zone %s forwarded to %s by a block on port %d; %s%s", zone, list,
                coredns->port,
                coredns->reload ? "CoreDNS applies it at its next reload"
                                : "the Corefile has no reload plugin, so CoreDNS applies it only when its pods restart",
                tail);
  else if (!list[0])
    fc_cond_set(run, C_DNS, "True", "Configured",
                "written to the member's kube-dns ConfigMap: federations lists %s=%s, no stub domain (%s)",
                run->spec.fed_name, zone, why_none);
  else
    fc_cond_set(run, C_DNS, "True", "Configured",
                "written to the member's kube-dns ConfigMap: federations lists %s=%s, stub domain %s -> %s%s",
                run->spec.fed_name, zone, zone, list, tail);
}

/* The nameservers against the port the member's DNS serves; 0 when they may be written (and
 * *loopback names one to warn about), else the run is stopped. */
static int fc_dns_check(fc_run *run, const clusterdns_entry *e, int port, const char **loopback) {
  kf_error derr;
  *loopback = NULL;
  if (run->deleting) return 0; /* what was written goes, whatever it was */
  int r = clusterdns_check_nameservers(e->nameservers, port, loopback, &derr);
  if (r == -ELOOP) fc_stop(run, 0, C_DNS, "ForwardLoop", "the member's DNS was left unchanged: %s", derr.msg);
  else if (r != 0)
    fc_stop(run, 0, C_DNS, "InvalidNameserver", "the member's DNS was left unchanged: spec.dns.corednsNameservers: %s",
            derr.msg);
  return r;
}

/* Said once per write, not per reconcile: the event recorder would only count repeats anyway. */
static void fc_dns_warn_loopback(fc_run *run, const char *loopback) {
  if (!loopback) return;
  ev_emit(run->f->events, run->fc, "Warning", "LoopbackNameserver", "Join",
          "nameserver %s is a loopback address: in a pod, loopback is the pod itself, so the member's cluster DNS "
          "reaches it only if it runs in the host's network (single-host setups such as tests); use an address "
          "the member's pods can reach",
          loopback);
}

static void fc_dns_write(fc_run *run, int rc, const char *what) {
  if (rc != 0) fc_stop(run, rc, C_DNS, "DNSUpdateFailed", "updating ConfigMap kube-system/%s could not start", what);
}

static void fc_corefile(fc_run *run, kc_client *c, json_object *cm, const clusterdns_entry *e) {
  const char *corefile = kc_obj_key_str(kc_obj_get(cm, "data"), "Corefile");
  char *out = NULL;
  const char *loopback = NULL;
  clusterdns_corefile_facts facts = {.port = 53};
  kf_error derr;
  int forward = e->nameservers && e->nameservers[0];
  if (!corefile && !run->deleting) {
    /* A Corefile of only our block would break the member's cluster DNS. */
    fc_stop(run, 0, C_DNS, "CorefileMissing",
            "ConfigMap kube-system/coredns in the member has no Corefile key; left unchanged");
    return;
  }
  if (!run->deleting && forward && clusterdns_corefile_inspect(corefile, run->spec.fed_name, &facts, &derr) != 0) {
    fc_stop(run, 0, C_DNS, "CorefileConflict", "the member's Corefile was left unchanged: %s", derr.msg);
    return;
  }
  if (fc_dns_check(run, e, facts.port, &loopback) != 0) return;
  /* No nameservers: no forward block (one we wrote before goes). */
  int r = run->deleting || !forward
              ? clusterdns_corefile_remove(corefile ? corefile : "", run->spec.fed_name, &out, &derr)
              : clusterdns_corefile_add(corefile, e, &out, &derr);
  if (r != 0) {
    fc_stop(run, 0, C_DNS, r == -ELOOP ? "ForwardLoop" : "CorefileConflict",
            "the member's Corefile was left unchanged: %s", derr.msg);
    return;
  }
  fc_dns_configured(run, e, &facts, loopback);
  if (kf_streq(out, corefile)) {
    free(out);
    steps_next(&run->steps);
    return;
  }
  fc_dns_warn_loopback(run, loopback);
  /* An update with the resourceVersion read: a concurrent edit is a conflict, retried, never lost. */
  json_object *upd = json_object_get(cm), *d = kc_obj_get(upd, "data");
  if (!d) kj_set(upd, "data", d = kj_obj());
  kj_str(d, "Corefile", out);
  free(out);
  fc_dns_write(run, kc_update(c, &KC_CONFIGMAPS, FC_DNS_NS, upd, NULL, fc_dns_written, run), "coredns");
  json_object_put(upd);
}

/* The delete of a kube-dns ConfigMap the join created: gone already is as good. */
static void fc_dns_deleted(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fc_dns_written(c, rc == KC_ERR_NOTFOUND ? 0 : rc, obj, err, data);
}

/* cm: the member's kube-dns ConfigMap, or NULL for a kube-dns that has none (join only): then the
 * join creates it, marked as ours, and the unjoin deletes it once nothing else is in it. */
static void fc_kubedns(fc_run *run, kc_client *c, json_object *cm, const clusterdns_entry *e) {
  const char *loopback = NULL;
  if (fc_dns_check(run, e, 53, &loopback) != 0) return; /* kube-dns's dnsmasq serves on 53 */
  char *created = kf_asprintf(API_ANNOTATION_CREATED_KEYS "%s", run->spec.fed_name);
  char *original = kf_asprintf(API_ANNOTATION_ORIGINAL_KEYS "%s", run->spec.fed_name);
  char *created_cm = kf_asprintf(API_ANNOTATION_CREATED_CONFIGMAP "%s", run->spec.fed_name);
  clusterdns_marks marks = {created, original};
  json_object *patch = NULL;
  kf_error derr;
  int r = cm ? clusterdns_kubedns_plan(cm, e, run->deleting, &marks, &patch, &derr)
             : clusterdns_kubedns_new(e, &marks, created_cm, &patch, &derr);
  free(created);
  free(original);
  if (r != 0) {
    free(created_cm);
    fc_stop(run, 0, C_DNS, "KubeDNSConflict", "the member's kube-dns ConfigMap was left unchanged: %s", derr.msg);
    return;
  }
  fc_dns_configured(run, e, NULL, loopback);
  if (!patch) {
    free(created_cm);
    steps_next(&run->steps);
    return;
  }
  fc_dns_warn_loopback(run, loopback);
  if (!cm) {
    ev_emit(run->f->events, run->fc, "Normal", "KubeDNSConfigMapCreated", "Join",
            "the member runs kube-dns without ConfigMap kube-system/kube-dns: created it with the federation's "
            "entries (deleted again on unjoin when nothing else is in it)");
    fc_dns_write(run, kc_create(c, &KC_CONFIGMAPS, FC_DNS_NS, patch, fc_dns_written, run), "kube-dns");
  } else if (run->deleting && clusterdns_kubedns_unjoin_deletes(cm, patch, created_cm, API_ANNOTATION_CREATED_KEYS)) {
    /* Only the version we read: an entry added meanwhile makes it a conflict, and a retry. */
    kc_delete_opts o = {.precondition_resource_version = kc_obj_str(cm, "metadata.resourceVersion")};
    fc_dns_write(run, kc_delete(c, &KC_CONFIGMAPS, FC_DNS_NS, "kube-dns", &o, fc_dns_deleted, run), "kube-dns");
  } else {
    if (run->deleting) kj_set(kc_obj_get(patch, "metadata.annotations"), created_cm, NULL); /* no longer ours */
    fc_dns_write(run,
                 kc_patch(c, &KC_CONFIGMAPS, FC_DNS_NS, "kube-dns", KC_PATCH_MERGE, patch, NULL, fc_dns_written, run),
                 "kube-dns");
  }
  free(created_cm);
  json_object_put(patch);
}

/* Watches the ConfigMap the join edits (by name), so an edit of it reconciles the member. */
static void fc_dns_watch(fc_run *run, const char *which) {
  informer_opts o;
  fc_watch_opts(&run->spec, W_DNS, NULL, which, &o);
  if (!run->deleting) clusters_watch(run->f->members, run->key, W_DNS, which ? &o : NULL);
}

static void fc_dns_configmap(kc_client *c, int rc, json_object *cm, const kf_error *err, void *data);

/* The kube-dns Deployment, looked up when its ConfigMap is missing: there, the ConfigMap is
 * created; not there, the ConfigMap's absence is answered as before. */
static void fc_dns_kubedns_deployment(kc_client *c, int rc, json_object *dep, const kf_error *err, void *data) {
  fc_run *run = data;
  (void)dep;
  if (rc == KC_ERR_NOTFOUND) {
    fc_dns_configmap(c, KC_ERR_NOTFOUND, NULL, NULL, run);
    return;
  }
  if (rc != 0) {
    fc_stop(run, kc_err_terminal(rc) ? 0 : rc, C_DNS, "ReadFailed",
            "reading Deployment kube-system/kube-dns failed: %s", cond_error_text(err, "failed"));
    return;
  }
  fc_dns_watch(run, "kube-dns");
  clusterdns_entry e;
  const char *nss[DNS_MAX_NAMESERVERS + 2];
  fc_dns_entry(run, &e, nss, DNS_MAX_NAMESERVERS + 1);
  fc_kubedns(run, c, NULL, &e);
}

static void fc_dns_configmap(kc_client *c, int rc, json_object *cm, const kf_error *err, void *data) {
  fc_run *run = data;
  const char *which = run->dns_cm;
  int coredns = strcmp(which, "coredns") == 0, auto_mode = kf_streq(run->spec.dns_mode, "Auto");
  if (rc == KC_ERR_NOTFOUND && coredns && auto_mode) {
    free(run->dns_cm);
    run->dns_cm = kf_strdup("kube-dns");
    int r = kc_get(c, &KC_CONFIGMAPS, FC_DNS_NS, "kube-dns", fc_dns_configmap, run);
    if (r != 0) fc_stop(run, r, C_DNS, "ReadFailed", "reading ConfigMap kube-system/kube-dns could not start");
    return;
  }
  if (rc == KC_ERR_NOTFOUND && !coredns && !run->deleting && !run->dns_checked_kubedns) {
    /* GKE runs kube-dns without its ConfigMap: kube-dns reads one once it exists, so a kube-dns
     * Deployment is reason enough to create it. */
    run->dns_checked_kubedns = 1;
    int r = kc_get(c, &KC_DEPLOYMENTS, FC_DNS_NS, "kube-dns", fc_dns_kubedns_deployment, run);
    if (r != 0) fc_stop(run, r, C_DNS, "ReadFailed", "reading Deployment kube-system/kube-dns could not start");
    return;
  }
  if (rc == KC_ERR_NOTFOUND) {
    fc_dns_watch(run, auto_mode ? "coredns" : which); /* its creation is worth a look */
    if (run->deleting) {
      steps_next(&run->steps);
    } else if (auto_mode) {
      fc_cond_set(
          run, C_DNS, "False", "NoClusterDNS",
          "found neither ConfigMap kube-system/coredns nor kube-system/kube-dns in the member; set spec.dns.mode "
          "to None to skip DNS");
      steps_next(&run->steps);
    } else {
      fc_stop(run, 0, C_DNS, "DNSConfigMapMissing", "spec.dns.mode is %s but ConfigMap kube-system/%s does not exist",
              run->spec.dns_mode, which);
    }
    return;
  }
  if (rc != 0) {
    fc_stop(run, kc_err_terminal(rc) ? 0 : rc, C_DNS, "ReadFailed", "reading ConfigMap kube-system/%s failed: %s",
            which, cond_error_text(err, "failed"));
    return;
  }
  fc_dns_watch(run, which);
  clusterdns_entry e;
  const char *nss[DNS_MAX_NAMESERVERS + 2];
  fc_dns_entry(run, &e, nss, DNS_MAX_NAMESERVERS + 1);
  if (coredns) fc_corefile(run, c, cm, &e);
  else fc_kubedns(run, c, cm, &e);
}

void fc_dns(void *ctx) {
  fc_run *run = ctx;
  if (!run->member) { /* unjoin of an unreachable member (forced) */
    steps_next(&run->steps);
    return;
  }
  if (kf_streq(run->spec.dns_mode, "None")) {
    fc_dns_watch(run, NULL);
    fc_dns_ok(run, "spec.dns.mode is None: the member's DNS is left alone");
    return;
  }
  free(run->dns_cm);
  run->dns_cm = kf_strdup(kf_streq(run->spec.dns_mode, "KubeDNS") ? "kube-dns" : "coredns");
  run->dns_checked_kubedns = 0;
  int rc = kc_get(run->member, &KC_CONFIGMAPS, FC_DNS_NS, run->dns_cm, fc_dns_configmap, run);
  if (rc != 0) fc_stop(run, rc, C_DNS, "ReadFailed", "reading ConfigMap kube-system/%s could not start", run->dns_cm);
}
