#!/usr/bin/env bash
# test_cli — the rlvr program as users run it: help, version, config show/keys/doc, doctor, and
# the exit status and message of every bad invocation.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
expect 0 "usage: rlvr" -- "$RLVR" --help
expect 0 "doctor" -- "$RLVR" --help
expect 2 "usage: rlvr" -- "$RLVR"
expect 0 "rlvr 0." -- "$RLVR" --version
expect 2 "unknown command 'trian'" -- "$RLVR" trian
expect 0 "usage: rlvr config show" -- "$RLVR" config --help
expect 2 "unknown \`config\` action 'shw'" -- "$RLVR" config shw

# config show: defaults, file, overrides in order
expect 0 '"seed":	1234' -- "$RLVR" config show
printf '{"run": {"seed": 5}}' > "$tmp/a.json"
expect 0 '"seed":	5' -- "$RLVR" config show "$tmp/a.json"
expect 0 '"seed":	8' -- "$RLVR" config show "$tmp/a.json" --set run.seed=8
expect 0 '"seed":	9' -- "$RLVR" config show --config "$tmp/a.json" --set=run.seed=9
expect 0 '"log_level":	"quiet"' -- "$RLVR" config show --set run.log_level=quiet
expect 0 "run.threads" -- "$RLVR" config keys

# config errors: one clear line, exit 1
expect 1 "cannot read config file: $tmp/none.json: cannot open" -- "$RLVR" config show "$tmp/none.json"
printf '{"run": {"seed": 5,\n  "x" 1}}' > "$tmp/b.json"
expect 1 "b.json:2:7: malformed JSON" -- "$RLVR" config show "$tmp/b.json"
printf '{"run": {"sede": 5}}' > "$tmp/c.json"
expect 1 "unknown key 'run.sede' (did you mean 'run.seed'?)" -- "$RLVR" config show "$tmp/c.json"
expect 1 "run.threads: expected an integer in [0,1024], got 'x'" -- "$RLVR" config show --set run.threads=x
expect 1 "--set needs a value" -- "$RLVR" config show --set
expect 1 "more than one config file" -- "$RLVR" config show "$tmp/a.json" "$tmp/a.json"
expect 1 "cannot read config file: $tmp: is a directory, expected a file" -- "$RLVR" config show "$tmp"
printf '{"train": {"group_size": 1e30}}' > "$tmp/g.json"
expect 1 "g.json: train.group_size: expected an integer in [1,4096], got 1e+30" -- "$RLVR" config show "$tmp/g.json"

# eval --out: a missing value and an unwritable path are refused before the model is loaded; the
# value is never taken for the config file, and a failed eval leaves no report file behind
expect 1 "--out needs a value: the file to write the JSON report to" -- "$RLVR" eval "$tmp/a.json" --out
expect 1 "--out needs a value" -- "$RLVR" eval "$tmp/a.json" --out --set run.seed=3
expect 1 "cannot write the report to '$tmp': Is a directory" -- "$RLVR" eval "$tmp/a.json" --out "$tmp"
expect 1 "cannot write the report to '$tmp': Is a directory" -- "$RLVR" eval --out "$tmp" "$tmp/a.json"
expect 1 "cannot write the report to '$tmp/no/r.json': No such file or directory" -- "$RLVR" eval "$tmp/a.json" --out "$tmp/no/r.json"
expect 1 "model.path is not set" -- "$RLVR" eval --out="$tmp/r.json" "$tmp/a.json"
[ ! -e "$tmp/r.json" ] && ok || bad "a failed eval left $tmp/r.json behind"
out=$("$RLVR" config show "$tmp/c.json" 2>&1 | wc -l)
[ "$out" -eq 1 ] && ok || bad "a config error printed $out lines, expected one"

# the config reference in docs/ is the one the schema generates
if diff -u "$SRC/docs/CONFIG.md" <("$RLVR" config doc) > "$tmp/doc.diff"; then ok
else bad "docs/CONFIG.md is stale: run \`rlvr config doc > docs/CONFIG.md\`"; head -20 "$tmp/doc.diff" >&2; fi

# doctor reports the facts it promises
out=$("$RLVR" doctor 2>&1); status=$?
[ $status -eq 0 ] && ok || bad "doctor exited $status: $out"
for key in "libtorch:" "devices:" "cpu:" "blas:" "gemm:" "threads:" "mpi:" "nccl:" "hdf5:" "also:"; do
  [[ "$out" == *"$key"* ]] && ok || bad "doctor output lacks '$key'"
done
[[ "$out" == *"GFLOP/s"* ]] && ok || bad "doctor prints no GFLOP/s"
# doctor names the build of our CPU kernels, and a bad RLVR_CPU_KERNELS is one error
out=$(RLVR_CPU_KERNELS=default "$RLVR" doctor 2>&1)
[[ "$out" == *"rlvr's own CPU kernels: default "* ]] && ok || bad "doctor under RLVR_CPU_KERNELS=default: $out"
expect 1 "RLVR_CPU_KERNELS=sse9: expected auto, default, avx2 or avx512" -- env RLVR_CPU_KERNELS=sse9 "$RLVR" doctor
# the commit is the source tree's at build time ("-dirty" with uncommitted changes, which may
# differ between the build and this run)
commit=$(git -C "$SRC" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[[ "$out" == *"(commit $commit"[-\)]* ]] && ok || bad "doctor does not name commit '$commit': $(head -1 <<< "$out")"
# doctor names the libtorch this build was configured with and the file the loader resolved for it
want=$(sed -n 's/^RLVR_TORCH_VERSION:INTERNAL=//p' "$(dirname "$RLVR")/CMakeCache.txt")
[ -n "$want" ] && [[ "$out" == *"libtorch:   $want, "* ]] && ok || bad "doctor does not name libtorch '$want': $out"
lib=$(ldd "$RLVR" | sed -n 's/.*libtorch_cpu\.so[^ ]* => \([^ ]*\) .*/\1/p')
[ -n "$lib" ] && [[ "$out" == *"$(readlink -f "$lib")"* ]] && ok || bad "doctor does not name the loaded '$lib': $out"
# OpenBLAS's own pick for this CPU; where it lacks AVX2 on a CPU that has it (a CPU newer than the
# library), rlvr runs with the kernels that fit, under its own name; a user's choice is kept
plain=$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 $PY -c 'import ctypes; ctypes.CDLL("libblas.so.3")' 2>&1 |
        sed -n 's/^Core: //p')
out=$(env -u OPENBLAS_CORETYPE "$RLVR" doctor 2>&1)
case " Haswell Zen SkylakeX Cooperlake SapphireRapids " in
  *" $plain "*) [[ "$out" != *"rlvr chose"* ]] && ok || bad "OpenBLAS picks '$plain' here, yet rlvr chose another: $out" ;;
  *) if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
       [[ "$out" == *"rlvr chose "* && "$out" != *" $plain MAX_THREADS"* ]] && ok ||
         bad "OpenBLAS picks '$plain' here, and rlvr kept it: $out"
     else ok; fi ;;
esac
out=$(OPENBLAS_CORETYPE=Nehalem "$RLVR" doctor 2>&1)
[[ "$out" == *" Nehalem MAX_THREADS"* && "$out" != *"rlvr chose"* ]] && ok || bad "OPENBLAS_CORETYPE=Nehalem not kept: $out"
expect 2 "unknown option '--bogus'" -- "$RLVR" doctor --bogus
expect 1 "--threads: expected an integer in [1,1024], got 'x'" -- "$RLVR" score --model "$tmp/none" --threads x
expect 1 "--prompts: expected an integer in [1,100000], got '0'" -- "$RLVR" bench rollout --model "$tmp/none" --prompts 0
expect 1 "--device: bad device 'gpu': expected cpu, cuda or cuda:N" -- "$RLVR" bench rollout --model "$tmp/none" --device gpu
expect 1 "--device: device cuda:99" -- "$RLVR" bench rollout --model "$tmp/none" --device cuda:99
expect 1 "--threads: expected an integer" -- "$RLVR" doctor --threads 0

finish test_cli
