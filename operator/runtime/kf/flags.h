/* flags (kf_flags_): a program's command line from one table, so parsing and
 * --help cannot disagree.
 *
 * The syntax is Go pflag's, as kubectl users type it: --name=value or --name
 * value; booleans as --name or --name=true|false; a one-letter shorthand as
 * -o value, -ovalue or -o=value; flags before, between or after positional
 * arguments; "--" ends the flags. There are no abbreviations.
 *
 * Each flag writes to a field of the caller's options struct (off is its
 * offsetof), so one static const table serves parsing and help. Strings are
 * borrowed: from argv or from the table's def. */
#ifndef KF_FLAGS_H
#define KF_FLAGS_H

#include <stddef.h>
#include <stdio.h>

#include <kf/error.h>

typedef enum {
  KF_FLAG_STRING,   /* const char *  */
  KF_FLAG_BOOL,     /* int: 1 or 0; takes no value but --name=false */
  KF_FLAG_INT,      /* long, non-negative */
  KF_FLAG_DURATION, /* uint64_t milliseconds, Go syntax (kf_parse_duration_ms): 15s, 1h30m */
  KF_FLAG_ENUM,     /* const char *, one of choices */
} kf_flag_type;

typedef struct kf_flag kf_flag;
struct kf_flag {
  const char *name; /* without the dashes */
  char shorthand;   /* 0: none */
  kf_flag_type type;
  unsigned in;                /* the sets (kf_flags.in) it belongs to; 0: every set */
  size_t off;                 /* offsetof the destination in the options struct */
  const char *metavar;        /* the value in --help (--name=METAVAR); NULL for a bool, and
                                  * for an enum to show its choices (--name=a|b) */
  const char *help;           /* one line; says the default when it is computed */
  const char *def;            /* applied before argv and shown as (default ...); NULL: none */
  const char *const *choices; /* KF_FLAG_ENUM: NULL-terminated */
  /* NULL, or replaces the type's setter (cross-flag rules, extra spellings); the type still
   * says whether a value is needed. Stores value (borrowed) into base: 0 or -EINVAL, err set. */
  int (*set)(void *base, const kf_flag *f, const char *value, kf_error *err);
};

/* What kf_flags_parse recognises besides the table. */
enum { KF_FLAGS_HELP = 1, KF_FLAGS_VERSION = 2 };

typedef struct kf_flags {
  const kf_flag *flags;
  size_t n;
  unsigned in;      /* only flags whose `in` shares a bit with this (or is 0); 0: all */
  int builtins;     /* KF_FLAGS_HELP (-h, --help) and/or KF_FLAGS_VERSION (--version) */
  const char *hint; /* appended to unknown-flag errors, e.g. "see kubefed join --help" */
} kf_flags;

/* Applies the defaults, then argv[1..argc-1] in order. Positional arguments (and every argument
 * after "--") are counted in *npos and the first maxpos stored in pos (borrowed from argv).
 * Returns 0; KF_FLAGS_HELP or KF_FLAGS_VERSION when that builtin came first (the rest of argv is
 * not read); or -EINVAL with a message in err (the caller exits with 2). */
int kf_flags_parse(const kf_flags *fs, void *base, int argc, char **argv, const char **pos, int maxpos, int *npos,
                   kf_error *err);

/* Sets one flag from its text value as the parser would (base + f->off), with f->set if any.
 * 0 or -EINVAL. kf_flags_set_typed ignores f->set: for a set hook to fall back on. */
int kf_flags_set(const kf_flag *f, void *base, const char *value, kf_error *err);
int kf_flags_set_typed(const kf_flag *f, void *base, const char *value, kf_error *err);

/* Prints "Flags:" and each flag of the set: "  -o, --name=METAVAR" then the help indented on the
 * next line with (default ...), then the builtins. */
void kf_flags_usage(FILE *out, const kf_flags *fs);

/* A daemon's whole command line: parses, prints synopsis + usage for --help (stdout) and
 * "program version" for --version, refuses positional arguments. Errors go to stderr as
 * "program: message". Returns KF_FLAGS_GO_ON to go on, else the exit status: 0 after --help or
 * --version, 2 after a usage error. */
#define KF_FLAGS_GO_ON (-1)
int kf_flags_main(const kf_flags *fs, void *base, int argc, char **argv, const char *program, const char *version,
                  const char *synopsis);

#endif
