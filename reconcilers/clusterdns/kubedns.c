/* clusterdns kubedns: our keys in the kube-dns ConfigMap (federations, stubDomains; add, has, remove). */
#include "clusterdns_internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* ---- kube-dns ConfigMap ---- */

/* Where our item is in a `federations` value. */
typedef struct clusterdns_feds {
  int found, exact;                                /* an item named after us; its domain is exactly our zone */
  size_t index, count;                             /* our item's position; items in all */
  size_t seg_start, seg_end, trim_start, trim_end; /* our item, with and without its spaces */
} clusterdns_feds;

/* Parses `federations` as kube-dns does (ParseFederationsFlag: split on ",",
 * trim, split on the first "="; an all-blank value has no items). */
static int clusterdns_feds_parse(const char *v, size_t n, const char *federation, const char *zone, clusterdns_feds *f,
                                 kf_error *err) {
  size_t s = 0, fl = strlen(federation);
  int blank = 1;
  memset(f, 0, sizeof(*f));
  for (size_t i = 0; i < n && blank; i++) blank = clusterdns_space(v[i]);
  while (!blank) {
    const char *comma = memchr(v + s, ',', n - s);
    size_t e = comma ? (size_t)(comma - v) : n, a = s, b = e;
    while (a < b && clusterdns_space(v[a])) a++;
    while (b > a && clusterdns_space(v[b - 1])) b--;
    const char *eq = memchr(v + a, '=', b - a);
    size_t ne = eq ? (size_t)(eq - v) : a, ds = eq ? ne + 1 : b;
    while (ne > a && clusterdns_space(v[ne - 1])) ne--;
    while (ds < b && clusterdns_space(v[ds])) ds++;
    if (!eq || ne == a || ds == b)
      return kf_error_set(err, -EINVAL, "kube-dns \"federations\" item %zu is not name=domain; fix it by hand",
                          f->count + 1);
    if (ne - a == fl && !memcmp(v + a, federation, fl)) {
      if (f->found)
        return kf_error_set(err, -EINVAL, "kube-dns \"federations\" lists federation %s twice; fix it by hand",
                            federation);
      f->found = 1;
      f->exact = b - ds == strlen(zone) && !memcmp(v + ds, zone, b - ds);
      f->index = f->count;
      f->seg_start = s;
      f->seg_end = e;
      f->trim_start = a;
      f->trim_end = b;
    }
    f->count++;
    if (!comma) break;
    s = e + 1;
  }
  return 0;
}

/* 1 and the value when data has key as a string, 0 when it has no such key
 * (or null), negative when the value is not a string or too large. */
static int clusterdns_data_string(json_object *data, const char *key, const char **v, size_t *n, kf_error *err) {
  json_object *o = NULL;
  *v = "";
  *n = 0;
  if (!data || !json_object_object_get_ex(data, key, &o) || !o) return 0;
  if (!json_object_is_type(o, json_type_string))
    return kf_error_set(err, -EINVAL, "kube-dns ConfigMap key %s is not a string", key);
  *v = json_object_get_string(o);
  *n = (size_t)json_object_get_string_len(o);
  if (*n > DNS_MAX_CONFIG_BYTES)
    return kf_error_set(err, -EFBIG, "kube-dns ConfigMap key %s is larger than %d bytes", key, DNS_MAX_CONFIG_BYTES);
  return 1;
}

/* stubDomains as kube-dns reads it (a JSON object of string arrays; it
 * refuses the whole ConfigMap otherwise, so we refuse too). */
static int clusterdns_stubs_parse(const char *v, size_t n, json_object **obj, kf_error *err) {
  json_tokener *tok = json_tokener_new();
  json_object *o;
  size_t end;
  int ok;
  *obj = NULL;
  if (!tok) return kf_error_set(err, -ENOMEM, "out of memory");
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
  o = memchr(v, '\0', n) ? NULL : json_tokener_parse_ex(tok, v, (int)n);
  ok = o && json_tokener_get_error(tok) == json_tokener_success;
  end = ok ? json_tokener_get_parse_end(tok) : 0;
  json_tokener_free(tok);
  for (; ok && end < n; end++) ok = clusterdns_space(v[end]);
  ok = ok && json_object_is_type(o, json_type_object);
  if (ok) {
    json_object_object_foreach (o, key, val) {
      (void)key;
      if (!ok) break;
      ok = json_object_is_type(val, json_type_array);
      for (size_t i = 0; ok && i < json_object_array_length(val); i++)
        ok = json_object_is_type(json_object_array_get_idx(val, i), json_type_string);
    }
  }
  if (!ok) {
    json_object_put(o);
    return kf_error_set(err, -EINVAL,
                        "kube-dns \"stubDomains\" is not a JSON object of string arrays (kube-dns ignores it too); "
                        "fix it by hand");
  }
  *obj = o;
  return 0;
}

/* The one key of stubs naming zone (ignoring case and a trailing dot), NULL
 * when none; -EINVAL when two do (which one kube-dns uses is a guess). */
static int clusterdns_stubs_find(json_object *stubs, const char *zone, const char **found, kf_error *err) {
  *found = NULL;
  json_object_object_foreach (stubs, key, val) {
    (void)val;
    if (!clusterdns_same_zone(key, strlen(key), zone)) continue;
    if (*found) return kf_error_set(err, -EINVAL, "kube-dns \"stubDomains\" lists zone %s twice; fix it by hand", zone);
    *found = key;
  }
  return 0;
}

static int clusterdns_stub_is(json_object *list, const char *const *nameservers, size_t nns) {
  if (json_object_array_length(list) != nns) return 0;
  for (size_t i = 0; i < nns; i++) {
    json_object *s = json_object_array_get_idx(list, i);
    size_t l = (size_t)json_object_get_string_len(s);
    if (l != strlen(nameservers[i]) || memcmp(json_object_get_string(s), nameservers[i], l)) return 0;
  }
  return 1;
}

static json_object *clusterdns_stub_list(const char *const *nameservers, size_t nns) {
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < nns; i++) json_object_array_add(a, json_object_new_string(nameservers[i]));
  return a;
}

static json_object *clusterdns_stubs_string(json_object *stubs) {
  return json_object_new_string(
      json_object_to_json_string_ext(stubs, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int clusterdns_created(const char *const *created_keys, const char *key) {
  for (const char *const *k = created_keys; k && *k; k++)
    if (!strcmp(*k, key)) return 1;
  return 0;
}

static int clusterdns_check_data(json_object *data, json_object **out, kf_error *err) {
  if (!out) return kf_error_set(err, -EINVAL, "no place for the kube-dns values");
  *out = NULL;
  if (data && !json_object_is_type(data, json_type_object))
    return kf_error_set(err, -EINVAL, "kube-dns ConfigMap data is not an object");
  return 0;
}

int clusterdns_kubedns_add(json_object *data, const clusterdns_entry *e, json_object **out, kf_error *err) {
  char zone[DNS_MAX_ZONE + 1];
  const char *fv, *sv;
  size_t nns, fn, sn;
  json_object *stubs = NULL, *stubs_value = NULL;
  clusterdns_feds f;
  kf_buf b = {0};
  int rc, have_stubs;
  if ((rc = clusterdns_check_data(data, out, err)) || (rc = clusterdns_check_entry(e, 0, 53, zone, &nns, err)))
    return rc;
  if ((rc = clusterdns_data_string(data, DNS_KUBEDNS_FEDERATIONS, &fv, &fn, err)) < 0) return rc;
  if ((rc = clusterdns_feds_parse(fv, fn, e->federation, zone, &f, err))) return rc;
  if (nns > 0) {
    const char *key = NULL;
    if ((have_stubs = clusterdns_data_string(data, DNS_KUBEDNS_STUBDOMAINS, &sv, &sn, err)) < 0) return have_stubs;
    if (!have_stubs) stubs = json_object_new_object();
    else if ((rc = clusterdns_stubs_parse(sv, sn, &stubs, err)) || (rc = clusterdns_stubs_find(stubs, zone, &key, err)))
      goto out;
    if (!key) {
      json_object_object_add(stubs, zone, clusterdns_stub_list(e->nameservers, nns));
      stubs_value = clusterdns_stubs_string(stubs);
    } else {
      json_object *list = json_object_object_get(stubs, key);
      if (clusterdns_stub_is(list, e->nameservers, nns)) {
        stubs_value = json_object_new_string_len(sv, (int)sn);
      } else if (f.found && f.exact) {
        /* `federations` names us with this zone: we wrote both, and our
         * nameservers have changed since. */
        json_object_object_add(stubs, key, clusterdns_stub_list(e->nameservers, nns));
        stubs_value = clusterdns_stubs_string(stubs);
      } else {
        rc = kf_error_set(err, -EINVAL,
                          "kube-dns \"stubDomains\" already sends zone %s to other nameservers, and not for "
                          "federation %s; remove that entry or use another zone",
                          zone, e->federation);
        goto out;
      }
    }
  }
  if (f.found && f.exact) {
    kf_buf_add(&b, fv, fn);
  } else if (f.found) {
    kf_buf_add(&b, fv, f.trim_start);
    kf_buf_str(&b, e->federation);
    kf_buf_str(&b, "=");
    kf_buf_str(&b, zone);
    kf_buf_add(&b, fv + f.trim_end, fn - f.trim_end);
  } else {
    /* Appended: an all-blank value is kept in front, so removal gives it back. */
    kf_buf_add(&b, fv, fn);
    if (f.count) kf_buf_str(&b, ",");
    kf_buf_str(&b, e->federation);
    kf_buf_str(&b, "=");
    kf_buf_str(&b, zone);
  }
  *out = json_object_new_object();
  json_object_object_add(*out, DNS_KUBEDNS_FEDERATIONS, json_object_new_string_len(b.p, (int)b.len));
  if (stubs_value) {
    json_object_object_add(*out, DNS_KUBEDNS_STUBDOMAINS, stubs_value);
    stubs_value = NULL;
  }
out:
  json_object_put(stubs_value);
  json_object_put(stubs);
  free(b.p);
  return rc;
}

int clusterdns_kubedns_remove(json_object *data, const clusterdns_entry *e, const char *const *created_keys,
                              json_object **out, kf_error *err) {
  char zone[DNS_MAX_ZONE + 1];
  const char *fv, *sv;
  size_t nns, fn, sn;
  json_object *stubs = NULL, *result;
  clusterdns_feds f;
  int rc, have_feds, have_stubs = 0;
  if ((rc = clusterdns_check_data(data, out, err)) || (rc = clusterdns_check_entry(e, 0, 0, zone, &nns, err)))
    return rc;
  if ((have_feds = clusterdns_data_string(data, DNS_KUBEDNS_FEDERATIONS, &fv, &fn, err)) < 0) return have_feds;
  if ((rc = clusterdns_feds_parse(fv, fn, e->federation, zone, &f, err))) return rc;
  if (nns > 0 && (have_stubs = clusterdns_data_string(data, DNS_KUBEDNS_STUBDOMAINS, &sv, &sn, err)) < 0)
    return have_stubs;
  if (have_stubs && (rc = clusterdns_stubs_parse(sv, sn, &stubs, err))) return rc;
  result = json_object_new_object();
  if (stubs) {
    const char *key = NULL;
    if ((rc = clusterdns_stubs_find(stubs, zone, &key, err))) goto fail;
    /* Ours: our nameservers, or `federations` names us with this zone (we
     * wrote both; the nameservers may have changed since). */
    if (key && (clusterdns_stub_is(json_object_object_get(stubs, key), e->nameservers, nns) || (f.found && f.exact))) {
      json_object_object_del(stubs, key);
      if (json_object_object_length(stubs) > 0)
        json_object_object_add(result, DNS_KUBEDNS_STUBDOMAINS, clusterdns_stubs_string(stubs));
      else if (clusterdns_created(created_keys, DNS_KUBEDNS_STUBDOMAINS))
        json_object_object_add(result, DNS_KUBEDNS_STUBDOMAINS, NULL);
      else json_object_object_add(result, DNS_KUBEDNS_STUBDOMAINS, json_object_new_string("{}"));
    }
  }
  if (f.found) {
    kf_buf b = {0};
    if (f.count == 1) {
      /* Only ours: what was around it (blanks) stays, as add found it. */
      kf_buf_add(&b, fv, f.trim_start);
      kf_buf_add(&b, fv + f.trim_end, fn - f.trim_end);
    } else if (f.index > 0) {
      kf_buf_add(&b, fv, f.seg_start - 1);
      kf_buf_add(&b, fv + f.seg_end, fn - f.seg_end);
    } else {
      kf_buf_add(&b, fv, f.seg_start);
      kf_buf_add(&b, fv + f.seg_end + 1, fn - f.seg_end - 1);
    }
    if (f.count == 1 && clusterdns_created(created_keys, DNS_KUBEDNS_FEDERATIONS))
      json_object_object_add(result, DNS_KUBEDNS_FEDERATIONS, NULL);
    else json_object_object_add(result, DNS_KUBEDNS_FEDERATIONS, json_object_new_string_len(b.p, (int)b.len));
    free(b.p);
  }
  json_object_put(stubs);
  *out = result;
  return 0;
fail:
  json_object_put(stubs);
  json_object_put(result);
  return rc;
}

int clusterdns_kubedns_has(json_object *data, const clusterdns_entry *e) {
  json_object *want = NULL;
  int same = 1;
  if (clusterdns_kubedns_add(data, e, &want, NULL)) return 0;
  json_object_object_foreach (want, key, val) {
    json_object *cur = NULL;
    if (!json_object_object_get_ex(data, key, &cur) || !cur ||
        json_object_get_string_len(cur) != json_object_get_string_len(val) ||
        memcmp(json_object_get_string(cur), json_object_get_string(val), (size_t)json_object_get_string_len(val)))
      same = 0;
  }
  json_object_put(want);
  return same;
}
