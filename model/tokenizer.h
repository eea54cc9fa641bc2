/* tokenizer — Hugging Face tokenizer.json byte-level BPE (GPT-2, Llama-3, Qwen2/2.5, Qwen3).
 *
 * Encoding follows the tokenizers library step by step: added tokens are cut out of the text first
 * (leftmost-longest match, honouring lstrip/rstrip/single_word/normalized), the remaining pieces are
 * normalized (NFC when the file says so, by utf8proc), split by the pre-tokenizer (Split with the
 * file's regex, evaluated by PCRE2 in UTF + UCP mode, then ByteLevel), and each pre-token is merged
 * by BPE in rank order (heap-driven, with a pre-token -> ids cache). Decoding maps ids back to bytes
 * and replaces every ill-formed UTF-8 sequence by U+FFFD as Rust's from_utf8_lossy does.
 * tokenizer_config.json gives bos/eos/pad tokens, the chat template text and
 * clean_up_tokenization_spaces. tokenizer.json may be gzip-compressed (read through zlib).
 * Deliberately not here: SentencePiece/Unigram/WordPiece models, BPE dropout, byte_fallback
 * vocabularies (Llama-2 style), offsets, pairs of sequences, padding and truncation. A tokenizer
 * is used by one thread at a time (the cache is not locked). */
#ifndef RLVR_TOKENIZER_H
#define RLVR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok_tokenizer tok_tokenizer;

/* A growable list of token ids; zero-initialise, release with tok_ids_free. */
typedef struct tok_ids {
    int32_t *v;
    int n, cap;
} tok_ids;

void tok_ids_free(tok_ids *ids);
/* Append one id (out of memory goes to common/mem.h's handler). */
void tok_ids_push(tok_ids *ids, int32_t id);

/* Load a directory holding tokenizer.json (or tokenizer.json.gz) and, when present,
 * tokenizer_config.json; or a tokenizer.json[.gz] file path (its directory is searched for
 * tokenizer_config.json). NULL with err_set naming the file, the key and what was expected. */
tok_tokenizer *tok_load(const char *path);
/* The same from memory: tokenizer.json text and tokenizer_config.json text (may be NULL).
 * `label` names the source in errors. */
tok_tokenizer *tok_load_mem(const char *json, size_t len, const char *config, size_t config_len,
                            const char *label);
void tok_free(tok_tokenizer *t);

/* Encode UTF-8 text (len bytes), appending ids to out. add_special adds what the post_processor
 * puts around a single sequence (Llama-3's <|begin_of_text|>); chat-template text is encoded
 * without. Invalid UTF-8 is an error naming the byte offset. */
int tok_encode(tok_tokenizer *t, const char *text, size_t len, int add_special, tok_ids *out);
/* Decode ids to a new NUL-terminated UTF-8 string (caller frees); skip_special drops special
 * added tokens. NULL with err_set on an id outside the vocabulary. */
char *tok_decode(const tok_tokenizer *t, const int32_t *ids, int n, int skip_special);

/* One past the largest id (model vocabulary and added tokens). */
int tok_vocab_size(const tok_tokenizer *t);
/* Id of a token written as in tokenizer.json (added token content, or the byte-level vocabulary
 * string such as "Ġthe"); -1 when absent. */
int32_t tok_token_id(const tok_tokenizer *t, const char *token);
/* The tokenizer.json string of an id (borrowed); NULL when out of range. */
const char *tok_token_str(const tok_tokenizer *t, int32_t id);
/* True for added tokens marked "special". */
int tok_is_special(const tok_tokenizer *t, int32_t id);

/* From tokenizer_config.json; -1 / NULL when absent. */
int32_t tok_bos_id(const tok_tokenizer *t);
int32_t tok_eos_id(const tok_tokenizer *t);
int32_t tok_pad_id(const tok_tokenizer *t);
const char *tok_chat_template(const tok_tokenizer *t);

/* ---- writing a small tokenizer of our own (for `rlvr init-model`) ---- */

typedef enum { TOK_STYLE_CHATML, TOK_STYLE_LLAMA3 } tok_style;

/* Train a byte-level BPE on `corpus` (UTF-8, may be NULL for bytes only) with the Qwen2/Llama-3
 * pre-tokenizer until the vocabulary (256 byte tokens + merges) has `vocab_size` entries or no
 * pair repeats, add the style's special tokens after it (ChatML: <|endoftext|> <|im_start|>
 * <|im_end|> <think> </think>; Llama-3: <|begin_of_text|> <|end_of_text|> <|start_header_id|>
 * <|end_header_id|> <|eot_id|>) and write dir/tokenizer.json and dir/tokenizer_config.json (with
 * the style's chat template). vocab_size must be at least 256. The directory must exist. */
int tok_write_tiny(const char *dir, const char *corpus, size_t len, int vocab_size, tok_style style);

#endif
