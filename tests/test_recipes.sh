#!/usr/bin/env bash
# test_recipes — every config in configs/recipes/ validates (`rlvr config show`), names its source
# (run.note) and still runs: 2 RL steps (or 2 SFT steps, then 2 RL steps from that model for the
# Warm-Up pair) on a tiny random model and a MATH-500-layout file, with the recipe's algorithm,
# rewards, clipping, KL, dynamic sampling and data field names as written; only the model, the
# device, the data paths, the sizes, the lengths and dynamic sampling's draw budget are
# overridden. A key the schema does not know, written into a recipe, is one error naming the file
# and the key.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
recipes=("$SRC"/configs/recipes/*.json)
[ ${#recipes[@]} -ge 9 ] && ok || bad "expected at least 9 recipes in configs/recipes, found ${#recipes[@]}"
"$RLVR" init-model --arch qwen2 --out "$tmp/m" --hidden 32 --layers 2 --heads 4 --kv-heads 2 --tie --seed 3 >/dev/null || bad "init-model"
data="$SRC/tests/data/bench/math500.jsonl"
tiny=(--set model.path="$tmp/m" --set model.chat_template=none --set model.dtype=f32 --set model.device=cpu
      --set run.threads=1 --set rollout.max_new_tokens=16 --set eval.problems=2 --set eval.samples=2)
# dynamic sampling's draw budget is a size too: a random model is right by chance only, so a group
# with mixed outcomes can take more draws than a trained one needs
rl=(--set train.steps=2 --set train.prompts_per_step=2 --set train.group_size=8 --set train.mini_batches=1
    --set train.save_every=0 --set algo.dynamic_sampling.max_draws=100)

for r in "${recipes[@]}"; do
  name=$(basename "$r" .json)
  # validates, and the resolved config carries the source
  out=$("$RLVR" config show "$r" 2>&1) && ok || bad "$name: config show failed: $out"
  echo "$out" | $PY -c 'import json, re, sys; n = json.load(sys.stdin)["run"]["note"]; assert re.search(r"\(\w.* et al\.|\w+/[\w.-]+@[0-9a-f]{8}", n), n' &&
    ok || bad "$name: run.note names no paper or repository@commit"
  grep -q "$name" "$SRC/docs/RECIPES.md" && ok || bad "$name is not listed in docs/RECIPES.md"
  case $name in
    warmup_rlvr) continue ;; # runs below, from the warm-up's model
    warmup_kk_sft)
      expect 0 "model written to $tmp/$name/model" -- "$RLVR" sft "$r" "${tiny[@]}" --set run.dir="$tmp/$name" \
        --set sft.steps=2 --set sft.warmup_steps=0 --set sft.batch_size=4 --set data.train_size=8 --set data.test_size=4
      expect 0 "model written" -- "$RLVR" train "$SRC/configs/recipes/warmup_rlvr.json" "${tiny[@]}" "${rl[@]}" \
        --set model.path="$tmp/$name/model" --set run.dir="$tmp/warmup_rlvr" \
        --set data.train_path="$data" --set data.test_path="$data"
      [ "$(wc -l < "$tmp/warmup_rlvr/metrics.jsonl")" -eq 2 ] && ok || bad "warmup_rlvr: not 2 steps in metrics.jsonl"
      continue ;;
  esac
  expect 0 "model written" -- "$RLVR" train "$r" "${tiny[@]}" "${rl[@]}" --set run.dir="$tmp/$name" \
    --set data.train_path="$data" --set data.test_path="$data"
  [ -f "$tmp/$name/metrics.jsonl" ] && [ "$(wc -l < "$tmp/$name/metrics.jsonl")" -eq 2 ] && ok ||
    bad "$name: not 2 steps in metrics.jsonl"
  # what the recipe asked for is what ran
  $PY - "$r" "$tmp/$name/config.json" <<'PYEOF' && ok || bad "$name: the run's config.json differs from the recipe's algo/reward"
import json, sys
want, got = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
def same(w, g, path):
    for k, v in w.items():
        if isinstance(v, dict): same(v, g[k], path + k + ".")
        elif path + k != "algo.dynamic_sampling.max_draws": assert g[k] == v, (path + k, v, g[k])
for section in ("algo", "reward", "optim"):
    same(want.get(section, {}), got[section], section + ".")
PYEOF
done

# a recipe key the schema does not know: one error naming the file and the key
/usr/bin/python3 - "$SRC/configs/recipes/dapo.json" "$tmp/typo.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["algo"]["clip"]["eps_hihg"] = 0.28
c["_comment"] = "from the DAPO paper"
json.dump(c, open(sys.argv[2], "w"), indent=1)
PYEOF
expect 1 "$tmp/typo.json: unknown key 'algo.clip.eps_hihg'" -- "$RLVR" config show "$tmp/typo.json"
/usr/bin/python3 - "$SRC/configs/recipes/dapo.json" "$tmp/comment.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["_comment"] = "from the DAPO paper"
json.dump(c, open(sys.argv[2], "w"), indent=1)
PYEOF
expect 1 "$tmp/comment.json: unknown key '_comment'" -- "$RLVR" train "$tmp/comment.json"

finish test_recipes
