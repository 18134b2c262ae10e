/* The member's cluster DNS, for a join and (run->deleting) an unjoin: a marked CoreDNS Corefile
 * block or the kube-dns keys (clusterdns_kubedns_plan does the bookkeeping), written only when
 * they differ, and the DNS ConfigMap watched so an edit is undone within seconds.
 *
 *   fc_dns             mode None / KubeDNS / CoreDNS / Auto (coredns, else kube-dns)
 *   fc_dns_configmap   the ConfigMap read: plan, write, or the condition saying why not
 *   fc_dns_written     the write's result; then the next step */
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
  if (!run->deleting)
    fc_cond_set(run, C_DNS, "True", "Configured", "the member's cluster DNS forwards %s",
                kc_obj_str(run->fed, "spec.dns.zoneName"));
  steps_next(&run->steps);
}

static void fc_dns_entry(fc_run *run, clusterdns_entry *e, const char **ns_buf, size_t max) {
  json_object *nss = kc_obj_get(run->fed, "spec.dns.corednsNameservers");
  size_t n = 0;
  const char *provider = kc_obj_str(run->fed, "spec.dns.provider");
  for (size_t i = 0; nss && kf_streq(provider, "coredns") && i < json_object_array_length(nss) && n + 1 < max; i++)
    ns_buf[n++] = json_object_get_string(json_object_array_get_idx(nss, i));
  ns_buf[n] = NULL;
  e->federation = run->spec.fed_name;
  e->zone = kc_obj_str(run->fed, "spec.dns.zoneName");
  e->nameservers = ns_buf;
}

static void fc_dns_write(fc_run *run, int rc, const char *what) {
  if (rc != 0) fc_stop(run, rc, C_DNS, "DNSUpdateFailed", "updating ConfigMap kube-system/%s could not start", what);
}

static void fc_corefile(fc_run *run, kc_client *c, json_object *cm, const clusterdns_entry *e) {
  const char *corefile = kc_obj_key_str(kc_obj_get(cm, "data"), "Corefile");
  char *out = NULL;
  kf_error derr;
  if (!corefile && !run->deleting) {
    /* A Corefile of only our block would break the member's cluster DNS. */
    fc_stop(run, 0, C_DNS, "CorefileMissing",
            "ConfigMap kube-system/coredns in the member has no Corefile key; left unchanged");
    return;
  }
  int r = run->deleting ? clusterdns_corefile_remove(corefile ? corefile : "", run->spec.fed_name, &out, &derr)
                        : clusterdns_corefile_add(corefile ? corefile : "", e, &out, &derr);
  if (r != 0) {
    fc_stop(run, 0, C_DNS, "CorefileConflict", "the member's Corefile was left unchanged: %s", derr.msg);
    return;
  }
  if (kf_streq(out, corefile)) {
    free(out);
    fc_dns_ok(run, "the member's CoreDNS Corefile forwards the federation zone");
    return;
  }
  /* An update with the resourceVersion read: a concurrent edit is a conflict, retried, never lost. */
  json_object *upd = json_object_get(cm), *d = kc_obj_get(upd, "data");
  if (!d) kj_set(upd, "data", d = kj_obj());
  kj_str(d, "Corefile", out);
  free(out);
  fc_dns_write(run, kc_update(c, &KC_CONFIGMAPS, FC_DNS_NS, upd, NULL, fc_dns_written, run), "coredns");
  json_object_put(upd);
}

static void fc_kubedns(fc_run *run, kc_client *c, json_object *cm, const clusterdns_entry *e) {
  char *created = kf_asprintf(API_ANNOTATION_CREATED_KEYS "%s", run->spec.fed_name);
  char *original = kf_asprintf(API_ANNOTATION_ORIGINAL_KEYS "%s", run->spec.fed_name);
  clusterdns_marks marks = {created, original};
  json_object *patch = NULL;
  kf_error derr;
  int r = clusterdns_kubedns_plan(cm, e, run->deleting, &marks, &patch, &derr);
  free(created);
  free(original);
  if (r != 0) {
    fc_stop(run, 0, C_DNS, "KubeDNSConflict", "the member's kube-dns ConfigMap was left unchanged: %s", derr.msg);
  } else if (!patch) {
    fc_dns_ok(run, "the member's kube-dns ConfigMap has the federation's entries");
  } else {
    fc_dns_write(run,
                 kc_patch(c, &KC_CONFIGMAPS, FC_DNS_NS, "kube-dns", KC_PATCH_MERGE, patch, NULL, fc_dns_written, run),
                 "kube-dns");
    json_object_put(patch);
  }
}

/* Watches the ConfigMap the join edits (by name), so an edit of it reconciles the member. */
static void fc_dns_watch(fc_run *run, const char *which) {
  informer_opts o;
  fc_watch_opts(&run->spec, W_DNS, NULL, which, &o);
  if (!run->deleting) clusters_watch(run->f->members, run->key, W_DNS, which ? &o : NULL);
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
  const char *nss[DNS_MAX_NAMESERVERS + 1];
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
  int rc = kc_get(run->member, &KC_CONFIGMAPS, FC_DNS_NS, run->dns_cm, fc_dns_configmap, run);
  if (rc != 0) fc_stop(run, rc, C_DNS, "ReadFailed", "reading ConfigMap kube-system/%s could not start", run->dns_cm);
}
