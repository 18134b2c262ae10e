/* clusterdns: a member cluster's DNS configuration edits, as pure functions.
 *
 * Joining a member makes the federation's zone resolve inside it; unjoining
 * undoes exactly that and nothing else. Two shapes of in-cluster DNS exist:
 *
 *  - CoreDNS (ConfigMap kube-system/coredns, key Corefile): we add a server
 *    block for the zone between comment markers naming the federation, so
 *    removal finds our bytes without guessing and restores the rest of the
 *    file byte for byte, and so every federation joined to the member owns
 *    its own block.
 *  - kube-dns (ConfigMap kube-system/kube-dns): `federations` (a comma list
 *    `name=domain`) and `stubDomains` (JSON: domain -> ["ip[:port]", ...]),
 *    merged entry by entry: other federations and the user's stub domains are
 *    kept, in their order. kubefed v1 deleted the whole stubDomains key on
 *    unjoin; we remove only our entry.
 *
 * Nothing here talks to a cluster: the reconciler reads the ConfigMaps, calls
 * these, and writes what they return. Input is untrusted (a user may have put
 * anything in those ConfigMaps): garbage gives -EINVAL with a message, never a
 * crash, and inputs over DNS_MAX_CONFIG_BYTES give -EFBIG. */
#ifndef KF_CLUSTERDNS_H
#define KF_CLUSTERDNS_H

#include <json-c/json.h>

#include <kf/error.h>

/* A ConfigMap holds at most 1 MiB; anything larger is not a real Corefile. */
#define DNS_MAX_CONFIG_BYTES (1024 * 1024)
/* CoreDNS's forward plugin accepts at most 15 upstreams. */
#define DNS_MAX_NAMESERVERS 15

#define DNS_KUBEDNS_FEDERATIONS "federations"
#define DNS_KUBEDNS_STUBDOMAINS "stubDomains"

typedef struct clusterdns_entry {
  const char *federation;         /* Federation name: the marker and the `federations` key */
  const char *zone;               /* e.g. "example.com." (trailing dot optional on input) */
  const char *const *nameservers; /* NULL-terminated host[:port] list; may be NULL/empty for non-coredns providers */
} clusterdns_entry;

/* The federation must be a DNS-1123 label, the zone a DNS-1123 subdomain
 * (one trailing dot allowed; compared and written in lower case, without the
 * dot, as kube-dns requires), each nameserver an IPv4 or IPv6 address with an
 * optional port ("10.0.0.10", "10.0.0.10:53", "fd00::10", "[fd00::10]:53"):
 * both kube-dns and CoreDNS's forward refuse host names, and anything else
 * could inject configuration. A bad entry is -EINVAL naming the field. */

/* What a nameserver is to a member's cluster DNS serving on serving_port (the port of the
 * Corefile's server blocks, clusterdns_corefile_inspect; 53 for kube-dns). */
typedef enum {
  CLUSTERDNS_NS_OK,       /* an address outside the DNS pod */
  CLUSTERDNS_NS_LOOPBACK, /* loopback on another port: in a pod, the pod itself; works only where the member's
                           * DNS shares the host's network (single-host setups such as the tests) */
  CLUSTERDNS_NS_SELF,     /* loopback on serving_port (a loopback without a port means 53): the member's DNS
                           * would forward the zone to itself, each query recursing until it times out */
  CLUSTERDNS_NS_INVALID,  /* not IP[:port], or unspecified (0.0.0.0, ::) or link-local (169.254/16, 224.0.0/24,
                           * fe80::/10, ff02::/16): nothing a pod can forward to */
} clusterdns_ns_kind;
clusterdns_ns_kind clusterdns_nameserver_kind(const char *ns, int serving_port);
/* The join's check of the nameservers (NULL-terminated, may be NULL): 0 when they may be written,
 * with *loopback (may be NULL) the first CLUSTERDNS_NS_LOOPBACK one or NULL, worth a Warning;
 * -EINVAL (message) for more than DNS_MAX_NAMESERVERS or an invalid one; -ELOOP (message) for a
 * CLUSTERDNS_NS_SELF one. Pure. */
int clusterdns_check_nameservers(const char *const *nameservers, int serving_port, const char **loopback,
                                 kf_error *err);

/* What the join needs to know of a Corefile before editing it. */
typedef struct clusterdns_corefile_facts {
  int port;   /* the port its server blocks listen on (53 when none names one): ours listens there too */
  int reload; /* a server block has the reload plugin: CoreDNS picks an edit up without a restart */
} clusterdns_corefile_facts;
/* Reads the Corefile as clusterdns_corefile_add does, leaving out federation's own block: -EINVAL
 * (message) for the files add refuses (see there) and when server blocks listen on different
 * ports (which one would our block's queries arrive on?); -EFBIG over DNS_MAX_CONFIG_BYTES. */
int clusterdns_corefile_inspect(const char *corefile, const char *federation, clusterdns_corefile_facts *out,
                                kf_error *err);

/* CoreDNS Corefile. Adds or replaces our marked block for e->federation:
 *
 *   # BEGIN kubefed.dev <federation>
 *   <zone>:<port> {
 *       errors
 *       cache 30
 *       forward . <nameserver> ...
 *   }
 *   # END kubefed.dev <federation>
 *
 * A new block goes after the last non-blank line, preceded by one blank line
 * (trailing blank lines of the file stay after it; a file without a final
 * newline keeps having none, with our block last). The file's line ending
 * (CRLF when its first line ends in CRLF) is used for our lines. A block that
 * exists is replaced in place. <port> is the port of the Corefile's other server blocks
 * (clusterdns_corefile_inspect): CoreDNS run as non-root serves on 5353 or so behind a Service
 * mapping 53, and a block on :53 would then fail to bind and receive nothing. Needs at least one
 * nameserver; a loopback one on <port> is -ELOOP (clusterdns_check_nameservers).
 * Returns 0 and a new malloc'd Corefile in *out; -EINVAL (message) when the
 * Corefile has unbalanced or duplicated markers for that federation, has
 * unbalanced braces or an unterminated quote or server block (we would append
 * into someone else's block), or when another block (not ours for this
 * federation: a user's `example.com:53 {`, or another federation's) already
 * serves the zone, or when server blocks listen on different ports; -EFBIG over DNS_MAX_CONFIG_BYTES. On error *out
 * is NULL and the caller changes nothing. */
int clusterdns_corefile_add(const char *corefile, const clusterdns_entry *e, char **out, kf_error *err);
/* Removes our block for federation and the blank line (or line ending) that
 * clusterdns_corefile_add put before it, restoring the original bytes; blocks of other
 * federations are independent, so removals work in any order. No block:
 * returns a copy unchanged. -EINVAL for unbalanced or duplicated markers (we
 * cannot tell where our block ends), -EFBIG over DNS_MAX_CONFIG_BYTES. */
int clusterdns_corefile_remove(const char *corefile, const char *federation, char **out, kf_error *err);
/* 1 if the Corefile holds our block for federation with exactly this content,
 * else 0 (also for bad input). */
int clusterdns_corefile_has(const char *corefile, const clusterdns_entry *e);

/* kube-dns ConfigMap data. data is the ConfigMap's .data object (may be NULL);
 * returns a NEW json object holding only the keys to write: `federations`
 * always, `stubDomains` when e->nameservers is non-empty. Values are merged:
 * other federations' entries and other stubDomains are kept untouched and in
 * their order; our entry is added or replaced. A value that needs no change is
 * returned as the same string, byte for byte; stubDomains is re-serialized
 * compactly only if it must change.
 * Our `federations` entry is the one named e->federation (kube-dns keys them by
 * name). Our stubDomains entry is the zone's, when it already lists exactly our
 * nameservers or when `federations` already holds our exact entry (we wrote
 * both together).
 * -EINVAL with a message if data is not an object, a value is not a string,
 * existing stubDomains is not a JSON object of string arrays (kube-dns refuses
 * those too, empty string included), `federations` is malformed (an item
 * without `name=domain`, or our name twice), or the zone is already a
 * stubDomain pointing elsewhere that is not ours (we cannot tell ours apart
 * then: refuse rather than overwrite); -ELOOP for a loopback nameserver on
 * port 53, where kube-dns's dnsmasq serves (clusterdns_check_nameservers); -EFBIG for a value over
 * DNS_MAX_CONFIG_BYTES. The caller owns *out (json_object_put). */
int clusterdns_kubedns_add(json_object *data, const clusterdns_entry *e, json_object **out, kf_error *err);
/* The reverse: new values for federations / stubDomains with our entry
 * removed. *out holds only the keys whose value changes (an empty object:
 * nothing to write). A key that would become empty maps to JSON null in *out
 * (the caller deletes it with a merge patch) if WE created the key; to tell,
 * the caller passes `created_keys`, a NULL-terminated list (or NULL) of keys
 * that did not exist before our add (recorded by the caller in an annotation).
 * Otherwise an emptied `federations` becomes "" (as kubefed v1 left it) and an
 * emptied stubDomains "{}". stubDomains is looked at only when e->nameservers
 * is non-empty. Errors as clusterdns_kubedns_add, but a zone pointing elsewhere is
 * simply not ours and stays. */
int clusterdns_kubedns_remove(json_object *data, const clusterdns_entry *e, const char *const *created_keys,
                              json_object **out, kf_error *err);
/* 1 if data already has our entry exactly (so no write is needed), else 0
 * (also for bad input). */
int clusterdns_kubedns_has(json_object *data, const clusterdns_entry *e);

/* The kube-dns plan: one merge patch for ConfigMap kube-system/kube-dns (its data keys and the
 * two bookkeeping annotations named in marks) that joins e, or with unjoin undoes exactly what
 * the join did. On join the annotations record which keys did not exist before us (`created`: a
 * comma list; unjoin deletes exactly those) and the text of those that did (`original`: a JSON
 * object; unjoin puts a value back byte for byte when it differs only in formatting). Both marks
 * are dropped on unjoin. cm is the whole ConfigMap as read (may hold garbage: it is untrusted).
 * Returns 0 and *patch (NULL when nothing needs writing; the caller puts it), or the error of
 * clusterdns_kubedns_add / _remove (nothing to write). Pure. */
typedef struct clusterdns_marks {
  const char *created;  /* annotation key, e.g. kubefed.dev/created-keys-<federation> */
  const char *original; /* annotation key, e.g. kubefed.dev/original-<federation> */
} clusterdns_marks;
int clusterdns_kubedns_plan(json_object *cm, const clusterdns_entry *e, int unjoin, const clusterdns_marks *marks,
                            json_object **patch, kf_error *err);

/* A kube-dns without its ConfigMap (GKE creates none until a user does; kube-dns reads it when it
 * appears): the whole ConfigMap kube-system/kube-dns that joins e, with the plan's marks (every key
 * created by us) and the annotation created_cm (value "true"), which says the ConfigMap itself is
 * ours to delete. Returns 0 and *cm (the caller puts it) or the error of clusterdns_kubedns_add. */
int clusterdns_kubedns_new(const clusterdns_entry *e, const clusterdns_marks *marks, const char *created_cm,
                           json_object **cm, kf_error *err);
/* Unjoin: 1 when the ConfigMap cm should be deleted rather than patched: it carries created_cm
 * (we created it), patch (the unjoin plan's) removes every data key it has, and no other
 * federation's created-keys mark (other_marks_prefix...) is on it. Else 0: the patch is sent, and
 * it drops created_cm too (clusterdns_kubedns_plan leaves it alone; the caller adds it). Pure. */
int clusterdns_kubedns_unjoin_deletes(json_object *cm, json_object *patch, const char *created_cm,
                                      const char *marks_prefix);

#endif
