/* cli_yaml: json-c values to YAML text, for the kubefed CLI (dry-run output and the
 * kubeconfig it writes).
 *
 * Emitted with libyaml, block style, sequences in mappings not indented (kubectl's
 * layout), no line folding. A string is written plain only when every YAML reader
 * kubectl and this repo use (YAML 1.1 and 1.2 core schema) reads it back as the same
 * string: "true", "yes", "on", "null", "~", "", "0644", "1e3", "-x", ".5" and the like are
 * double-quoted. Multi-line strings use literal blocks when libyaml allows it. The
 * output parses back with kf_yaml_to_json to an equal value. */
#ifndef KF_CLI_YAML_H
#define KF_CLI_YAML_H

#include <json-c/json.h>

#include <kf/error.h>

/* One YAML document (no "---" line) for v, malloc'd and NUL-terminated; NULL with err
 * set (-ENOMEM, or -EINVAL when libyaml refuses, e.g. invalid UTF-8). */
char *cli_yaml_emit(json_object *v, kf_error *err);

/* 1 when s must be quoted to stay a string (exposed for the unit test). */
int cli_yaml_needs_quotes(const char *s);

#endif
