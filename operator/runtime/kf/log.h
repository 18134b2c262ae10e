/* log: structured, levelled logs on stderr.
 *
 * kf_log(level, msg, key1, value1, key2, value2, ..., NULL): values are
 * strings. Never pass a token, key or Secret value: log names, not contents. */
#ifndef KF_LOG_H
#define KF_LOG_H

typedef enum { KF_LOG_DEBUG = 0, KF_LOG_INFO, KF_LOG_WARN, KF_LOG_ERROR } kf_log_level;

/* Returns 0, or -EINVAL for an unknown name (debug, info, warn, error). */
int kf_log_set_level_name(const char *name);
void kf_log_set_level(kf_log_level level);
void kf_log_set_json(int json);
int kf_log_enabled(kf_log_level level);
void kf_log(kf_log_level level, const char *msg, ...) __attribute__((sentinel));

#define KF_DEBUG(...) kf_log(KF_LOG_DEBUG, __VA_ARGS__, (char *)0)
#define KF_INFO(...) kf_log(KF_LOG_INFO, __VA_ARGS__, (char *)0)
#define KF_WARN(...) kf_log(KF_LOG_WARN, __VA_ARGS__, (char *)0)
#define KF_ERROR(...) kf_log(KF_LOG_ERROR, __VA_ARGS__, (char *)0)

#endif
