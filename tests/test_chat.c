/* test_chat — native chat templates against renderings of the real Jinja templates.
 *
 * tests/chat/vectors.jsonl was rendered by jinja2 (tests/chat/make_chat_vectors.py) from Qwen3's
 * tokenizer_config.json, the ChatML and Llama-3 templates tok_write_tiny writes, and Meta-Llama-3's
 * base template (which appends the assistant header unconditionally). Every rendering must match
 * exactly, with the template recognised from its Jinja text where the text is in the repository.
 * Also: named templates, default system messages, and templates that must be refused. */
#include "model/chat.h"

#include "common/err.h"
#include "tests/check.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *src_dir(void) {
    const char *s = getenv("RLVR_SRC");
    return s ? s : ".";
}

/* chat_template and bos_token of a tokenizer_config.json, recognised. */
static int detect_from_config(chat_template *ct, const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", src_dir(), rel);
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, fp);
    fclose(fp);
    cJSON *j = cJSON_ParseWithLength(buf, n);
    const cJSON *t = cJSON_GetObjectItem(j, "chat_template"), *b = cJSON_GetObjectItem(j, "bos_token");
    int rc = chat_template_detect(ct, cJSON_GetStringValue(t), cJSON_GetStringValue(b));
    cJSON_Delete(j);
    free(buf);
    return rc;
}

static void test_vectors(void) {
    chat_template qwen3, tiny, llama3_tiny, llama3_base;
    CHECK(detect_from_config(&qwen3, "tests/tokenizer/qwen3/tokenizer_config.json") == 0);
    CHECK(qwen3.format == CHAT_QWEN3);
    CHECK(detect_from_config(&tiny, "tests/tokenizer/tiny/tokenizer_config.json") == 0);
    CHECK(tiny.format == CHAT_CHATML && tiny.default_system == NULL);
    char dir[] = "/tmp/rlvr_test_chat_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK(tok_write_tiny(dir, NULL, 0, 256, TOK_STYLE_LLAMA3) == 0);
    tok_tokenizer *tok = tok_load(dir);
    CHECK(tok != NULL);
    CHECK(chat_template_init(&llama3_tiny, "auto", tok) == 0);
    CHECK(llama3_tiny.format == CHAT_LLAMA3 && !llama3_tiny.always_prompt);
    CHECK_STR(llama3_tiny.bos, "<|begin_of_text|>");
    CHECK(chat_template_init(&llama3_base, "llama3", tok) == 0);
    llama3_base.always_prompt = 1; /* what recognising that template's text sets, tested below */
    tok_free(tok);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);

    char path[1024];
    snprintf(path, sizeof path, "%s/tests/chat/vectors.jsonl", src_dir());
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (fp && getline(&line, &cap, fp) > 0) {
        cJSON *j = cJSON_Parse(line);
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(j, "template"));
        const cJSON *msgs = cJSON_GetObjectItem(j, "messages");
        const chat_template *ct = !strcmp(name, "qwen3") ? &qwen3 : !strcmp(name, "chatml-tiny") ? &tiny
                                : !strcmp(name, "llama3-tiny") ? &llama3_tiny : &llama3_base;
        int nm = cJSON_GetArraySize(msgs), i = 0;
        chat_msg *m = calloc((size_t)nm + 1, sizeof *m);
        for (const cJSON *e = msgs->child; e; e = e->next, i++) {
            m[i].role = cJSON_GetStringValue(cJSON_GetObjectItem(e, "role"));
            m[i].content = cJSON_GetStringValue(cJSON_GetObjectItem(e, "content"));
        }
        char *got = chat_render(ct, m, nm, cJSON_IsTrue(cJSON_GetObjectItem(j, "add_generation_prompt")),
                                cJSON_IsTrue(cJSON_GetObjectItem(j, "enable_thinking")));
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(j, "text"));
        CHECK_STR(got, want);
        if (!got || strcmp(got, want)) fprintf(stderr, "  %s, line %d\n", name, n + 1);
        free(got);
        free(m);
        cJSON_Delete(j);
        n++;
    }
    free(line);
    if (fp) fclose(fp);
    CHECK(n >= 180);
    chat_template_free(&qwen3);
    chat_template_free(&tiny);
    chat_template_free(&llama3_tiny);
    chat_template_free(&llama3_base);
}

static void test_named_and_refused(void) {
    chat_template ct;
    chat_msg m[] = {{"user", "Hi"}};
    CHECK(chat_template_init(&ct, "qwen2.5", NULL) == 0);
    char *s = chat_render(&ct, m, 1, 1, 1);
    CHECK_STR(s, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                 "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    free(s);
    chat_template_free(&ct);
    CHECK(chat_template_init(&ct, "qwen2", NULL) == 0);
    chat_msg sys[] = {{"system", "Be brief."}, {"user", "Hi"}};
    s = chat_render(&ct, sys, 2, 0, 1);
    CHECK_STR(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    free(s);
    chat_template_free(&ct);

    /* a default system message is read out of a ChatML template's text */
    const char *q25 = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
                      "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. "
                      "You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}";
    CHECK(chat_template_detect(&ct, q25, NULL) == 0);
    CHECK(ct.format == CHAT_CHATML);
    CHECK_STR(ct.default_system, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
    chat_template_free(&ct);
    /* Llama-3 without add_generation_prompt in its text always appends the header */
    CHECK(chat_template_detect(&ct, "{{ bos_token }}<|start_header_id|>{{ '<|start_header_id|>assistant' }}",
                               "<|begin_of_text|>") == 0);
    CHECK(ct.format == CHAT_LLAMA3 && ct.always_prompt == 1);
    chat_template_free(&ct);

    CHECK(chat_template_detect(&ct, "<|start_header_id|> Cutting Knowledge Date: December 2023", "<s>") == -1);
    CHECK_CONTAINS(err_msg(), "Llama-3.1");
    CHECK(chat_template_detect(&ct, "{{ bos_token }}<|start_header_id|>", NULL) == -1);
    CHECK_CONTAINS(err_msg(), "names none");
    CHECK(chat_template_detect(&ct, "[INST] {{ message }} [/INST]", NULL) == -1);
    CHECK_CONTAINS(err_msg(), "not recognised");
    CHECK(chat_template_detect(&ct, NULL, NULL) == -1);
    CHECK_CONTAINS(err_msg(), "no chat_template");
    CHECK(chat_template_init(&ct, "vicuna", NULL) == -1);
    CHECK_CONTAINS(err_msg(), "unknown chat template \"vicuna\"");
    CHECK(chat_template_init(&ct, "llama3", NULL) == -1);
    CHECK_CONTAINS(err_msg(), "bos_token");

    CHECK(chat_template_init(&ct, "qwen3", NULL) == 0);
    chat_msg bad[] = {{"user", "x"}, {"narrator", "y"}};
    CHECK(chat_render(&ct, bad, 2, 1, 1) == NULL);
    CHECK_CONTAINS(err_msg(), "chat message 1: role \"narrator\"");
    chat_msg none[] = {{"user", NULL}};
    CHECK(chat_render(&ct, none, 1, 1, 1) == NULL);
    CHECK_CONTAINS(err_msg(), "missing role or content");
    chat_template_free(&ct);
    chat_template_free(NULL);
}

int main(void) {
    test_vectors();
    test_named_and_refused();
    CHECK_DONE();
}
