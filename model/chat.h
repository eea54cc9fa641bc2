/* chat — chat templates implemented natively: ChatML (Qwen2 / Qwen2.5 style, with an optional
 * default system message), Qwen3 (ChatML plus <think> handling: reasoning kept only after the last
 * user query, enable_thinking=false adds an empty think block to the generation prompt) and Llama-3.
 *
 * A template is chosen by name or recognised from the Jinja text of tokenizer_config.json's
 * chat_template by its distinctive markers; the rendered text equals what the Jinja template
 * produces (tests/chat/vectors.jsonl, rendered by jinja2 from the real templates).
 * Deliberately not here: a Jinja interpreter, tool definitions in the system prompt, tool calls in
 * assistant messages, Llama-3.1's dated system header (recognised and refused, not approximated). */
#ifndef RLVR_CHAT_H
#define RLVR_CHAT_H

#include "model/tokenizer.h"

typedef enum { CHAT_CHATML, CHAT_QWEN3, CHAT_LLAMA3 } chat_format;

typedef struct chat_msg {
    const char *role;    /* "system", "user", "assistant", "tool" */
    const char *content;
} chat_msg;

typedef struct chat_template {
    chat_format format;
    char *default_system; /* ChatML: system message used when the first message is not one; NULL: none */
    char *bos;            /* Llama-3: the bos_token text put before the first message */
    int always_prompt;    /* Llama-3 variant whose template appends the assistant header unconditionally */
} chat_template;

/* By name: "chatml", "qwen2" (ChatML, default system "You are a helpful assistant."), "qwen2.5"
 * (ChatML, default system "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."),
 * "qwen3", "llama3". NULL or "auto": recognise tok's chat_template. tok may be NULL for names that
 * need no token text (all but llama3). -1 with err_set naming the template when unknown. */
int chat_template_init(chat_template *ct, const char *name, const tok_tokenizer *tok);
/* Recognise Jinja template text (bos: the bos_token text, may be NULL). */
int chat_template_detect(chat_template *ct, const char *jinja, const char *bos);
void chat_template_free(chat_template *ct);

/* Render messages to a new string (caller frees). add_generation_prompt appends the assistant
 * header; enable_thinking=0 makes Qwen3's prompt start with an empty think block. NULL with
 * err_set on an unknown role. */
char *chat_render(const chat_template *ct, const chat_msg *msgs, int n, int add_generation_prompt,
                  int enable_thinking);

#endif
