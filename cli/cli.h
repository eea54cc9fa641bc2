/* cli — the rlvr program: one subcommand per file (cmd_<name>.c), dispatched from main.c.
 * Only cli/ turns an error into a message on stderr and an exit status. */
#ifndef RLVR_CLI_H
#define RLVR_CLI_H

#include "common/cfg.h"

#include <stdint.h>

typedef struct cli_command {
    const char *name;
    const char *summary; /* one line for `rlvr --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name; returns the exit status */
} cli_command;

/* Print "rlvr: error: <msg>" (from err_msg() when msg is NULL) and return 1. */
int cli_fail(const char *msg);
/* Parse a decimal integer option value in [lo, hi]; -1 with err_set naming the option. */
int cli_parse_int(const char *opt, const char *v, int64_t lo, int64_t hi, int64_t *out);
/* True when argv has -h or --help. */
int cli_wants_help(int argc, char **argv);
/* Print o as one line of JSON on stdout, then delete it. */
struct cJSON;
void cli_put_json(struct cJSON *o);

/* Shared option handling for commands that take a config: the first positional argument (or
 * --config FILE) is the config file, required when need_file, and any number of
 * `--set key=value` follow. Fills c (defaults first, then the file, then each --set in order;
 * c is always initialised, so cfg_free(c) is valid even on failure), then applies the run
 * section (threads, log level, seed). Other arguments are left for the caller in rest (argv
 * order kept; rest[0] = argv[0]); returns 0 or -1 with err_set. */
int cli_load_config(int argc, char **argv, rlvr_config *c, int need_file, char **rest, int *nrest);

#endif
