/* rlvr config — print the resolved config, list the keys, or write the reference page. */
#include "cli.h"

#include "common/cfg.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rlvr config show [CONFIG.json] [--set key=value ...]\n"
    "       rlvr config keys\n"
    "       rlvr config doc            (Markdown reference, as in docs/CONFIG.md)\n\n"
    "show: the config after defaults, the file and every --set, as JSON on stdout.\n"
    "keys: every key with its type, default and allowed values.\n";

static int show(int argc, char **argv) {
    rlvr_config c;
    char **rest = mem_calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, rc = 1;
    if (cli_load_config(argc, argv, &c, 0, rest, &nrest)) {
        rc = cli_fail(NULL);
    } else if (nrest > 1) {
        rc = cli_fail(nrest > 1 && rest[1][0] == '-' ? "unknown option for `config show`"
                                                     : "more than one config file given");
    } else {
        char *json = cfg_to_json(&c);
        puts(json);
        free(json);
        rc = 0;
    }
    cfg_free(&c);
    free(rest);
    return rc;
}

static int keys(void) {
    for (int i = 0; i < cfg_schema_len; i++) {
        const cfg_key *k = &cfg_schema[i];
        printf("%-36s %-7s default %-10s %s\n", k->path,
               k->type == CFG_ENUM ? k->choices : k->type == CFG_BOOL ? "bool"
               : k->type == CFG_INT ? "int" : k->type == CFG_FLOAT ? "float"
               : k->type == CFG_STRING ? "string" : "list",
               k->def ? k->def : "\"\"", k->help);
    }
    return 0;
}

int cmd_config(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "show")) return show(argc - 1, argv + 1);
    if (!strcmp(argv[1], "keys")) return keys();
    if (!strcmp(argv[1], "doc")) {
        cfg_write_markdown(stdout);
        return 0;
    }
    fprintf(stderr, "rlvr: error: unknown `config` action '%s'\n%s", argv[1], usage);
    return 2;
}
