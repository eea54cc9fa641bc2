/* test_config — the schema-driven config: defaults, files, --set overrides, the resolved JSON,
 * every kind of bad input with the message it must give, and every enum key bound by name to the
 * value of the module that reads it. */
#include "check.h"

#include "common/cfg.h"
#include "common/err.h"
#include "common/log.h"
#include "data/data.h"
#include "dist/dist.h"
#include "model/chat.h"
#include "optim/optim.h"
#include "rewards/reward.h"
#include "trainer/adv.h"
#include "trainer/loss.h"
#include "trainer/train.h"

#include <stdlib.h>
#include <unistd.h>

static char tmp_path[64];

/* Write text to a fresh temporary file; returns its path (reused between calls). */
static const char *write_tmp(const char *text) {
    if (tmp_path[0]) unlink(tmp_path);
    snprintf(tmp_path, sizeof tmp_path, "/tmp/rlvr_cfg_XXXXXX");
    int fd = mkstemp(tmp_path);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return tmp_path;
}

/* Load text as a config file over defaults; returns the status, leaves the message in err_msg. */
static int load_text(rlvr_config *c, const char *text) {
    cfg_free(c);
    cfg_init(c);
    return cfg_load_file(c, write_tmp(text));
}

static void test_schema_is_consistent(void) {
    rlvr_config c;
    CHECK(cfg_init(&c) == 0); /* every default parses and lies in its range */
    for (int i = 0; i < cfg_schema_len; i++) {
        CHECK(cfg_schema[i].help && strlen(cfg_schema[i].help) > 10);
        for (int j = 0; j < i; j++) CHECK(strcmp(cfg_schema[i].path, cfg_schema[j].path) != 0);
        CHECK(cfg_find(cfg_schema[i].path) == &cfg_schema[i]);
    }
    cfg_free(&c);
}

static void test_defaults_file_and_set(void) {
    rlvr_config c;
    cfg_init(&c);
    CHECK(c.run.seed == 1234 && c.run.threads == 1);
    CHECK_STR(cfg_enum_name(&c, "run.log_level"), "info");
    CHECK(load_text(&c, "{\"run\": {\"seed\": 7, \"log_level\": \"warn\"}}") == 0);
    CHECK(c.run.seed == 7 && c.run.threads == 1);
    CHECK_STR(cfg_enum_name(&c, "run.log_level"), "warn");
    CHECK(cfg_set(&c, "run.threads=2") == 0 && c.run.threads == 2);
    CHECK(cfg_set(&c, "run.seed=9007199254740991") == 0 && c.run.seed == 9007199254740991LL);
    CHECK(cfg_set(&c, "run.log_level=debug") == 0);
    CHECK_STR(cfg_enum_name(&c, "run.log_level"), "debug");
    CHECK(load_text(&c, "{\"run\": {\"seed\": 3.0}}") == 0 && c.run.seed == 3); /* integral float */
    CHECK(load_text(&c, "{}") == 0 && c.run.seed == 1234);
    CHECK(cfg_enum_name(&c, "run.seed") == NULL);

    /* the resolved JSON holds every key and parses back to the same values */
    cfg_set(&c, "run.seed=99");
    char *json = cfg_to_json(&c);
    CHECK(json && strstr(json, "\"seed\":\t99") && strstr(json, "\"log_level\":\t\"info\""));
    rlvr_config d;
    cfg_init(&d);
    CHECK(cfg_load_file(&d, write_tmp(json)) == 0 && d.run.seed == 99);
    char *json2 = cfg_to_json(&d);
    CHECK_STR(json2, json);
    free(json);
    free(json2);
    cfg_free(&d);
    cfg_free(&c);
    cfg_free(NULL);
}

static void test_bad_files(void) {
    rlvr_config c;
    cfg_init(&c);
    CHECK(cfg_load_file(&c, "/nonexistent/x.json") == -1);
    CHECK_CONTAINS(err_msg(), "cannot read config file: /nonexistent/x.json: cannot open: No such file");
    CHECK(cfg_load_file(&c, "/tmp") == -1);
    CHECK_CONTAINS(err_msg(), "cannot read config file: /tmp: is a directory, expected a file");

    CHECK(load_text(&c, "{\"run\": {\"seed\": 7,}\n}") == -1);
    CHECK_CONTAINS(err_msg(), ":1:21: malformed JSON");
    CHECK(load_text(&c, "{\n  \"run\": {\n    \"seed\": 7\n    \"threads\": 1\n}}") == -1);
    CHECK_CONTAINS(err_msg(), ":4:5: malformed JSON");
    CHECK(load_text(&c, "") == -1);
    CHECK_CONTAINS(err_msg(), "malformed JSON");
    CHECK(load_text(&c, "[1, 2]") == -1);
    CHECK_CONTAINS(err_msg(), "expected a JSON object at the top level, got an array");
    CHECK(load_text(&c, "{} trailing") == -1);
    CHECK_CONTAINS(err_msg(), ":1:4: malformed JSON");

    CHECK(load_text(&c, "{\"run\": {\"sed\": 7}}") == -1);
    CHECK_CONTAINS(err_msg(), "unknown key 'run.sed' (did you mean 'run.seed'?)");
    CHECK_CONTAINS(err_msg(), tmp_path);
    CHECK(load_text(&c, "{\"seed\": 7}") == -1); /* right leaf, missing section */
    CHECK_CONTAINS(err_msg(), "did you mean 'run.seed'?");
    CHECK(load_text(&c, "{\"zzzzqqqq\": {\"a\": 1}}") == -1);
    CHECK_CONTAINS(err_msg(), "unknown key 'zzzzqqqq'");
    CHECK(load_text(&c, "{\"run\": 5}") == -1);
    CHECK_CONTAINS(err_msg(), "unknown key 'run'");
    CHECK(load_text(&c, "{\"run\": {\"seed\": 1, \"seed\": 2}}") == -1);
    CHECK_CONTAINS(err_msg(), "key 'run.seed' appears twice");

    CHECK(load_text(&c, "{\"run\": {\"seed\": \"7\"}}") == -1);
    CHECK_CONTAINS(err_msg(), "run.seed: expected an integer in [0,9007199254740991], got a string");
    CHECK(load_text(&c, "{\"run\": {\"seed\": 1.5}}") == -1);
    CHECK_CONTAINS(err_msg(), "run.seed: expected an integer");
    CHECK(load_text(&c, "{\"run\": {\"threads\": -1}}") == -1);
    CHECK_CONTAINS(err_msg(), "run.threads: expected an integer in [0,1024], got -1");
    CHECK(load_text(&c, "{\"run\": {\"threads\": 1e300}}") == -1);
    CHECK_CONTAINS(err_msg(), "run.threads: expected an integer in [0,1024], got 1e+300");
    CHECK(load_text(&c, "{\"train\": {\"group_size\": 1e30}}") == -1);
    CHECK_CONTAINS(err_msg(), "train.group_size: expected an integer in [1,4096], got 1e+30");
    CHECK(load_text(&c, "{\"train\": {\"group_size\": 2.5}}") == -1);
    CHECK_CONTAINS(err_msg(), "train.group_size: expected an integer in [1,4096], got 2.5");
    CHECK(load_text(&c, "{\"run\": {\"log_level\": \"loud\"}}") == -1);
    CHECK_CONTAINS(err_msg(), "run.log_level: expected one of debug|info|warn|error|quiet, got 'loud'");
    CHECK(load_text(&c, "{\"run\": {\"log_level\": 3}}") == -1);
    CHECK_CONTAINS(err_msg(), "got a number");
    CHECK(load_text(&c, "{\"run\": {\"seed\": null}}") == -1);
    CHECK_CONTAINS(err_msg(), "got null");
    cfg_free(&c);

    /* a file with a NUL byte is refused, not read short */
    FILE *f = fopen(write_tmp(""), "wb");
    fwrite("{}\0{}", 1, 5, f);
    fclose(f);
    cfg_init(&c);
    CHECK(cfg_load_file(&c, tmp_path) == -1);
    CHECK_CONTAINS(err_msg(), "NUL byte");
    cfg_free(&c);
}

static void test_bad_sets(void) {
    rlvr_config c;
    cfg_init(&c);
    CHECK(cfg_set(&c, "run.seed") == -1);
    CHECK_CONTAINS(err_msg(), "expected key=value");
    CHECK(cfg_set(&c, "=3") == -1);
    CHECK(cfg_set(&c, "run.thread=2") == -1);
    CHECK_CONTAINS(err_msg(), "--set: unknown key 'run.thread' (did you mean 'run.threads'?)");
    CHECK(cfg_set(&c, "run.threads=two") == -1);
    CHECK_CONTAINS(err_msg(), "run.threads: expected an integer in [0,1024], got 'two'");
    CHECK(cfg_set(&c, "run.threads=") == -1);
    CHECK(cfg_set(&c, "run.threads=2000") == -1);
    CHECK(cfg_set(&c, "run.seed=99999999999999999999") == -1);
    CHECK(cfg_set(&c, "run.log_level=") == -1);
    CHECK(c.run.threads == 1 && c.run.seed == 1234); /* failed sets change nothing */
    cfg_free(&c);
}

/* The choices of enum key k, one per call: 0 while *name got the next one. */
static int next_choice(const cfg_key *k, int i, char *name, size_t cap) {
    const char *p = k->choices;
    for (int j = 0; j < i && p; j++)
        if ((p = strchr(p, '|'))) p++;
    if (!p) return -1;
    size_t n = strcspn(p, "|");
    snprintf(name, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
    return 0;
}

/* A choice some module reads by comparing the name itself (cfg_enum_name). */
static int read_by_name(const char *path, const char *name) {
    if (!strcmp(path, "run.log_level")) {
        log_level l;
        return log_level_parse(name, &l) == 0;
    }
    if (!strcmp(path, "data.source")) {
        data_task t;
        return !strcmp(name, "jsonl") || data_task_parse(name, &t) == 0;
    }
    if (!strcmp(path, "model.chat_template")) {
        chat_template ct;
        if (!strcmp(name, "auto") || !strcmp(name, "none")) return 1;
        int rc = chat_template_init(&ct, name, NULL);
        int known = rc == 0 || !strstr(err_msg(), "unknown chat template");
        if (rc == 0) chat_template_free(&ct);
        return known;
    }
    const char *fixed[][4] = {{"train.resume", "auto", "never"},
                              {"sft.mode", "both", "think", "short"},
                              {"optim.schedule_unit", "optimizer_step", "rl_step"},
                              {"algo.old_logprobs", "sampler", "recompute"},
                              {"algo.logprob_temperature", "rollout", "one"}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(path, fixed[i][0]))
            for (int j = 1; j < 4 && fixed[i][j]; j++)
                if (!strcmp(name, fixed[i][j])) return 1;
    return 0;
}

/* Reordering the choices in cfg_schema.c can never swap what a name means: every enum key is
 * bound by name, through a module's cfg_choice table that lists each choice once, or through the
 * names the module compares. A key added without a binding fails here. */
static void test_enum_choices_bound_by_name(void) {
    struct {
        const char *path;
        const cfg_choice *table;
    } tables[] = {
        {"algo.estimator", adv_estimator_choices},
        {"algo.dynamic_sampling.metric", adv_metric_choices},
        {"algo.aggregation", loss_agg_choices},
        {"algo.kl.type", loss_kl_choices},
        {"algo.ratio_level", loss_ratio_level_choices},
        {"algo.degrpo.resp_norm", loss_resp_norm_choices},
        {"optim.schedule", optim_schedule_choices},
        {"dist.backend", dist_backend_choices},
        {"reward.verifier", reward_verifier_choices},
        {"model.dtype", trainer_dtype_choices},
    };
    int n_tables = (int)(sizeof tables / sizeof tables[0]);
    for (int i = 0; i < cfg_schema_len; i++) {
        const cfg_key *k = &cfg_schema[i];
        if (k->type != CFG_ENUM) continue;
        const cfg_choice *table = NULL;
        for (int t = 0; t < n_tables; t++)
            if (!strcmp(tables[t].path, k->path)) table = tables[t].table;
        if (table) {
            int rc = cfg_choices_check(k->path, table);
            CHECK(rc == 0);
            if (rc) fprintf(stderr, "  %s\n", err_msg());
            continue;
        }
        char name[64];
        for (int c = 0; next_choice(k, c, name, sizeof name) == 0; c++) {
            int bound = read_by_name(k->path, name);
            CHECK(bound);
            if (!bound) fprintf(stderr, "  %s: choice '%s' is bound to nothing\n", k->path, name);
        }
    }
    /* the check itself: a table that lacks a choice, repeats one or names another fails */
    const cfg_choice short_table[] = {{"grpo", 0}, {NULL, 0}};
    CHECK(cfg_choices_check("algo.estimator", short_table) == -1);
    CHECK_CONTAINS(err_msg(), "the choice 'drgrpo' has no value");
    const cfg_choice twice[] = {{"k1", 0}, {"k1", 1}, {NULL, 0}};
    CHECK(cfg_choices_check("algo.kl.type", twice) == -1);
    CHECK_CONTAINS(err_msg(), "binds 'k1' twice");
    const cfg_choice extra[] = {{"k1", 0}, {"k2", 1}, {"k3", 2}, {"abs", 3}, {"k4", 4}, {NULL, 0}};
    CHECK(cfg_choices_check("algo.kl.type", extra) == -1);
    CHECK_CONTAINS(err_msg(), "'k4', which is not a choice");
    /* a module asked for a name its table lacks says which */
    rlvr_config c;
    cfg_init(&c);
    int v = -1;
    CHECK(cfg_set(&c, "algo.kl.type=abs") == 0 && cfg_choice_value(&c, "algo.kl.type", loss_kl_choices, &v) == 0 &&
          v == LOSS_KL_ABS);
    CHECK(cfg_choice_value(&c, "algo.kl.type", short_table, &v) == -1);
    CHECK_CONTAINS(err_msg(), "algo.kl.type: the choice 'abs' is not known");
    cfg_free(&c);
}

int main(void) {
    test_schema_is_consistent();
    test_defaults_file_and_set();
    test_bad_files();
    test_bad_sets();
    test_enum_choices_bound_by_name();
    if (tmp_path[0]) unlink(tmp_path);
    CHECK_DONE();
}
