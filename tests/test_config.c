/* test_config — the schema-driven config: defaults, files, --set overrides, the resolved JSON,
 * and every kind of bad input with the message it must give. */
#include "check.h"

#include "common/cfg.h"
#include "common/err.h"

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

int main(void) {
    test_schema_is_consistent();
    test_defaults_file_and_set();
    test_bad_files();
    test_bad_sets();
    if (tmp_path[0]) unlink(tmp_path);
    CHECK_DONE();
}
