/* Fuzzes the watch-stream framer: the input is split at a position chosen by
 * its first byte, so events straddling reads are exercised too. */
#include <stddef.h>
#include <stdint.h>

#include <kf/watch.h>

static int count_event(json_object *ev, void *data) {
  (void)ev;
  (*(size_t *)data)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  watch_framer f;
  kf_error err;
  size_t n = 0, split;
  if (size < 1) return 0;
  split = size > 1 ? (size_t)data[0] % size : 0;
  data++;
  size--;
  if (split > size) split = size;
  if (watch_framer_init(&f, 1u << 16) != 0) return 0;
  if (watch_framer_feed(&f, (const char *)data, split, count_event, &n, &err) == 0)
    watch_framer_feed(&f, (const char *)data + split, size - split, count_event, &n, &err);
  watch_framer_free(&f);
  return 0;
}
