/* kf_yaml: YAML manifests (CRDs, objects) to json-c values, the way
 * sigs.k8s.io/yaml feeds them to the API server, but with YAML 1.2 core-schema
 * scalars.
 *
 * Scalar resolution:
 *   - quoted ('..', "..") and block (| and >) scalars are always strings;
 *   - plain scalars: null, Null, NULL, ~ and empty are null; true/True/TRUE and
 *     false/False/FALSE are booleans; [-+]?[0-9]+ that fits int64, 0x[0-9a-fA-F]+
 *     and 0o[0-7]+ are int64; [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
 *     [-+]?.inf and .nan (each in lower, Capitalised or UPPER case) are doubles
 *     (so a decimal integer too large for int64 is a double); anything else
 *     (10Gi, yes, on, 1.2.3, 08:00, 0644 is NOT octal: it is 644) is a string;
 *   - explicit core tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq)
 *     force the type; "!" forces a string; a value that does not fit its tag
 *     is -EINVAL.
 * Mapping keys become JSON member names: strings as written; plain keys that
 * resolve to null, a boolean or an integer take their canonical JSON text
 * ("null", "true", 0x10 -> "16"), so `1:` and `0x1:` are duplicates. Keys must
 * be scalars without NUL characters.
 *
 * Refused, with an error naming the line and column (1-based):
 *   -EINVAL   malformed YAML (tabs as indentation, unclosed quotes, ...),
 *             duplicate keys (the message names the key), non-scalar keys
 *   -EFBIG    more than KF_YAML_MAX_BYTES of input, nesting deeper than
 *             KF_YAML_MAX_DEPTH, more than KF_YAML_MAX_NODES nodes
 *   -ENOTSUP  anchors, aliases and merge keys (<<), which would let a small
 *             document expand into a huge one ("billion laughs"); tags other
 *             than the core-schema ones (!!binary, !!timestamp, !custom, ...)
 *   -ENOMEM   json-c could not allocate
 * Messages quote at most a bounded prefix of a key or tag, with control
 * characters replaced, and never scalar values: a manifest may hold a Secret. */
#ifndef KF_YAML_H
#define KF_YAML_H

#include <stddef.h>

#include <json-c/json.h>

#include <kf/error.h>

#define KF_YAML_MAX_BYTES ((size_t)8 << 20)
#define KF_YAML_MAX_DEPTH 64
#define KF_YAML_MAX_NODES ((size_t)1000000)

/* Parses YAML text (one or more documents separated by ---; text need not be
 * NUL-terminated) into json-c values. Returns 0 and *out = a new json array
 * with one element per document, or a negative code (above) with *out = NULL
 * and err filled. Documents whose content is null (empty, only comments, or
 * a plain null) are skipped, as kubectl does, so the array may be empty. The
 * caller owns *out (json_object_put). */
int kf_yaml_to_json(const char *text, size_t len, json_object **out, kf_error *err);

/* Like kf_yaml_to_json for exactly one (non-null) document: *out is that
 * document's value. No document or more than one is -EINVAL. */
int kf_yaml_to_json_one(const char *text, size_t len, json_object **out, kf_error *err);

#endif
