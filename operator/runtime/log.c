#include <kf/log.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Process-wide settings, written once at startup by main before the loop runs. */
static kf_log_level kf_log_min = KF_LOG_INFO;
static int kf_log_json_mode;

static const char *const kf_log_names[] = {"debug", "info", "warn", "error"};

int kf_log_set_level_name(const char *name) {
  for (int i = 0; i < 4; i++)
    if (strcmp(name, kf_log_names[i]) == 0) {
      kf_log_min = (kf_log_level)i;
      return 0;
    }
  return -EINVAL;
}

void kf_log_set_level(kf_log_level level) { kf_log_min = level; }
void kf_log_set_json(int json) { kf_log_json_mode = json; }
int kf_log_enabled(kf_log_level level) { return level >= kf_log_min; }

static void kf_log_value(FILE *f, const char *v) {
  if (!v) v = "";
  if (kf_log_json_mode) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
      if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
      else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
      else fputc(*p, f);
    }
    fputc('"', f);
    return;
  }
  if (*v && !strpbrk(v, " \"=\t\n\\")) {
    fputs(v, f);
    return;
  }
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p == '\n') fputs("\\n", f);
    else if (*p < 0x20) fprintf(f, "\\x%02x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

void kf_log(kf_log_level level, const char *msg, ...) {
  struct timeval tv;
  struct tm tm;
  char ts[96];
  va_list ap;
  const char *k;

  if (level < kf_log_min) return;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
  flockfile(stderr);
  if (kf_log_json_mode) {
    fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, kf_log_names[level]);
    kf_log_value(stderr, msg);
  } else {
    fprintf(stderr, "ts=%s level=%s msg=", ts, kf_log_names[level]);
    kf_log_value(stderr, msg);
  }
  va_start(ap, msg);
  while ((k = va_arg(ap, const char *))) {
    const char *v = va_arg(ap, const char *);
    if (kf_log_json_mode) {
      fputc(',', stderr);
      kf_log_value(stderr, k);
      fputc(':', stderr);
    } else {
      fprintf(stderr, " %s=", k);
    }
    kf_log_value(stderr, v);
  }
  va_end(ap);
  fputs(kf_log_json_mode ? "}\n" : "\n", stderr);
  funlockfile(stderr);
}
