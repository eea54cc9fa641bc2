/* cfg_schema — every configuration key of rlvr.c, in one table. See cfg.h.
 * Keep rows grouped by section; docs/CONFIG.md is generated from this table (`rlvr config doc`). */
#include "cfg.h"

#define K(path, type, field, def, range, choices, help) \
    {path, type, offsetof(rlvr_config, field), def, range, choices, help}

const cfg_key cfg_schema[] = {
    K("run.seed", CFG_INT, run.seed, "1234", "[0,9007199254740991]", NULL,
      "Seed of every random stream of the run (initialisation, data order, sampling)."),
    K("run.threads", CFG_INT, run.threads, "1", "[0,1024]", NULL,
      "Intra-op CPU threads of libtorch; 0 keeps libtorch's default (all cores). One thread is "
      "fastest for small models, and leaves the other cores to parallel runs."),
    K("run.log_level", CFG_ENUM, run.log_level, "info", NULL, "debug|info|warn|error|quiet",
      "Least severe message printed on stderr."),
};

const int cfg_schema_len = (int)(sizeof cfg_schema / sizeof cfg_schema[0]);
