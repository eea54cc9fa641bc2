"""oracle_tokenizers — Hugging Face's tokenizers library (the Rust one transformers uses) as the
oracle of ours (model/tokenizer.c), on the committed tokenizer files of tests/tokenizer/ (Qwen3,
cl100k with Llama-3's pre-tokenizer, the project's tiny one).

For each: the texts of the committed vectors (made with tokenizers.js) and 100,000 random strings
are encoded by both, `rlvr tokenize` reading them all in one process, and must give the same ids;
20,000 of those id lists and the committed decode-only cases are decoded by both (special tokens
kept and skipped) and must give the same text; a sample is encoded with the post-processor's
special tokens too. The committed vectors' own ids must equal the library's.

Two differences are known, both from Unicode versions. The library's NFC tables predate Unicode
11: after a mark added since (U+1DF8, U+1183A...) it leaves the marks in input order where Unicode's
canonical ordering, and ours, sorts them; a string where the library's NFC differs from Python's
unicodedata is reported and not failed. Its pre-tokenizer regex knows Unicode 16, Debian 12's PCRE2
(ours) Unicode 14: a code point assigned since (U+31C4F, U+1D2C2...) is a letter or digit to it and
punctuation to us, so the random code points are those of Unicode 14 (and the never-assigned planes
4-13).

The random strings mix words, digit runs, whitespace runs (tabs, newlines, no-break and
ideographic spaces), punctuation, contractions in any case, Latin with combining marks (NFC
matters to Qwen3), Cyrillic, Greek, Arabic, Devanagari, Thai, CJK, Hangul, emoji (skin tones, ZWJ
sequences, flags), the tokenizers' special tokens, random code points of every plane, and random
bytes decoded as UTF-8 with invalid sequences replaced by U+FFFD (as Python's errors="replace"
does). U+0000 is left out: our JSON lines end a string there.
"""
import gzip
import json
import os
import random
import subprocess
import sys
import unicodedata

from tokenizers import Tokenizer

SRC = os.environ.get("RLVR_SRC", ".")
BIN = os.environ["RLVR_BIN"]
N_FUZZ = 100_000
N_DECODE = 20_000  # of the encoded ids, decoded back by both
DIRS = ["qwen3", "cl100k", "tiny"]

WORDS = ["the", "The", "quick", "fox", "jumps", "über", "naïve", "café", "résumé", "hello", "world", "Natalia",
         "sold", "clips", "x", "y", "sqrt", "frac", "boxed", "def", "return", "int", "main", "http", "www", "com"]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'LL", "'D"]
PUNCT = list(".,;:!?()[]{}<>\"'`~@#$%^&*-_=+/\\|") + ["...", "--", "->", "=>", "\\(", "\\)", "$$", "```", "{{", "}}"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\u00a0", "\u3000", "\u2009", "\u200b", "\x0b", "\x0c"]
SCRIPTS = [(0x0400, 0x04FF), (0x0370, 0x03FF), (0x0600, 0x06FF), (0x0900, 0x097F), (0x0E00, 0x0E7F),
           (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x3040, 0x30FF), (0x0590, 0x05FF), (0x00C0, 0x024F)]
COMBINING = [chr(c) for c in range(0x0300, 0x0370)]
EMOJI = ["😀", "🎉", "👍", "👍🏽", "🤖", "❤️", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "✅", "🧮", "½", "∑", "∫", "π", "√", "≤", "∞"]


def special_texts(tok):
    return [t.content for t in tok.get_added_tokens_decoder().values()][:20]


def random_code_point(r):
    """A code point of Unicode 14.0 (Python's unicodedata here, and Debian 12's PCRE2 tables), or of
    planes 4-13, which no version assigns; never NUL nor a surrogate. Code points that later
    versions assign are one documented difference (see main)."""
    while True:
        c = r.choice([r.randint(1, 0x7FF), r.randint(0x800, 0xFFFF), r.randint(0x10000, 0x3FFFF),
                      r.randint(0x40000, 0xDFFFF), r.randint(0xE0000, 0x10FFFF)])
        if not 0xD800 <= c <= 0xDFFF and (unicodedata.category(chr(c)) != "Cn" or 0x40000 <= c <= 0xDFFFF):
            return chr(c)


def fuzz_piece(r, specials):
    k = r.random()
    if k < 0.16:
        return r.choice(WORDS) + (r.choice(CONTRACTIONS) if r.random() < 0.2 else "")
    if k < 0.28:
        return "".join(r.choice("0123456789") for _ in range(r.randint(1, 14)))
    if k < 0.40:
        return r.choice(SPACES) * r.randint(1, 3)
    if k < 0.50:
        return r.choice(PUNCT)
    if k < 0.62:
        lo, hi = r.choice(SCRIPTS)
        return "".join(chr(r.randint(lo, hi)) for _ in range(r.randint(1, 6)))
    if k < 0.67:
        return r.choice("aeiouAEIOUnc") + "".join(r.choice(COMBINING) for _ in range(r.randint(1, 2)))
    if k < 0.75:
        return r.choice(EMOJI)
    if k < 0.78:
        return r.choice(specials) if specials else ""
    if k < 0.88:
        return random_code_point(r)
    raw = bytes(r.randint(1, 255) for _ in range(r.randint(1, 8)))
    return raw.decode("utf-8", errors="replace")


def fuzz_strings(seed, specials):
    r = random.Random(seed)
    return ["".join(fuzz_piece(r, specials) for _ in range(r.randint(1, 24))) for _ in range(N_FUZZ)]


def rlvr_tokenize(path, lines, *flags):
    r = subprocess.run([BIN, "tokenize", "--tokenizer", path, *flags], input="".join(lines), capture_output=True,
                       text=True)
    if r.returncode:
        sys.exit(f"oracle_tokenizers: rlvr tokenize {path} {' '.join(flags)} failed: {r.stderr.strip()}")
    return [json.loads(l) for l in r.stdout.split("\n") if l]  # not splitlines: U+2028 may stand raw in JSON


def load(d):
    path = os.path.join(SRC, "tests", "tokenizer", d, "tokenizer.json")
    if os.path.exists(path):
        return Tokenizer.from_file(path)
    with gzip.open(path + ".gz", "rt", encoding="utf-8") as f:
        return Tokenizer.from_str(f.read())


def nfc_differs(tok, text):
    """The library's NFC is not Unicode's (Python's unicodedata) on text: its tables predate
    Unicode 11, so it leaves marks such as U+1DF8 or U+1183A (canonical combining classes 228
    and 7) where Unicode's canonical ordering moves them, as ours does."""
    return tok.normalizer is not None and tok.normalizer.normalize_str(text) != unicodedata.normalize("NFC", text)


def compare(what, texts, got, want, show, excused=lambda i: False):
    """Count the disagreements; those excused (a documented difference) are reported, not failed."""
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    known = [i for i in bad if excused(i)]
    bad = [i for i in bad if not excused(i)]
    for i in bad[:5]:
        print(f"  {what}: {texts[i]!r}: ours {show(got[i])}, tokenizers {show(want[i])}")
    ok = not bad and len(got) == len(want)
    note = f" ({len(known)} more differ where the library's NFC is not Unicode's)" if known else ""
    print(f"{'ok' if ok else 'FAILED'}: {what}: {len(want) - len(bad) - len(known)} of {len(want)} agree{note}")
    return ok


def main():
    passes = fails = 0

    def tally(ok):
        nonlocal passes, fails
        passes += ok
        fails += not ok

    for d in DIRS:
        tdir = os.path.join(SRC, "tests", "tokenizer", d)
        tok = load(d)
        vectors = [json.loads(l) for l in open(os.path.join(tdir, "vectors.jsonl"))]
        vtexts = [v["text"] for v in vectors if "text" in v]
        texts = vtexts + fuzz_strings(1 + DIRS.index(d), special_texts(tok))
        want = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
        ours = [o["ids"] for o in rlvr_tokenize(tdir, [json.dumps({"text": t}) + "\n" for t in texts])]
        tally(compare(f"{d}: committed vectors' ids", vtexts, [v["ids"] for v in vectors if "text" in v],
                      want[:len(vtexts)], str))
        tally(compare(f"{d}: encode, {len(vtexts)} vector texts + {N_FUZZ} random", texts, ours, want, str,
                      lambda i: nfc_differs(tok, texts[i])))

        sample = texts[:len(vtexts) + 2000]
        want_sp = [e.ids for e in tok.encode_batch(sample, add_special_tokens=True)]
        ours_sp = [o["ids"] for o in rlvr_tokenize(tdir, [json.dumps({"text": t}) + "\n" for t in sample],
                                                   "--add-special-tokens")]
        tally(compare(f"{d}: encode with special tokens", sample, ours_sp, want_sp, str,
                      lambda i: nfc_differs(tok, sample[i])))

        ids = want[:N_DECODE] + [v["ids"] for v in vectors if "text" not in v]
        for skip in (False, True):
            flags = ["--decode"] + (["--skip-special-tokens"] if skip else [])
            want_text = tok.decode_batch(ids, skip_special_tokens=skip)
            ours_text = [o["text"] for o in rlvr_tokenize(tdir, [json.dumps({"ids": i}) + "\n" for i in ids], *flags)]
            tally(compare(f"{d}: decode{' skipping special tokens' if skip else ''}", ids, ours_text, want_text, repr))
    print(f"{passes} passed, {fails} failed")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
