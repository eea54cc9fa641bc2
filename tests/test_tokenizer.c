/* test_tokenizer — byte-level BPE against reference ids from the Hugging Face tokenizers library.
 *
 * tests/tokenizer/<family>/vectors.jsonl were made by tests/tokenizer/make_vectors.mjs with
 * tokenizers.js from the real tokenizer files next to them (Qwen3: Apache-2.0; cl100k, the
 * GPT-3.5/GPT-4 vocabulary whose pre-tokenizer regex Llama-3 uses: MIT). Every text must encode to
 * exactly the reference ids, every id list must decode to exactly the reference text (with and
 * without special tokens), and every text must survive encode -> decode. Also: tokenizer_config
 * fields, bad inputs (invalid UTF-8, unknown ids, unsupported or malformed tokenizer.json), and the
 * tiny tokenizer writer read back by this loader. */
#include "model/tokenizer.h"

#include "common/err.h"
#include "tests/check.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *src_dir(void) {
    const char *s = getenv("RLVR_SRC");
    return s ? s : ".";
}

static int ids_equal(const tok_ids *a, const cJSON *want) {
    if (cJSON_GetArraySize(want) != a->n) return 0;
    int i = 0;
    for (const cJSON *e = want->child; e; e = e->next, i++)
        if (a->v[i] != (int32_t)e->valuedouble) return 0;
    return 1;
}

static void print_ids(const char *what, const tok_ids *a, const cJSON *want) {
    char *w = cJSON_PrintUnformatted(want);
    fprintf(stderr, "  %s: got", what);
    for (int i = 0; i < a->n; i++) fprintf(stderr, " %d", a->v[i]);
    fprintf(stderr, "\n  expected %s\n", w);
    free(w);
}

/* Every vector of dir/vectors.jsonl; returns the number of lines checked. */
static int check_vectors(tok_tokenizer *t, const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/vectors.jsonl", dir);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (!fp) return 0;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, fp) > 0) {
        lineno++;
        cJSON *j = cJSON_Parse(line);
        CHECK(j != NULL);
        if (!j) continue;
        const cJSON *text = cJSON_GetObjectItem(j, "text"), *ids = cJSON_GetObjectItem(j, "ids");
        const cJSON *dec = cJSON_GetObjectItem(j, "decoded"), *dec_skip = cJSON_GetObjectItem(j, "decoded_skip");
        tok_ids got = {0};
        if (cJSON_IsString(text)) {
            int rc = tok_encode(t, text->valuestring, strlen(text->valuestring), 0, &got);
            CHECK(rc == 0);
            int same = ids_equal(&got, ids);
            CHECK(same);
            if (!same) {
                fprintf(stderr, "%s:%d: encode \"%.60s\"\n", path, lineno, text->valuestring);
                print_ids("ids", &got, ids);
            }
        } else {
            for (const cJSON *e = ids->child; e; e = e->next) tok_ids_push(&got, (int32_t)e->valuedouble);
        }
        int n = cJSON_GetArraySize(ids);
        int32_t *v = malloc(((size_t)n + 1) * sizeof *v);
        int i = 0;
        for (const cJSON *e = ids->child; e; e = e->next) v[i++] = (int32_t)e->valuedouble;
        if (cJSON_IsString(dec)) {
            char *d = tok_decode(t, v, n, 0), *ds = tok_decode(t, v, n, 1);
            CHECK_STR(d, dec->valuestring);
            CHECK_STR(ds, dec_skip->valuestring);
            if (d && strcmp(d, dec->valuestring)) fprintf(stderr, "%s:%d: decode differs\n", path, lineno);
            free(d);
            free(ds);
        }
        free(v);
        tok_ids_free(&got);
        cJSON_Delete(j);
    }
    free(line);
    fclose(fp);
    return lineno;
}

static tok_tokenizer *load_family(const char *family, char *path, size_t cap) {
    snprintf(path, cap, "%s/tests/tokenizer/%s", src_dir(), family);
    tok_tokenizer *t = tok_load(path);
    if (!t) fprintf(stderr, "%s\n", err_msg());
    CHECK(t != NULL);
    return t;
}

static void test_qwen3(void) {
    char dir[1024];
    tok_tokenizer *t = load_family("qwen3", dir, sizeof dir);
    if (!t) return;
    int n = check_vectors(t, dir);
    CHECK(n > 100);
    CHECK(tok_vocab_size(t) == 151669);
    CHECK(tok_bos_id(t) == -1);
    CHECK(tok_eos_id(t) == 151645); /* <|im_end|> */
    CHECK(tok_pad_id(t) == 151643); /* <|endoftext|> */
    CHECK(tok_token_id(t, "<think>") == 151667);
    CHECK(tok_token_id(t, "Ġworld") == 1879);
    CHECK(tok_token_id(t, "no-such-token-string") == -1);
    CHECK_STR(tok_token_str(t, 1879), "Ġworld");
    CHECK(tok_is_special(t, 151645) && !tok_is_special(t, 151667) && !tok_is_special(t, 1879));
    CHECK(tok_chat_template(t) && strstr(tok_chat_template(t), "enable_thinking"));

    /* invalid UTF-8 is refused with the offset */
    tok_ids ids = {0};
    CHECK(tok_encode(t, "ab\xC3(", 4, 0, &ids) == -1);
    CHECK_CONTAINS(err_msg(), "invalid UTF-8 at byte 2");
    CHECK(tok_encode(t, "\xED\xA0\x80", 3, 0, &ids) == -1); /* a surrogate */
    /* an unknown id is refused */
    int32_t bad[] = {1879, 999999};
    CHECK(tok_decode(t, bad, 2, 0) == NULL);
    CHECK_CONTAINS(err_msg(), "token id 999999 at position 1");
    /* long inputs: a 200 kB run of one character merges in n log n, and the result decodes back */
    size_t big = 200000;
    char *s = malloc(big + 1);
    memset(s, 'x', big);
    s[big] = '\0';
    CHECK(tok_encode(t, s, big, 0, &ids) == 0);
    char *back = tok_decode(t, ids.v, ids.n, 0);
    CHECK(back && strlen(back) == big && !strcmp(back, s));
    free(back);
    free(s);
    tok_ids_free(&ids);
    tok_free(t);
}

static void test_cl100k(void) {
    char dir[1024];
    tok_tokenizer *t = load_family("cl100k", dir, sizeof dir);
    if (!t) return;
    CHECK(check_vectors(t, dir) > 100);
    CHECK(tok_eos_id(t) == 100257);
    tok_free(t);
}

/* A minimal tokenizer.json with the given fragments substituted in. */
static void expect_load_error(const char *json, const char *frag) {
    err_clear();
    tok_tokenizer *t = tok_load_mem(json, strlen(json), NULL, 0, "x/tokenizer.json");
    CHECK(t == NULL);
    CHECK_CONTAINS(err_msg(), "x/tokenizer.json");
    CHECK_CONTAINS(err_msg(), frag);
    tok_free(t);
}

static void test_bad_files(void) {
    expect_load_error("{", "not a well-formed JSON object");
    expect_load_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "model type \"Unigram\" is not supported");
    expect_load_error("{\"model\": {\"type\": \"WordPiece\"}}", "not supported");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {}}}", "byte_fallback");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}}}", "model.vocab[\"a\"] is not a valid id");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Metaspace\"}}",
                      "pre_tokenizer type \"Metaspace\" is not supported");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Split\", "
                      "\"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}",
                      "regex does not compile");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"normalizer\": {\"type\": \"NFKC\"}, "
                      "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
                      "normalizer \"NFKC\" is not supported");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, "
                      "\"decoder\": {\"type\": \"ByteLevel\"}}",
                      "lacks the byte-level token for byte 0x00");
    CHECK(tok_load("/nonexistent/dir") == NULL);
    CHECK_CONTAINS(err_msg(), "/nonexistent/dir: cannot open");
}

static char *slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = calloc(1, 1 << 20);
    if (buf) fread(buf, 1, (1 << 20) - 1, fp);
    fclose(fp);
    return buf;
}

/* tok_write_tiny: trained on a small corpus, the files equal the committed
 * tests/tokenizer/tiny ones (whose ids tokenizers.js reproduced: vectors.jsonl there), read back,
 * encodes and decodes losslessly. */
static void test_write_tiny(void) {
    char dir[] = "/tmp/rlvr_test_tok_XXXXXX";
    if (!mkdtemp(dir)) return;
    const char *corpus = "The answer is 42. The answer is 17. Let us think step by step: 6 * 7 = 42.\n"
                         "The the the answer answer is is 1 2 3 4 5 6 7 8 9 10 11 12 13.";
    CHECK(tok_write_tiny(dir, corpus, strlen(corpus), 300, TOK_STYLE_CHATML) == 0);
    tok_tokenizer *t = tok_load(dir);
    if (!t) fprintf(stderr, "%s\n", err_msg());
    CHECK(t != NULL);
    if (t) {
        CHECK(tok_vocab_size(t) == 277); /* 256 bytes + 16 merges + 5 special tokens */
        CHECK(tok_eos_id(t) == tok_token_id(t, "<|im_end|>"));
        CHECK(tok_token_id(t, "<think>") == 275);
        CHECK(tok_token_id(t, "Ġanswer") == 264);
        CHECK(tok_chat_template(t) && strstr(tok_chat_template(t), "<|im_start|>"));
        tok_ids ids = {0};
        const char *text = "<|im_start|>user\nThe answer is 42, café 🎉<|im_end|>";
        CHECK(tok_encode(t, text, strlen(text), 0, &ids) == 0);
        CHECK(ids.n > 5 && ids.n < (int)strlen(text) - 10); /* merges shorten it */
        CHECK(ids.v[0] == tok_token_id(t, "<|im_start|>"));
        char *back = tok_decode(t, ids.v, ids.n, 0);
        CHECK_STR(back, text);
        free(back);
        tok_ids_free(&ids);
        tok_free(t);
    }
    const char *files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", dir, files[i]);
        snprintf(b, sizeof b, "%s/tests/tokenizer/tiny/%s", src_dir(), files[i]);
        char *x = slurp(a), *y = slurp(b);
        CHECK(x && y && !strcmp(x, y));
        free(x);
        free(y);
    }
    char tiny[1024];
    t = load_family("tiny", tiny, sizeof tiny);
    if (t) CHECK(check_vectors(t, tiny) > 200);
    tok_free(t);
    CHECK(tok_write_tiny(dir, NULL, 0, 256, TOK_STYLE_LLAMA3) == 0);
    t = tok_load(dir);
    CHECK(t != NULL);
    if (t) {
        CHECK(tok_vocab_size(t) == 261);
        CHECK(tok_bos_id(t) == 256);
        tok_free(t);
    }
    CHECK(tok_write_tiny(dir, NULL, 0, 100, TOK_STYLE_LLAMA3) == -1);
    CHECK_CONTAINS(err_msg(), "at least 256");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* Usage: test_tokenizer [DIR...] — with arguments, check the vectors of other tokenizer
 * directories (tokenizer.json + vectors.jsonl from make_vectors.mjs) instead of the built-in set. */
int main(int argc, char **argv) {
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            tok_tokenizer *t = tok_load(argv[i]);
            if (!t) fprintf(stderr, "%s\n", err_msg());
            CHECK(t != NULL);
            if (t) printf("%s: %d vectors\n", argv[i], check_vectors(t, argv[i]));
            tok_free(t);
        }
        CHECK_DONE();
    }
    test_qwen3();
    test_cl100k();
    test_bad_files();
    test_write_tiny();
    CHECK_DONE();
}
