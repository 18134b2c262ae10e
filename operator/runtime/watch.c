#include <kf/watch.h>

#include <kf/kj.h>

#include <stdlib.h>
#include <string.h>

/* As deep as any object the apiserver stores, plus the event around it (kjson.h). */
#define WATCH_MAX_DEPTH KJ_MAX_DEPTH

int watch_framer_init(watch_framer *f, size_t max_event_bytes) {
  return watch_framer_init_depth(f, max_event_bytes, 0);
}

int watch_framer_init_depth(watch_framer *f, size_t max_event_bytes, int max_depth) {
  memset(f, 0, sizeof(*f));
  f->tok = json_tokener_new_ex(max_depth > 0 && max_depth < WATCH_MAX_DEPTH ? max_depth : WATCH_MAX_DEPTH);
  if (!f->tok) return -ENOMEM;
  json_tokener_set_flags(f->tok, JSON_TOKENER_VALIDATE_UTF8);
  f->max_event = max_event_bytes ? max_event_bytes : WATCH_MAX_EVENT_BYTES;
  return 0;
}

void watch_framer_free(watch_framer *f) {
  if (f->tok) json_tokener_free(f->tok);
  f->tok = NULL;
}

int watch_framer_feed(watch_framer *f, const char *buf, size_t len, watch_frame_cb cb, void *data, kf_error *err) {
  size_t off = 0;
  while (off < len) {
    /* Skip whitespace between events so a trailing newline never starts an event. */
    if (f->pending == 0) {
      while (off < len && (buf[off] == '\n' || buf[off] == '\r' || buf[off] == ' ' || buf[off] == '\t')) off++;
      if (off == len) break;
    }
    size_t chunk = len - off;
    if (chunk > (size_t)0x7fffffff) chunk = 0x7fffffff;
    json_object *ev = json_tokener_parse_ex(f->tok, buf + off, (int)chunk);
    enum json_tokener_error jerr = json_tokener_get_error(f->tok);
    if (!ev && jerr == json_tokener_continue) {
      f->pending += chunk;
      if (f->pending > f->max_event)
        return kf_error_set(err, -EMSGSIZE, "watch event larger than %zu bytes", f->max_event);
      return 0;
    }
    if (!ev) {
      int rc = kf_error_set(err, -EBADMSG, "malformed watch event: %s", json_tokener_error_desc(jerr));
      json_tokener_reset(f->tok);
      f->pending = 0;
      return rc;
    }
    size_t used = (size_t)json_tokener_get_parse_end(f->tok);
    json_tokener_reset(f->tok);
    f->pending += used;
    if (f->pending > f->max_event) {
      json_object_put(ev);
      return kf_error_set(err, -EMSGSIZE, "watch event larger than %zu bytes", f->max_event);
    }
    f->pending = 0;
    off += used;
    if (!json_object_is_type(ev, json_type_object)) {
      json_object_put(ev);
      return kf_error_set(err, -EBADMSG, "malformed watch event: not a JSON object");
    }
    int rc = cb(ev, data);
    json_object_put(ev);
    if (rc != 0) return rc;
  }
  return 0;
}

struct kc_watch {
  kc_client *c;
  http_request *req;
  watch_framer framer;
  kc_watch_event_cb on_event;
  kc_watch_end_cb on_end;
  void *data;
  int rc; /* set when the stream itself reported the end (ERROR event, bad frame) */
  kf_error err;
  int stopped;
};

static int kc_watch_frame(json_object *ev, void *data) {
  kc_watch *w = data;
  const char *type = kc_obj_str(ev, "type");
  json_object *obj = kc_obj_get(ev, "object");
  if (!type || !obj) {
    w->rc = kf_error_set(&w->err, -EBADMSG, "watch event without type or object");
    return -1;
  }
  if (strcmp(type, "ERROR") == 0) {
    json_object *code = kc_obj_get(obj, "code");
    long status = code ? (long)json_object_get_int64(code) : 500;
    const char *body = json_object_to_json_string_ext(obj, KC_JSON_FLAGS);
    w->rc = kc_status_error(status, body, strlen(body), "watch", &w->err);
    return -1;
  }
  if (w->stopped) return -1;
  w->on_event(w, type, obj, w->data);
  return w->stopped ? -1 : 0;
}

static int kc_watch_data(http_request *req, const char *buf, size_t len, void *data) {
  kc_watch *w = data;
  (void)req;
  int rc = watch_framer_feed(&w->framer, buf, len, kc_watch_frame, w, &w->err);
  if (rc != 0 && w->rc == 0 && !w->stopped) w->rc = rc < 0 ? rc : -EBADMSG;
  return rc;
}

static void kc_watch_done(http_request *req, const http_response *res, void *data) {
  kc_watch *w = data;
  int rc = w->rc;
  (void)req;
  if (w->stopped) {
    kf_error_clear(&w->err);
    rc = kf_error_set(&w->err, KC_ERR_CANCELED, "watch stopped");
  } else if (rc == 0) {
    if (res->curl_code != 0) {
      rc = kf_error_set(&w->err, res->curl_code == 28 ? KC_ERR_TIMEOUT : -EIO, "watch: %s", res->error);
    } else if (res->status < 200 || res->status >= 300) {
      rc = kc_status_error(res->status, res->body, res->body_len, "watch", &w->err);
    }
  }
  w->on_end(w, rc, rc ? &w->err : NULL, w->data);
  watch_framer_free(&w->framer);
  free(w);
}

int kc_watch_start(kc_client *c, const kc_resource *res, const char *ns, const kc_watch_opts *o,
                   kc_watch_event_cb on_event, kc_watch_end_cb on_end, void *data, kc_watch **out, kf_error *err) {
  kc_watch *w;
  long timeout = (o && o->timeout_seconds > 0) ? o->timeout_seconds : 300;
  char *q, *tmp;
  int rc;

  w = kf_calloc(1, sizeof(*w));
  if (watch_framer_init_depth(&w->framer, 0, o ? o->max_depth : 0) != 0) {
    free(w);
    return kf_error_set(err, -ENOMEM, "watch: out of memory");
  }
  w->c = c;
  w->on_event = on_event;
  w->on_end = on_end;
  w->data = data;
  q = kf_asprintf("watch=true&allowWatchBookmarks=true&timeoutSeconds=%ld", timeout);
  const char *names[] = {"labelSelector", "fieldSelector", "resourceVersion"};
  const char *vals[] = {o ? o->label_selector : NULL, o ? o->field_selector : NULL, o ? o->resource_version : NULL};
  for (int i = 0; i < 3; i++) {
    if (!vals[i] || !vals[i][0]) continue;
    char *e = kc_escape(vals[i]);
    tmp = kf_asprintf("%s&%s=%s", q, names[i], e);
    free(e);
    free(q);
    q = tmp;
  }
  /* The server ends the watch after timeoutSeconds; the client gives up a while
   * later so a half-open connection cannot hang the informer forever. */
  rc = kc_stream(c, res, ns, q, (uint64_t)(timeout + 30) * 1000, kc_watch_data, kc_watch_done, w, &w->req, err);
  free(q);
  if (rc != 0) {
    watch_framer_free(&w->framer);
    free(w);
    return rc;
  }
  if (out) *out = w;
  return 0;
}

void kc_watch_stop(kc_watch *w) {
  if (!w || w->stopped) return;
  w->stopped = 1;
  http_request_cancel(w->req);
}
