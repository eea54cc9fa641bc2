/* chat — native renderers for the ChatML, Qwen3 and Llama-3 chat templates, and recognition of
 * tokenizer_config.json's Jinja text. Each renderer follows its Jinja template statement by
 * statement (Python string methods included: split, strip, lstrip); see chat.h for the scope. */
#define _GNU_SOURCE /* memmem */
#include "chat.h"

#include "common/err.h"
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char QWEN2_SYSTEM[] = "You are a helpful assistant.";
static const char QWEN25_SYSTEM[] = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

void chat_template_free(chat_template *ct) {
    if (!ct) return;
    free(ct->default_system);
    free(ct->bos);
    *ct = (chat_template){0};
}

static void set_str(char **dst, const char *s) {
    free(*dst);
    *dst = s ? mem_strdup(s) : NULL;
}

/* The literal default system message of a ChatML template: the text between
 * "<|im_start|>system\n" and "<|im_end|>" inside one Jinja string literal. */
static void extract_default_system(chat_template *ct, const char *jinja) {
    static const char head[] = "<|im_start|>system\\n";
    for (const char *p = strstr(jinja, head); p; p = strstr(p + 1, head)) {
        const char *b = p + sizeof head - 1, *e = strstr(b, "<|im_end|>");
        if (!e || e == b || strcspn(b, "'\"{}+") < (size_t)(e - b)) continue;
        free(ct->default_system);
        ct->default_system = mem_strndup(b, (size_t)(e - b));
        return;
    }
}

int chat_template_detect(chat_template *ct, const char *jinja, const char *bos) {
    *ct = (chat_template){0};
    if (!jinja) return err_set("no chat_template in tokenizer_config.json: name one (chatml, qwen2, qwen2.5, qwen3, llama3)");
    if (strstr(jinja, "<|start_header_id|>")) {
        if (strstr(jinja, "Cutting Knowledge Date"))
            return err_set("chat_template is Llama-3.1/3.2's (dated system header, tools), which is not implemented "
                           "natively; name llama3 to use the Llama-3 format without that header");
        ct->format = CHAT_LLAMA3;
        ct->always_prompt = !strstr(jinja, "add_generation_prompt");
        if (strstr(jinja, "bos_token") && !bos)
            return err_set("chat_template uses bos_token but tokenizer_config.json names none");
        set_str(&ct->bos, strstr(jinja, "bos_token") ? bos : "");
        return 0;
    }
    if (strstr(jinja, "<|im_start|>")) {
        if (strstr(jinja, "reasoning_content")) {
            ct->format = CHAT_QWEN3;
            return 0;
        }
        ct->format = CHAT_CHATML;
        extract_default_system(ct, jinja);
        return 0;
    }
    return err_set("chat_template not recognised (neither ChatML <|im_start|> nor Llama-3 <|start_header_id|> "
                   "markers): name one (chatml, qwen2, qwen2.5, qwen3, llama3)");
}

int chat_template_init(chat_template *ct, const char *name, const tok_tokenizer *tok) {
    *ct = (chat_template){0};
    const char *bos = tok && tok_bos_id(tok) >= 0 ? tok_token_str(tok, tok_bos_id(tok)) : NULL;
    if (!name || !strcmp(name, "auto")) {
        if (!tok) return err_set("chat template \"auto\" needs a tokenizer");
        return chat_template_detect(ct, tok_chat_template(tok), bos);
    }
    if (!strcmp(name, "chatml")) ct->format = CHAT_CHATML;
    else if (!strcmp(name, "qwen2")) ct->format = CHAT_CHATML;
    else if (!strcmp(name, "qwen2.5")) ct->format = CHAT_CHATML;
    else if (!strcmp(name, "qwen3")) ct->format = CHAT_QWEN3;
    else if (!strcmp(name, "llama3")) ct->format = CHAT_LLAMA3;
    else return err_set("unknown chat template \"%s\" (auto, chatml, qwen2, qwen2.5, qwen3, llama3)", name);
    if (!strcmp(name, "qwen2")) set_str(&ct->default_system, QWEN2_SYSTEM);
    if (!strcmp(name, "qwen2.5")) set_str(&ct->default_system, QWEN25_SYSTEM);
    if (ct->format == CHAT_LLAMA3) {
        if (!bos) return err_set("chat template llama3 needs a tokenizer with a bos_token");
        set_str(&ct->bos, bos);
    }
    return 0;
}

/* ---- Python string helpers on byte ranges ---- */

typedef struct str_view {
    const char *p;
    size_t n;
} str_view;

static str_view sv(const char *s) { return (str_view){s, strlen(s)}; }

static str_view lstrip_nl(str_view s) {
    while (s.n && s.p[0] == '\n') s.p++, s.n--;
    return s;
}

static str_view rstrip_nl(str_view s) {
    while (s.n && s.p[s.n - 1] == '\n') s.n--;
    return s;
}

/* Length of the whitespace character (Python str.isspace) at the start of s, else 0. */
static int space_len(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    if (!n) return 0;
    if ((u[0] >= 0x09 && u[0] <= 0x0D) || (u[0] >= 0x1C && u[0] <= 0x20)) return 1;
    if (n >= 2 && u[0] == 0xC2 && (u[1] == 0x85 || u[1] == 0xA0)) return 2;
    if (n >= 3 && u[0] == 0xE1 && u[1] == 0x9A && u[2] == 0x80) return 3;                     /* U+1680 */
    if (n >= 3 && u[0] == 0xE2 && u[1] == 0x80 && (u[2] <= 0x8A || u[2] == 0xA8 || u[2] == 0xA9 || u[2] == 0xAF))
        return 3;                                                                             /* U+2000..200A, 2028, 2029, 202F */
    if (n >= 3 && u[0] == 0xE2 && u[1] == 0x81 && u[2] == 0x9F) return 3;                     /* U+205F */
    if (n >= 3 && u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x80) return 3;                     /* U+3000 */
    return 0;
}

/* Jinja's trim filter: Python str.strip(). */
static str_view strip_space(str_view s) {
    int l;
    while ((l = space_len(s.p, s.n)) > 0) s.p += l, s.n -= (size_t)l;
    for (;;) { /* find the last character and test it */
        size_t i = s.n;
        if (!i) break;
        i--;
        while (i > 0 && ((unsigned char)s.p[i] & 0xC0) == 0x80) i--;
        if (space_len(s.p + i, s.n - i) != (int)(s.n - i)) break;
        s.n = i;
    }
    return s;
}

/* Python s.split(sep)[0] and s.split(sep)[-1]. */
static str_view split_first(str_view s, const char *sep) {
    const char *hit = memmem(s.p, s.n, sep, strlen(sep));
    return hit ? (str_view){s.p, (size_t)(hit - s.p)} : s;
}

static str_view split_last(str_view s, const char *sep) {
    size_t l = strlen(sep);
    const char *last = NULL;
    for (const char *h = memmem(s.p, s.n, sep, l); h; h = memmem(h + 1, s.n - (size_t)(h + 1 - s.p), sep, l))
        last = h;
    return last ? (str_view){last + l, s.n - (size_t)(last + l - s.p)} : s;
}

static void put(FILE *o, str_view s) { fwrite(s.p, 1, s.n, o); }

/* ---- renderers ---- */

static void render_chatml(FILE *o, const chat_template *ct, const chat_msg *m, int n) {
    if (n > 0 && ct->default_system && strcmp(m[0].role, "system"))
        fprintf(o, "<|im_start|>system\n%s<|im_end|>\n", ct->default_system);
    for (int i = 0; i < n; i++) fprintf(o, "<|im_start|>%s\n%s<|im_end|>\n", m[i].role, m[i].content);
}

static int is_tool_response(const char *c) {
    size_t n = strlen(c), a = strlen("<tool_response>"), b = strlen("</tool_response>");
    return n >= a && !strncmp(c, "<tool_response>", a) && n >= b && !strcmp(c + n - b, "</tool_response>");
}

/* Qwen3's template, tools aside. */
static int render_qwen3(FILE *o, const chat_msg *m, int n) {
    if (n > 0 && !strcmp(m[0].role, "system")) fprintf(o, "<|im_start|>system\n%s<|im_end|>\n", m[0].content);
    int last_query = n - 1;
    for (int i = n - 1; i >= 0; i--)
        if (!strcmp(m[i].role, "user") && !is_tool_response(m[i].content)) {
            last_query = i;
            break;
        }
    for (int i = 0; i < n; i++) {
        const char *role = m[i].role;
        if (!strcmp(role, "user") || (!strcmp(role, "system") && i > 0)) {
            fprintf(o, "<|im_start|>%s\n%s<|im_end|>\n", role, m[i].content);
        } else if (!strcmp(role, "system")) {
            continue;
        } else if (!strcmp(role, "assistant")) {
            str_view content = sv(m[i].content), reasoning = {"", 0};
            if (strstr(m[i].content, "</think>")) {
                str_view all = content;
                content = lstrip_nl(split_last(all, "</think>"));
                reasoning = lstrip_nl(split_last(rstrip_nl(split_first(all, "</think>")), "<think>"));
            }
            fputs("<|im_start|>assistant\n", o);
            if (i > last_query && (i == n - 1 || reasoning.n)) {
                fputs("<think>\n", o);
                put(o, lstrip_nl(rstrip_nl(reasoning)));
                fputs("\n</think>\n\n", o);
                put(o, lstrip_nl(content));
            } else {
                put(o, content);
            }
            fputs("<|im_end|>\n", o);
        } else if (!strcmp(role, "tool")) {
            if (i == 0 || strcmp(m[i - 1].role, "tool")) fputs("<|im_start|>user", o);
            fprintf(o, "\n<tool_response>\n%s\n</tool_response>", m[i].content);
            if (i == n - 1 || strcmp(m[i + 1].role, "tool")) fputs("<|im_end|>\n", o);
        } else {
            return err_set("chat message %d: role \"%s\" is not one of system, user, assistant, tool", i, role);
        }
    }
    return 0;
}

static void render_llama3(FILE *o, const chat_template *ct, const chat_msg *m, int n) {
    for (int i = 0; i < n; i++) {
        if (i == 0) fputs(ct->bos ? ct->bos : "", o);
        fprintf(o, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role);
        put(o, strip_space(sv(m[i].content)));
        fputs("<|eot_id|>", o);
    }
}

char *chat_render(const chat_template *ct, const chat_msg *msgs, int n, int add_generation_prompt,
                  int enable_thinking) {
    for (int i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) {
            err_set("chat message %d: missing role or content", i);
            return NULL;
        }
    char *buf = NULL;
    size_t len = 0;
    FILE *o = mem_memstream(&buf, &len);
    int rc = 0;
    switch (ct->format) {
    case CHAT_CHATML:
        render_chatml(o, ct, msgs, n);
        if (add_generation_prompt) fputs("<|im_start|>assistant\n", o);
        break;
    case CHAT_QWEN3:
        rc = render_qwen3(o, msgs, n);
        if (add_generation_prompt) {
            fputs("<|im_start|>assistant\n", o);
            if (!enable_thinking) fputs("<think>\n\n</think>\n\n", o);
        }
        break;
    case CHAT_LLAMA3:
        render_llama3(o, ct, msgs, n);
        if (add_generation_prompt || ct->always_prompt) fputs("<|start_header_id|>assistant<|end_header_id|>\n\n", o);
        break;
    }
    mem_memstream_close(o);
    if (rc) {
        free(buf);
        return NULL;
    }
    return buf;
}
