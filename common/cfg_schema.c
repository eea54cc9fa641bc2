/* cfg_schema — every configuration key of rlvr.c, in one table. See cfg.h.
 * Keep rows grouped by section; docs/CONFIG.md is generated from this table (`rlvr config doc`). */
#include "cfg.h"

#define K(path, type, field, def, range, choices, help) \
    {path, type, offsetof(rlvr_config, field), def, range, choices, help}

const cfg_key cfg_schema[] = {
    K("run.dir", CFG_STRING, run.dir, "runs/default", NULL, NULL,
      "Run directory: resolved config, metrics.jsonl, checkpoints, rollout log, eval results."),
    K("run.note", CFG_STRING, run.note, NULL, NULL, NULL,
      "Free text kept in the resolved config and unused otherwise: a recipe names the paper and "
      "code its values come from (configs/recipes/, docs/RECIPES.md)."),
    K("run.seed", CFG_INT, run.seed, "1234", "[0,9007199254740991]", NULL,
      "Seed of every random stream of the run (initialisation, data order, sampling)."),
    K("run.threads", CFG_INT, run.threads, "1", "[0,1024]", NULL,
      "Intra-op CPU threads of libtorch; 0 keeps libtorch's default (all cores). One thread is "
      "fastest for small models, and leaves the other cores to parallel runs."),
    K("run.log_level", CFG_ENUM, run.log_level, "info", NULL, "debug|info|warn|error|quiet",
      "Least severe message printed on stderr."),
    K("run.tensorboard", CFG_BOOL, run.tensorboard, "false", NULL, NULL,
      "Also write the metrics as TensorBoard scalars, and the resolved config as text, to "
      "run.dir/events.out.tfevents.* (`tensorboard --logdir run.dir`)."),

    K("model.path", CFG_STRING, model.path, NULL, NULL, NULL,
      "Hugging Face model directory (config.json, *.safetensors, tokenizer.json, "
      "tokenizer_config.json) the run starts from."),
    K("model.chat_template", CFG_ENUM, model.chat_template, "auto", NULL,
      "auto|none|chatml|qwen2|qwen2.5|qwen3|llama3",
      "How a prompt becomes tokens: auto recognises tokenizer_config.json's template (none if it "
      "has none); none uses the prompt text as is."),
    K("model.dtype", CFG_ENUM, model.dtype, "f32", NULL, "f32|bf16",
      "Weight dtype in memory (bf16 computes in bf16 on CUDA; the CPU upcasts)."),
    K("model.device", CFG_STRING, model.device, "cpu", NULL, NULL,
      "cpu, cuda or cuda:N (under MPI each rank takes the GPU of its node-local rank)."),
    K("model.adapter", CFG_STRING, model.adapter, NULL, NULL, NULL,
      "A LoRA adapter directory (adapter_config.json, adapter_model.safetensors, as PEFT and "
      "`rlvr export --peft` write them) applied on top of model.path: score, generate and eval "
      "use base + adapter; a LoRA run starts from it. Its base must match model.path."),
    K("model.lora.targets", CFG_STRLIST, model.lora.targets, NULL, NULL, NULL,
      "LoRA: the projections given adapters, among q k v o gate up down (or PEFT's q_proj .. "
      "down_proj), as a list or one comma-separated string; empty = LoRA off (full fine-tuning). "
      "With LoRA the base weights are frozen and only the adapters train."),
    K("model.lora.rank", CFG_INT, model.lora.rank, "8", "[1,65536]", NULL,
      "LoRA rank r: A (r, in), B (out, r); at most the smaller side of every targeted layer."),
    K("model.lora.alpha", CFG_FLOAT, model.lora.alpha, "8", "(0,inf)", NULL,
      "LoRA alpha: the update is (alpha / r) B A x (PEFT's lora_alpha)."),
    K("model.lora.dropout", CFG_FLOAT, model.lora.dropout, "0", "[0,1)", NULL,
      "Dropout on the adapters' input during training updates (PEFT's lora_dropout), drawn from "
      "the run's counter-based streams, so a resumed run repeats it."),

    K("train.steps", CFG_INT, train.steps, "100", "[1,inf)", NULL,
      "RL steps (one rollout batch each) the run ends at, counting resumed steps."),
    K("train.prompts_per_step", CFG_INT, train.prompts_per_step, "32", "[1,inf)", NULL,
      "Prompts per step over all ranks (B); each rank samples its share."),
    K("train.group_size", CFG_INT, train.group_size, "8", "[1,4096]", NULL,
      "Completions per prompt (G)."),
    K("train.epochs", CFG_INT, train.epochs, "1", "[1,64]", NULL,
      "Passes of policy updates over each rollout batch."),
    K("train.mini_batches", CFG_INT, train.mini_batches, "1", "[1,4096]", NULL,
      "Optimiser steps per epoch; the batch's groups are split evenly among them."),
    K("train.micro_batch_tokens", CFG_INT, train.micro_batch_tokens, "0", "[0,inf)", NULL,
      "Memory knob: padded tokens per forward/backward; 0 = a whole mini-batch at once. Results "
      "do not depend on it beyond rounding (the loss uses global counts)."),
    K("train.activation_checkpointing", CFG_BOOL, train.activation_checkpointing, "false", NULL, NULL,
      "Memory knob: keep only each decoder layer's input for backward and run the layer again "
      "there (about a third more compute); gradients are the same within rounding."),
    K("train.memory_limit_gib", CFG_FLOAT, train.memory_limit_gib, "0", "[0,inf)", NULL,
      "Refuse to start `rlvr train` or `rlvr sft` when the estimated training state exceeds this "
      "many GiB: the weights, a KL reference copy, gradients, AdamW moments and f32 master "
      "weights, from model.path's config.json before any weight is read (activations, logits and "
      "the KV cache are not counted). 0 = no cap; the estimate is logged either way."),
    K("train.save_every", CFG_INT, train.save_every, "50", "[0,inf)", NULL,
      "Checkpoint every N steps (and at the end, and on SIGINT/SIGTERM); 0 = only then."),
    K("train.keep_last", CFG_INT, train.keep_last, "2", "[1,inf)", NULL,
      "Checkpoints kept in the run directory."),
    K("train.eval_every", CFG_INT, train.eval_every, "0", "[0,inf)", NULL,
      "Evaluate on the test split every N steps, and once before the first step of a fresh run "
      "(step 0, the baseline); 0 = never during training."),
    K("train.log_every", CFG_INT, train.log_every, "1", "[1,inf)", NULL,
      "Print a metrics line every N steps (metrics.jsonl gets every step)."),
    K("train.resume", CFG_ENUM, train.resume, "auto", NULL, "auto|never",
      "auto: continue from the newest checkpoint in run.dir if there is one; never: refuse to "
      "start in a run directory that has checkpoints."),

    K("sft.steps", CFG_INT, sft.steps, "1000", "[1,inf)", NULL, "Supervised steps of `rlvr sft`."),
    K("sft.batch_size", CFG_INT, sft.batch_size, "64", "[1,inf)", NULL,
      "Prompt/response pairs per supervised step."),
    K("sft.lr", CFG_FLOAT, sft.lr, "1e-3", "(0,inf)", NULL,
      "Peak learning rate of `rlvr sft` (AdamW settings otherwise from optim.*)."),
    K("sft.min_lr", CFG_FLOAT, sft.min_lr, "0", "[0,inf)", NULL,
      "Learning rate the SFT cosine schedule decays to."),
    K("sft.warmup_steps", CFG_INT, sft.warmup_steps, "50", "[0,inf)", NULL,
      "Linear warm-up steps of `rlvr sft`."),
    K("sft.save_every", CFG_INT, sft.save_every, "0", "[0,inf)", NULL,
      "Checkpoint every N SFT steps; 0 = only at the end."),
    K("sft.mode", CFG_ENUM, sft.mode, "both", NULL, "both|think|short",
      "Built-in tasks: train on step-by-step (<think>) answers, direct (<short>) ones, or both "
      "half and half (the Thinkless warm-up)."),

    K("eval.problems", CFG_INT, eval.problems, "200", "[1,inf)", NULL,
      "Test problems `rlvr eval` (and train.eval_every) scores."),
    K("eval.samples", CFG_INT, eval.samples, "4", "[1,1024]", NULL,
      "Samples per problem (n); pass@k and majority@k are reported for k = 1, 2, 4, ... up to n."),
    K("eval.short_m", CFG_INT, eval.short_m, "0", "[0,1024]", NULL,
      "short-m@k (ALGORITHMS.md 9): also draw the k = eval.samples samples again, stop a "
      "problem's rows once m of them have finished, and vote among the m shortest (ties to the "
      "shortest); the report compares its accuracy, tokens and time with majority@k. 0 = off; "
      "at most eval.samples."),
    K("eval.temperature", CFG_FLOAT, eval.temperature, "1.0", "[0,100]", NULL,
      "Sampling temperature of evaluation (0 = greedy). Unless the config or --set gives it, the "
      "model's generation_config.json decides (its temperature; do_sample false = greedy); "
      "likewise for top_k, top_p, min_p and repetition_penalty."),
    K("eval.top_k", CFG_INT, eval.top_k, "0", "[0,inf)", NULL,
      "Evaluation: sample among the k most likely tokens; 0 = off (see eval.temperature for "
      "generation_config.json)."),
    K("eval.top_p", CFG_FLOAT, eval.top_p, "1.0", "(0,1]", NULL,
      "Evaluation: nucleus sampling mass; 1 = off."),
    K("eval.min_p", CFG_FLOAT, eval.min_p, "0.0", "[0,1)", NULL,
      "Evaluation: drop tokens less likely than min_p times the most likely one; 0 = off."),
    K("eval.repetition_penalty", CFG_FLOAT, eval.repetition_penalty, "1.0", "(0,100]", NULL,
      "Evaluation: Hugging Face's repetition penalty over the tokens already in the sequence "
      "(prompt and completion): positive logits divided by it, negative ones multiplied; 1 = off. "
      "RL rollouts never use one (it would change the policy's log-probs)."),

    K("rollout.temperature", CFG_FLOAT, rollout.temperature, "1.0", "[0,100]", NULL,
      "Sampling temperature; 0 = greedy. The sampler records its log-probs at the trainer's "
      "temperature (algo.logprob_temperature)."),
    K("rollout.top_k", CFG_INT, rollout.top_k, "0", "[0,inf)", NULL,
      "Sample among the k most likely tokens (ties with the k-th kept); 0 = off."),
    K("rollout.top_p", CFG_FLOAT, rollout.top_p, "1.0", "(0,1]", NULL,
      "Nucleus sampling: keep the most likely tokens until their mass reaches top_p; 1 = off."),
    K("rollout.min_p", CFG_FLOAT, rollout.min_p, "0.0", "[0,1)", NULL,
      "Drop tokens less likely than min_p times the most likely one; 0 = off."),
    K("rollout.max_new_tokens", CFG_INT, rollout.max_new_tokens, "256", "[1,1048576]", NULL,
      "Longest completion; a row also stops where the model's context ends (finish 'length')."),
    K("rollout.stop", CFG_STRLIST, rollout.stop, NULL, NULL, NULL,
      "Stop strings: a completion ends (finish 'stop') once its text contains one; the text "
      "and tokens keep it."),
    K("rollout.max_cache_mb", CFG_FLOAT, rollout.max_cache_mb, "0", "[0,inf)", NULL,
      "Cap on the KV cache of one generation batch, in MiB; the rows are split into batches that "
      "fit. 0 = no cap."),

    K("reward.verifier", CFG_ENUM, reward.verifier, "math", NULL, "math|gsm8k|countdown|kk|none",
      "Verifier that decides whether a completion is correct; a row's metadata {\"task\": ...} "
      "overrides it for that row."),
    K("reward.math.fallback", CFG_BOOL, reward.math.fallback, "true", NULL, NULL,
      "Without \\boxed{}, 'the answer is' or '####', take the whole text if it reads as one "
      "answer, else its last math span or number."),
    K("reward.math.tolerance", CFG_FLOAT, reward.math.tolerance, "1e-6", "[0,1]", NULL,
      "Relative tolerance for numeric equality (against max(1,|a|,|b|))."),
    K("reward.accuracy.weight", CFG_FLOAT, reward.accuracy.weight, "1", NULL, NULL,
      "Weight of the accuracy term (0 = off)."),
    K("reward.accuracy.correct", CFG_FLOAT, reward.accuracy.correct, "1", NULL, NULL,
      "Accuracy value of a correct completion (DAPO: 1)."),
    K("reward.accuracy.wrong", CFG_FLOAT, reward.accuracy.wrong, "0", NULL, NULL,
      "Accuracy value of a wrong or unparsable completion (DAPO: -1)."),
    K("reward.format.weight", CFG_FLOAT, reward.format.weight, "0", NULL, NULL,
      "Weight of the format term: 1 for <think>...</think> then a non-empty answer, else 0."),
    K("reward.thinkless.weight", CFG_FLOAT, reward.thinkless.weight, "0", NULL, NULL,
      "Weight of the DeGRPO reward table on the <short>/<think> control token (ALGORITHMS.md 5)."),
    K("reward.thinkless.correct_short", CFG_FLOAT, reward.thinkless.correct_short, "1", NULL, NULL,
      "Thinkless table: correct answer in <short> mode."),
    K("reward.thinkless.correct_think", CFG_FLOAT, reward.thinkless.correct_think, "0.5", NULL, NULL,
      "Thinkless table: correct answer in <think> mode (1 - gamma)."),
    K("reward.thinkless.wrong_short", CFG_FLOAT, reward.thinkless.wrong_short, "-1", NULL, NULL,
      "Thinkless table: wrong answer in <short> mode."),
    K("reward.thinkless.wrong_think", CFG_FLOAT, reward.thinkless.wrong_think, "-1", NULL, NULL,
      "Thinkless table: wrong answer in <think> mode."),
    K("reward.thinkless.format_error", CFG_FLOAT, reward.thinkless.format_error, "-1", NULL, NULL,
      "Thinkless table: no control token at the start, or no answer."),
    K("reward.cosine.weight", CFG_FLOAT, reward.cosine.weight, "0", NULL, NULL,
      "Weight of the cosine length-scaled correctness reward (ALGORITHMS.md 8)."),
    K("reward.cosine.correct_at_0", CFG_FLOAT, reward.cosine.correct_at_0, "2", NULL, NULL,
      "Cosine reward of a correct completion of length 0."),
    K("reward.cosine.correct_at_max", CFG_FLOAT, reward.cosine.correct_at_max, "1", NULL, NULL,
      "Cosine reward of a correct completion of length max_len."),
    K("reward.cosine.wrong_at_0", CFG_FLOAT, reward.cosine.wrong_at_0, "-10", "[-inf,0]", NULL,
      "Cosine reward of a wrong completion of length 0."),
    K("reward.cosine.wrong_at_max", CFG_FLOAT, reward.cosine.wrong_at_max, "0", "[-inf,0]", NULL,
      "Cosine reward of a wrong completion of length max_len."),
    K("reward.cosine.exceed", CFG_FLOAT, reward.cosine.exceed, "-10", NULL, NULL,
      "Cosine reward when length + margin >= max_len."),
    K("reward.cosine.margin", CFG_INT, reward.cosine.margin, "16", "[0,inf)", NULL,
      "Tokens before max_len from which the exceed value applies."),
    K("reward.cosine.max_len", CFG_INT, reward.cosine.max_len, "14336", "[1,inf)", NULL,
      "L_max of the cosine reward, in tokens (the generation cap)."),
    K("reward.overlong.weight", CFG_FLOAT, reward.overlong.weight, "0", NULL, NULL,
      "Weight (DAPO penalty factor) of the soft overlong punishment (ALGORITHMS.md 4)."),
    K("reward.overlong.max_len", CFG_INT, reward.overlong.max_len, "20480", "[1,inf)", NULL,
      "L_max of the overlong punishment, in tokens."),
    K("reward.overlong.buffer", CFG_INT, reward.overlong.buffer, "4096", "[1,inf)", NULL,
      "L_cache: the punishment grows linearly over the last this many tokens before max_len."),
    K("reward.lgrpo.weight", CFG_FLOAT, reward.lgrpo.weight, "0", NULL, NULL,
      "lambda of L-GRPO: adds lambda*(1 - L/max_len) when every completion of the group is "
      "correct (ALGORITHMS.md 7)."),
    K("reward.lgrpo.max_len", CFG_INT, reward.lgrpo.max_len, "4096", "[1,inf)", NULL,
      "L_max of the L-GRPO length reward, in tokens."),
    K("reward.external.weight", CFG_FLOAT, reward.external.weight, "0", NULL, NULL,
      "Weight of the external reward command (0 = not started)."),
    K("reward.external.command", CFG_STRLIST, reward.external.command, NULL, NULL, NULL,
      "Program and arguments, started with execve (no shell); speaks JSON lines on stdin/stdout."),
    K("reward.external.timeout_s", CFG_FLOAT, reward.external.timeout_s, "10", "(0,3600]", NULL,
      "Seconds to wait for one reply; on timeout the process is killed and restarted."),
    K("reward.external.failure_score", CFG_FLOAT, reward.external.failure_score, "0", NULL, NULL,
      "Score of a completion whose external call crashed, timed out or got a malformed reply."),
    K("reward.external.cpu_s", CFG_INT, reward.external.cpu_s, "3600", "[1,inf)", NULL,
      "RLIMIT_CPU of the external process, in seconds of CPU over its lifetime."),
    K("reward.external.memory_mb", CFG_INT, reward.external.memory_mb, "4096", "[16,inf)", NULL,
      "RLIMIT_AS of the external process, in MiB."),
    K("reward.external.max_files", CFG_INT, reward.external.max_files, "64", "[4,65536]", NULL,
      "RLIMIT_NOFILE of the external process."),
    K("reward.plugin.weight", CFG_FLOAT, reward.plugin.weight, "0", NULL, NULL,
      "Weight of the C plugin reward (0 = not loaded)."),
    K("reward.plugin.path", CFG_STRING, reward.plugin.path, NULL, NULL, NULL,
      "Shared object implementing the plugin ABI (docs/REWARDS.md)."),
    K("reward.plugin.arg", CFG_STRING, reward.plugin.arg, NULL, NULL, NULL,
      "String passed to the plugin's init function."),
    K("reward.plugin.failure_score", CFG_FLOAT, reward.plugin.failure_score, "0", NULL, NULL,
      "Score of a completion the plugin failed to score."),

    K("dist.backend", CFG_ENUM, dist.backend, "auto", NULL, "auto|mpi|nccl",
      "Collectives between ranks under mpirun/srun: auto picks nccl when libtorch sees a CUDA "
      "device, else mpi; a plain launch is one process and needs neither."),
    K("dist.bucket_mb", CFG_FLOAT, dist.bucket_mb, "25", "(0,1024]", NULL,
      "Gradients are packed into flat buckets of this many MiB, one collective per bucket."),
    K("dist.timeout_s", CFG_FLOAT, dist.timeout_s, "1800", "(0,86400]", NULL,
      "A collective waiting longer than this ends the run with an error naming it: a rank died "
      "or hangs. Must cover the slowest rank's rollout and training between two collectives."),
    K("dist.check_every", CFG_INT, dist.check_every, "100", "[0,inf)", NULL,
      "Every this many steps the ranks compare a hash of their weights and stop on a mismatch; "
      "0 = never."),
    K("dist.nccl_lib", CFG_STRING, dist.nccl_lib, "libnccl.so.2", NULL, NULL,
      "NCCL shared library loaded at run time (dlopen) for the nccl backend: a name on the "
      "loader path or a file path."),

    K("algo.estimator", CFG_ENUM, algo.estimator, "grpo", NULL,
      "grpo|drgrpo|batch|none|psr|nsr|wreinforce|degrpo",
      "Advantage estimator (ALGORITHMS.md 1.2, 3, 5, 6): grpo (R - group mean) / (group std + "
      "eps); drgrpo R - group mean; batch (R - group mean) / (batch std + eps); none A = R; "
      "psr +1 on correct only; nsr -1 on wrong only; wreinforce +lambda / -1; degrpo R - group "
      "mean (std optional) with the decoupled loss."),
    K("algo.std_ddof", CFG_INT, algo.std_ddof, "1", "[0,1]", NULL,
      "Delta degrees of freedom of the reward std (1 = Bessel, as every reference)."),
    K("algo.std_eps", CFG_FLOAT, algo.std_eps, "1e-4", "[0,1]", NULL,
      "Added to the std before dividing (trl 1e-4, verl 1e-6, oat 1e-8)."),
    K("algo.clip.eps_low", CFG_FLOAT, algo.clip.eps_low, "0.2", "[0,1)", NULL,
      "Lower clip range: the ratio is clipped at 1 - eps_low."),
    K("algo.clip.eps_high", CFG_FLOAT, algo.clip.eps_high, "0.2", "[0,inf)", NULL,
      "Upper clip range: the ratio is clipped at 1 + eps_high (DAPO clip-higher: 0.28)."),
    K("algo.clip.dual", CFG_FLOAT, algo.clip.dual, "0", "[0,inf)", NULL,
      "Dual-clip constant c (> 1) capping the loss of negative-advantage tokens at -A*c; 0 = "
      "off (verl 3, DAPO script 10)."),
    K("algo.clip.log_ratio", CFG_FLOAT, algo.clip.log_ratio, "20", "(0,inf)", NULL,
      "Log-ratios (and the k3 KL's log-ratio) are clamped to [-x, x] before exp."),
    K("algo.ratio_level", CFG_ENUM, algo.ratio_level, "token", NULL, "token|sequence",
      "Importance ratio per token, or one per sequence from the mean token log-ratio (GSPO)."),
    K("algo.aggregation", CFG_ENUM, algo.aggregation, "auto", NULL,
      "auto|seq_mean_token_mean|token_mean|constant|seq_mean_token_sum|degrpo",
      "How per-token losses are reduced over the step (ALGORITHMS.md 1.3); auto = the "
      "estimator's own: constant for drgrpo, degrpo for degrpo, token_mean otherwise."),
    K("algo.constant_divisor", CFG_INT, algo.constant_divisor, "512", "[1,inf)", NULL,
      "L_c of the constant aggregation: loss = sum / (sequences * L_c); set it to the "
      "generation cap."),
    K("algo.degrpo.alpha", CFG_FLOAT, algo.degrpo.alpha, "0.001", "[0,inf)", NULL,
      "DeGRPO weight of the control token (response position 0) against the response tokens."),
    K("algo.degrpo.std", CFG_BOOL, algo.degrpo.std, "false", NULL, NULL,
      "DeGRPO: divide the mean-centred advantage by the group std + eps (Thinkless "
      "std_normalizer)."),
    K("algo.degrpo.resp_norm", CFG_ENUM, algo.degrpo.resp_norm, "batch", NULL, "batch|sample",
      "DeGRPO response tokens: one token mean over the step (Thinkless code) or a mean per "
      "sequence, then over sequences (the paper)."),
    K("algo.kl.coef", CFG_FLOAT, algo.kl.coef, "0", "[0,inf)", NULL,
      "beta of the KL to the frozen reference model, added to the loss; 0 = no reference model."),
    K("algo.kl.type", CFG_ENUM, algo.kl.type, "k3", NULL, "k1|k2|k3|abs",
      "KL estimator per token, d = logp - ref_logp: k1 d; k2 d^2/2; k3 exp(-d) + d - 1; abs |d|."),
    K("algo.entropy_coef", CFG_FLOAT, algo.entropy_coef, "0", "[0,inf)", NULL,
      "Coefficient of the entropy bonus subtracted from the loss (Thinkless/NSR runs: 0.001)."),
    K("algo.mask_truncated", CFG_BOOL, algo.mask_truncated, "false", NULL, NULL,
      "Completions that hit the length cap leave the loss and the token counts; their rewards "
      "still enter the group statistics."),
    K("algo.dynamic_sampling.enabled", CFG_BOOL, algo.dynamic_sampling.enabled, "false", NULL,
      NULL, "DAPO dynamic sampling: drop groups whose metric is equal for every completion and "
      "draw more prompts."),
    K("algo.dynamic_sampling.metric", CFG_ENUM, algo.dynamic_sampling.metric, "acc", NULL,
      "acc|reward", "What must differ within a group for it to be kept: accuracy (DAPO) or the "
      "shaped reward."),
    K("algo.dynamic_sampling.max_draws", CFG_INT, algo.dynamic_sampling.max_draws, "10",
      "[0,inf)", NULL, "Most generation batches drawn for one step; 0 = unlimited."),
    K("algo.wreinforce.lambda", CFG_FLOAT, algo.wreinforce.lambda, "0.1", "[0,inf)", NULL,
      "W-REINFORCE advantage of a correct completion (wrong ones get -1)."),
    K("algo.old_logprobs", CFG_ENUM, algo.old_logprobs, "sampler", NULL, "sampler|recompute",
      "pi_old of the importance ratio: the log-probs the sampler recorded, or one no-grad forward "
      "of the trainer before the step's first update (verl's old_log_prob)."),
    K("algo.tis_cap", CFG_FLOAT, algo.tis_cap, "0", "[0,inf)", NULL,
      "Truncated importance sampling: each token's loss times min(pi_old / pi_sampler, cap), "
      "correcting the sampler-trainer mismatch (verl's TIS, cap 2); needs algo.old_logprobs "
      "recompute. 0 = off."),
    K("algo.logprob_temperature", CFG_ENUM, algo.logprob_temperature, "rollout", NULL, "rollout|one",
      "Temperature of the trainer's log-probs, entropy and KL: the rollout's (softmax(logits / "
      "rollout.temperature), as TRL and verl; greedy counts as 1) or 1. The sampler's recorded "
      "log-probs are at the same temperature."),

    K("optim.lr", CFG_FLOAT, optim.lr, "1e-6", "(0,inf)", NULL,
      "Peak learning rate of AdamW."),
    K("optim.beta1", CFG_FLOAT, optim.beta1, "0.9", "[0,1)", NULL, "AdamW beta1."),
    K("optim.beta2", CFG_FLOAT, optim.beta2, "0.999", "[0,1)", NULL, "AdamW beta2."),
    K("optim.eps", CFG_FLOAT, optim.eps, "1e-8", "(0,inf)", NULL, "AdamW epsilon."),
    K("optim.weight_decay", CFG_FLOAT, optim.weight_decay, "0.01", "[0,inf)", NULL,
      "Decoupled weight decay: each step multiplies the weights by 1 - lr * weight_decay."),
    K("optim.grad_clip", CFG_FLOAT, optim.grad_clip, "1", "[0,inf)", NULL,
      "Global L2 norm the gradients are clipped to; 0 = no clipping."),
    K("optim.schedule", CFG_ENUM, optim.schedule, "constant", NULL, "constant|cosine|linear",
      "Learning rate after the warm-up: constant, or cosine / linear decay to min_lr at "
      "total_steps."),
    K("optim.schedule_unit", CFG_ENUM, optim.schedule_unit, "optimizer_step", NULL, "optimizer_step|rl_step",
      "What the schedule of `rlvr train` counts: optimiser steps (train.epochs x train.mini_batches "
      "per RL step) or RL steps (every update of one RL step at the same rate; verl's and DAPO's "
      "unit: DAPO's 20 warm-up steps are RL steps). warmup_steps and total_steps are in this unit."),
    K("optim.warmup_steps", CFG_INT, optim.warmup_steps, "0", "[0,inf)", NULL,
      "Schedule steps of linear warm-up: step s (from 0) uses lr * (s + 1) / warmup_steps."),
    K("optim.total_steps", CFG_INT, optim.total_steps, "0", "[0,inf)", NULL,
      "Schedule step at which a cosine or linear decay reaches min_lr (must exceed "
      "warmup_steps); 0 = the run's length in the schedule's unit: train.steps, times "
      "train.mini_batches x train.epochs when it counts optimiser steps. Unused by constant."),
    K("optim.min_lr", CFG_FLOAT, optim.min_lr, "0", "[0,inf)", NULL,
      "Learning rate at the end of a cosine or linear decay."),
    K("optim.master_weights", CFG_BOOL, optim.master_weights, "true", NULL, NULL,
      "With model.dtype bf16: AdamW updates f32 master weights with f32 moments, and the bf16 "
      "weights take them rounded after every step; checkpoints keep the masters. false is refused "
      "with bf16 (its updates round away). No effect in f32."),

    K("data.source", CFG_ENUM, data.source, "addition", NULL, "jsonl|addition|arithmetic|countdown|kk",
      "Where prompts come from: JSONL files (train_path, test_path) or a built-in task with "
      "step-by-step SFT solutions (docs/DATA.md)."),
    K("data.train_path", CFG_STRING, data.train_path, NULL, NULL, NULL,
      "JSONL file of the training prompts (data.source jsonl)."),
    K("data.test_path", CFG_STRING, data.test_path, NULL, NULL, NULL,
      "JSONL file of the evaluation prompts (data.source jsonl)."),
    K("data.fields.prompt", CFG_STRING, data.fields.prompt, "prompt", NULL, NULL,
      "JSONL field holding the prompt text (required in every row)."),
    K("data.fields.answer", CFG_STRING, data.fields.answer, "answer", NULL, NULL,
      "JSONL field holding the reference answer, a string or number, required in every row; "
      "empty = not read (SFT pairs)."),
    K("data.fields.response", CFG_STRING, data.fields.response, "response", NULL, NULL,
      "JSONL field holding an SFT target response (optional per row); empty = not read."),
    K("data.fields.metadata", CFG_STRING, data.fields.metadata, "metadata", NULL, NULL,
      "JSONL field holding a metadata object passed to the rewards (optional per row); empty = "
      "not read."),
    K("data.fields.task", CFG_STRING, data.fields.task, "task", NULL, NULL,
      "JSONL field naming the row's verifier (math, gsm8k, countdown, kk), stored as the "
      "metadata's \"task\" (optional per row); empty = not read."),
    K("data.fields.group", CFG_STRING, data.fields.group, NULL, NULL, NULL,
      "JSONL field (a string or number, optional per row) whose value groups the rows in the "
      "per-group breakdown of `rlvr eval` (MATH-500: subject or level; AIME: year); empty = the "
      "metadata's \"difficulty\"."),
    K("data.seed_offset", CFG_INT, data.seed_offset, "0", "[0,9007199254740991]", NULL,
      "Added to run.seed for the built-in tasks' examples and the shuffling order."),
    K("data.train_size", CFG_INT, data.train_size, "4096", "[1,100000000]", NULL,
      "Examples in a built-in task's train split."),
    K("data.test_size", CFG_INT, data.test_size, "512", "[1,100000000]", NULL,
      "Examples in a built-in task's test split."),
    K("data.shuffle", CFG_BOOL, data.shuffle, "true", NULL, NULL,
      "Visit the training examples in a new deterministic order every epoch; false = file order."),
};

const int cfg_schema_len = (int)(sizeof cfg_schema / sizeof cfg_schema[0]);
