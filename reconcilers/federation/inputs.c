/* fed inputs: the steps that read what the user's spec names (a CA Secret, the DNS provider
 * config, the token file, external etcd's TLS Secret, an existing etcd claim). Each is read
 * fresh on every reconcile (never watched, never written) and checked before anything is made
 * from it: a missing object or key stops the run with a condition naming the spec field. */
#include "federation_internal.h"

#include <string.h>

typedef struct fed_input {
  const kc_resource *res;
  const char *name;
  const char *field;   /* the spec field that names it */
  const char *keys[3]; /* data keys it must hold */
  int which;           /* condition that fails when it is wrong */
} fed_input;

/* Input i as the spec names it; in->name is NULL when the spec names none. */
static void fed_input_describe(const fed_spec *s, int i, fed_input *in) {
  memset(in, 0, sizeof(*in));
  switch (i) {
    case IN_CA:
      /* Its keys are checked by the certificate-authority step, with the CA's own reasons. */
      *in = (fed_input){&KC_SECRETS, s->ca_secret, "spec.certificates.caSecretRef", {NULL}, FED_CERTS};
      break;
    case IN_DNS:
      *in = (fed_input){
          &KC_SECRETS, s->dns_config_secret, "spec.dns.providerConfigSecretRef", {s->dns_config_key}, FED_CM};
      break;
    case IN_TOKEN:
      *in =
          (fed_input){&KC_SECRETS, s->token_secret, "spec.apiServer.tokenAuthSecretRef", {s->token_key}, FED_APISERVER};
      break;
    case IN_ETCD_TLS:
      *in = (fed_input){&KC_SECRETS,
                        s->etcd_tls_secret,
                        "spec.etcd.external.tlsSecretRef",
                        {"ca.crt", "tls.crt", "tls.key"},
                        FED_ETCD};
      break;
    case IN_CLAIM:
      *in = (fed_input){&KC_PVCS, s->etcd_existing_claim, "spec.etcd.local.storage.existingClaim", {NULL}, FED_ETCD};
      break;
  }
}

static void fed_input_read(kc_client *c, int rc, json_object *obj, const kf_error *err, void *data) {
  fed_run *run = data;
  fed_input in;
  (void)c;
  fed_input_describe(&run->spec, run->input, &in);
  if (rc == KC_ERR_NOTFOUND) {
    if (run->input == IN_CA) {
      fed_stop(run, 0, FED_CERTS, "InvalidCASecret", "%s: Secret %s not found", in.field, in.name);
      return;
    }
    fed_stop(run, 0, in.which, "InputNotFound", "%s: %s %s not found in namespace %s", in.field, in.res->kind, in.name,
             run->ns);
    return;
  }
  if (rc != 0) {
    fed_stop(run, fed_api_rc(rc), in.which, "ReadFailed", "%s: reading %s %s failed: %s", in.field, in.res->kind,
             in.name, cond_error_text(err, "unknown error"));
    return;
  }
  for (int k = 0; k < 3 && in.keys[k]; k++) {
    if (!kc_obj_key_str(kc_obj_get(obj, "data"), in.keys[k])) {
      fed_stop(run, 0, in.which, "InputInvalid", "%s: Secret %s has no key %s", in.field, in.name, in.keys[k]);
      return;
    }
  }
  run->in[run->input] = json_object_get(obj);
  steps_next(&run->steps);
}

static void fed_input_get(fed_run *run, int which) {
  fed_input in;
  fed_input_describe(&run->spec, which, &in);
  if (!in.name) {
    steps_next(&run->steps);
    return;
  }
  run->input = which;
  int rc = kc_get(run->f->c, in.res, run->ns, in.name, fed_input_read, run);
  if (rc != 0) {
    kf_error err;
    kf_error_set(&err, rc, "the request could not be started");
    fed_input_read(run->f->c, rc, NULL, &err, run);
  }
}

void fed_step_input_ca(void *run) { fed_input_get(run, IN_CA); }
void fed_step_input_dns(void *run) { fed_input_get(run, IN_DNS); }
void fed_step_input_token(void *run) { fed_input_get(run, IN_TOKEN); }
void fed_step_input_etcd_tls(void *run) { fed_input_get(run, IN_ETCD_TLS); }
void fed_step_input_claim(void *run) { fed_input_get(run, IN_CLAIM); }
