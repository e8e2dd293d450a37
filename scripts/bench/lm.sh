#!/usr/bin/env bash
# The language-model benchmark of make bench (scripts/bench/run.sh runs it after its other sections;
# it also runs alone): a Qwen2-0.5B-shaped model with random weights (bench/lmbench init: 24
# layers, hidden 896, vocabulary 151,936, tied head), greedy generation with a key/value cache for
# a batch of 8, by the Go side (bench/lmbench run: models/hf/lm's Model.Generate) and its PyTorch
# twin (bench/torch/lmbench.py: the same model, prompts and work in plain PyTorch), taking turns
# ROUNDS times, one thread each, in float32 and bfloat16; then two GRPO steps with that model as a
# text-prompted policy (bin/trainer train).
#
# Usage: scripts/bench/lm.sh RUN_FOLDER
# Writes RUN_FOLDER/lm.md (the table) and lm.json, the runs' JSON lines in RUN_FOLDER/lm/runs.jsonl,
# logs in RUN_FOLDER/logs/lm-*.log, the GRPO run in RUN_FOLDER/lm-grpo; the model is written once
# into RUN_FOLDER/lm/model-L<layers> and reused when present.
#
# Settings (environment): ROUNDS=2 (Go/PyTorch pairs per dtype), LM_LAYERS=24 (decoder layers of
# the model), LM_DTYPES="float32 bfloat16"; float32 runs LM_BATCH=8 prompts of LM_PROMPT=64
# tokens for LM_NEW=16 new tokens, best of LM_REPEAT=3 (a process's first call can page-fault all
# its memory fresh); bfloat16 runs the same batch with
# LM_BF16_PROMPT=2, LM_BF16_NEW=2, LM_BF16_REPEAT=1, because libtorch 1.13's CPU bfloat16 matrix
# product without AVX512-BF16 runs at about 1 GFLOP/s (50 times slower than float32), the same
# kernel for both sides; LM_GRPO=1 (0 skips the GRPO steps, force runs them whatever the free
# memory), LM_GRPO_TIMEOUT=1200 seconds.
#
# Rollout section (LM_ROLLOUT=1; 0 skips it): the GRPO rollout of the text policy, LM_ROLLOUT_GROUP=8
# samples of one LM_PROMPT-token prompt, LM_ROLLOUT_NEW=64 new tokens each (temperature 1, no end
# token), float32, best of LM_ROLLOUT_REPEAT=1 rollouts in each of LM_ROLLOUT_ROUNDS=2 rounds
# where the sides take turns (the best round is kept), by: go (this tree: sampling on the device, the
# preallocated cache, one prefill), go-before (bench/lmbench's rollout command built against the
# revision LM_ROLLOUT_BEFORE=df5373e, the tree before those; empty skips it) and twin
# (bench/torch/lmbench.py --rollout: transformers.generate's work, one prefill per row and the
# cache grown by concatenation). Then one more go rollout under a Go CPU profile gives the host
# share of the rollout (the time outside libtorch calls). Writes RUN_FOLDER/lm/rollout.jsonl and the
# committed report bench/lm/DATE-rollout.json (one entry per side: side, rollout_tok_s, batch, new,
# dtype, machine). LM_ONLY_ROLLOUT=1 runs this section alone (no Go/PyTorch rounds, no GRPO).
set -euo pipefail
cd "$(dirname "$0")/../.."
me=bench-lm clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
[ $# -eq 1 ] || usage_error "usage: scripts/bench/lm.sh RUN_FOLDER"
run=$1
rounds=${ROUNDS:-2}
layers=${LM_LAYERS:-24}
dtypes=${LM_DTYPES:-float32 bfloat16}
batch=${LM_BATCH:-8}
prompt=${LM_PROMPT:-64}
new=${LM_NEW:-16}
repeat=${LM_REPEAT:-3}
bf16_prompt=${LM_BF16_PROMPT:-2}
bf16_new=${LM_BF16_NEW:-2}
bf16_repeat=${LM_BF16_REPEAT:-1}
grpo=${LM_GRPO:-1}
grpo_timeout=${LM_GRPO_TIMEOUT:-1200}
ro=${LM_ROLLOUT:-1}
ro_group=${LM_ROLLOUT_GROUP:-8}
ro_new=${LM_ROLLOUT_NEW:-64}
ro_repeat=${LM_ROLLOUT_REPEAT:-1}
ro_rounds=${LM_ROLLOUT_ROUNDS:-2}
ro_before=${LM_ROLLOUT_BEFORE-df5373e}
only_ro=${LM_ONLY_ROLLOUT:-0}
py=$debian_py

[ "$grpo" = force ] || [[ $grpo =~ ^[01]$ ]] || usage_error "LM_GRPO=$grpo: want 0, 1 or force"
want_whole ROUNDS "$rounds" LM_LAYERS "$layers" LM_BATCH "$batch" LM_PROMPT "$prompt" LM_NEW "$new" LM_REPEAT "$repeat" \
  LM_BF16_PROMPT "$bf16_prompt" LM_BF16_NEW "$bf16_new" LM_BF16_REPEAT "$bf16_repeat" LM_GRPO_TIMEOUT "$grpo_timeout" \
  LM_ROLLOUT_GROUP "$ro_group" LM_ROLLOUT_NEW "$ro_new" LM_ROLLOUT_REPEAT "$ro_repeat" LM_ROLLOUT_ROUNDS "$ro_rounds"
[[ $ro =~ ^[01]$ ]] && [[ $only_ro =~ ^[01]$ ]] || usage_error "LM_ROLLOUT=$ro, LM_ONLY_ROLLOUT=$only_ro: want 0 or 1"
[ "$rounds" -ge 1 ] && [ "$layers" -ge 1 ] && [ "$batch" -ge 1 ] && [ "$prompt" -ge 1 ] && [ "$bf16_prompt" -ge 1 ] &&
  [ "$repeat" -ge 1 ] && [ "$bf16_repeat" -ge 1 ] && [ "$new" -ge 2 ] && [ "$bf16_new" -ge 2 ] ||
  usage_error "ROUNDS, LM_LAYERS, LM_BATCH, the prompts and repeats must be at least 1, the new tokens at least 2"
for d in $dtypes; do
  [ "$d" = float32 ] || [ "$d" = bfloat16 ] || usage_error "LM_DTYPES: $d is not float32 or bfloat16"
done
need_debian_torch
[ "$only_ro" = 0 ] || { ro=1; rounds=0; grpo=0; }
[ "$grpo" = 0 ] || [ -x bin/trainer ] || die "bin/trainer is missing: run make build (or LM_GRPO=0)"

one_thread

mkdir -p "$run"/{logs,lm}

phase "lm: build"
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
logged lm-build go build -o "$tools/" ./bench/lmbench

# --- the model -----------------------------------------------------------------------------------
model=$run/lm/model-L$layers
if [ ! -f "$model/model.safetensors" ] || [ ! -f "$model/config.json" ]; then
  phase "lm: init (a random Qwen2-0.5B-shaped model, $layers layers)"
  logged lm-init "$tools/lmbench" init --out "$model" --layers "$layers"
fi
# The GRPO steps read the model folder as a text policy: they need a tokenizer (ids < 384).
cp models/hf/testdata/transformers/qwen2/tokenizer.json models/hf/testdata/transformers/qwen2/tokenizer_config.json "$model/"

# --- Go vs PyTorch -------------------------------------------------------------------------------
runs=$run/lm/runs.jsonl
rm -f "$runs"
lm_run() { # lm_run SIDE DTYPE ROUND ARGS...: one run, its JSON line appended to runs.jsonl
  local side=$1 dtype=$2 r=$3; shift 3
  local name=lm-$side-$dtype-$r
  if [ "$side" = go ]; then
    logged "$name" "$tools/lmbench" run --model "$model" --dtype "$dtype" --threads 1 "$@"
  else
    logged "$name" "$py" bench/torch/lmbench.py --model "$model" --dtype "$dtype" --threads 1 "$@"
  fi
  grep '^{' "$run/logs/$name.log" | tail -n 1 | sed "s/^{/{\"round\":$r,/" >>"$runs"
}
for dtype in $dtypes; do
  if [ "$dtype" = float32 ]; then
    args=(--batch "$batch" --prompt "$prompt" --new "$new" --repeat "$repeat")
  else
    args=(--batch "$batch" --prompt "$bf16_prompt" --new "$bf16_new" --repeat "$bf16_repeat")
  fi
  for r in $(seq 1 "$rounds"); do
    phase "lm round $r/$rounds, $dtype: Go and PyTorch, ${args[*]}"
    if [ $((r % 2)) = 1 ]; then
      lm_run go "$dtype" "$r" "${args[@]}"; lm_run torch "$dtype" "$r" "${args[@]}"
    else
      lm_run torch "$dtype" "$r" "${args[@]}"; lm_run go "$dtype" "$r" "${args[@]}"
    fi
  done
done

# --- rollout: go, go-before, twin ----------------------------------------------------------------
if [ "$ro" = 1 ]; then
  rruns=$run/lm/rollout.jsonl
  rm -f "$rruns"
  rargs=(--model "$model" --dtype float32 --threads 1 --prompt "$prompt" --new "$ro_new")
  ro_line() { grep '^{' "$run/logs/$1.log" | tail -n 1 >>"$rruns"; }
  if [ -n "$ro_before" ]; then
    phase "lm rollout: build go-before ($ro_before)"
    before=$tools/before
    mkdir -p "$before"
    git archive "$ro_before" | tar -x -C "$before"
    cp bench/lmbench/*.go "$before/bench/lmbench/" # the rollout command, on the earlier library
    # The earlier tree builds with this tree's gotch (go.work's replace, made absolute).
    gw=$(go env GOWORK)
    [ -n "$gw" ] && [ "$gw" != off ] || die "go-before: no go.work here (run make setup, or LM_ROLLOUT_BEFORE= to skip it)"
    sed "s#=> \./#=> $PWD/#" "$gw" >"$before/go.work"
    (cd "$before" && go build -o "$tools/lmbench-before" ./bench/lmbench) >"$run/logs/lm-before-build.log" 2>&1 ||
      die "the go-before build failed: $run/logs/lm-before-build.log"
  fi
  ro_go() { logged "lm-rollout-go-$1" "$tools/lmbench" rollout --side go --group "$ro_group" --repeat "$ro_repeat" "${rargs[@]}"; ro_line "lm-rollout-go-$1"; }
  ro_before() {
    [ -n "$ro_before" ] || return 0
    logged "lm-rollout-before-$1" "$tools/lmbench-before" rollout --side go-before --group "$ro_group" --repeat "$ro_repeat" "${rargs[@]}"
    ro_line "lm-rollout-before-$1"
  }
  ro_twin() { logged "lm-rollout-twin-$1" "$py" bench/torch/lmbench.py --rollout "$ro_group" --repeat "$ro_repeat" "${rargs[@]}"; ro_line "lm-rollout-twin-$1"; }
  for r in $(seq 1 "$ro_rounds"); do # the sides take turns; the best of the rounds is kept
    phase "lm rollout round $r/$ro_rounds: go, go-before, twin (G=$ro_group, $ro_new new tokens)"
    if [ $((r % 2)) = 1 ]; then ro_go "$r"; ro_before "$r"; ro_twin "$r"; else ro_twin "$r"; ro_before "$r"; ro_go "$r"; fi
  done
  phase "lm rollout: go under a CPU profile (host share)"
  logged lm-rollout-prof "$tools/lmbench" rollout --side go-profiled --group "$ro_group" --repeat 1 "${rargs[@]}" \
    --cpuprofile "$run/lm/rollout.prof"
  # Samples taken while the thread runs libtorch (one thread: all the tensor work) are those of
  # runtime.cgocall and runtime._ExternalCode; the rest is the host's Go code.
  go tool pprof -top -nodecount=1000000 "$tools/lmbench" "$run/lm/rollout.prof" >"$run/lm/rollout.top" 2>/dev/null
  machine="$(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -m)"
  RRUNS="$rruns" TOP="$run/lm/rollout.top" MACHINE="$machine" OUT="bench/lm/$(date -u +%F)-rollout.json" "$py" - <<'EOF'
import json, os, re
rows = [json.loads(l) for l in open(os.environ["RRUNS"]) if l.strip()]
flat = {}
for line in open(os.environ["TOP"]).read().splitlines():
    m = re.match(r"\s*[\d.]+m?s\s+([\d.]+)%\s+[\d.]+%\s+[\d.]+m?s\s+[\d.]+%\s+(\S+)", line)
    if m:
        flat[m.group(2)] = float(m.group(1))
lib = flat.get("runtime.cgocall", 0) + flat.get("runtime._ExternalCode", 0)
host = round(100 - lib, 2) if flat else None
best = {}
for r in rows:
    if r["side"] != "go-profiled" and (r["side"] not in best or r["rollout_tok_s"] > best[r["side"]]["rollout_tok_s"]):
        best[r["side"]] = r
twin = best["twin"]["rollout_tok_s"] if "twin" in best else None
entries = []
for side in ("go", "go-before", "twin"):
    if side not in best:
        continue
    r = best[side]
    e = dict(side=side, rollout_tok_s=r["rollout_tok_s"], batch=r["batch"], new=r["new"], dtype=r["dtype"],
             machine=os.environ["MACHINE"], prompt=r["prompt"], layers=r["layers"],
             rounds_tok_s=[x["rollout_tok_s"] for x in rows if x["side"] == side])
    if twin and r["side"] != "twin":
        e["ratio_vs_twin"] = r["rollout_tok_s"] / twin
    if r["side"] == "go":
        e["host_share_pct"] = host
    entries.append(e)
out = os.environ["OUT"]
with open(out + ".tmp", "w") as f:
    json.dump(entries, f, indent=1)
os.replace(out + ".tmp", out)
for e in entries:
    print("rollout %-9s %7.2f tok/s%s%s" % (e["side"], e["rollout_tok_s"],
          "  %.2fx twin" % e["ratio_vs_twin"] if "ratio_vs_twin" in e else "",
          "  host %.2f%%" % e["host_share_pct"] if e.get("host_share_pct") is not None else ""))
print("report:", out)
EOF
fi

[ "$only_ro" = 0 ] || exit 0

# --- GRPO with the model as the policy -----------------------------------------------------------
# Memory: trainer train holds the policy, its gradients, AdamW's two moments and the frozen
# reference (20 bytes a parameter) plus activations, and its final checkpoint copies the weights
# and optimizer state out: measured about 13 times the float32 weights at its peak (8.4 GiB for
# the 2-layer model; killed by the kernel's OOM killer at 23 GiB for the 24-layer one, on a 24 GiB
# machine). Below that much available memory the steps are skipped, not run into the OOM killer of
# a shared machine (LM_GRPO=force runs them anyway).
grpo_status=skipped
weights_f32=$(stat -c %s "$model/model.safetensors")
need_kb=$((13 * weights_f32 / 1024))
avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
if [ "$grpo" = 1 ] && [ "$avail_kb" -lt "$need_kb" ]; then
  grpo_status=$(awk -v n="$need_kb" -v a="$avail_kb" 'BEGIN { printf "skipped: needs about %.1f GiB (13 x the float32 weights), %.1f GiB available (LM_GRPO=force runs it)", n / 2^20, a / 2^20 }')
  say "GRPO with the LM $grpo_status"
elif [ "$grpo" != 0 ]; then
  phase "lm: GRPO, 2 steps, B=2 G=2, max-len 16, float32"
  rm -rf "$run/lm-grpo"
  plan_flag=()
  [ "$grpo" = force ] && plan_flag=(--no-plan-check) # forced: past trainer train's own memory plan too
  if timeout "$grpo_timeout" /usr/bin/time -f '{"wall_s":%e,"user_s":%U,"sys_s":%S,"max_rss_kb":%M}' -o "$run/lm/grpo.time.json" \
    bin/trainer train --init "$model" --out "$run/lm-grpo" --steps 2 --batch 2 --group 2 --max-len 16 \
    --eval-scenes 0 --log-every 1 --threads 1 "${plan_flag[@]}" >"$run/logs/lm-grpo.log" 2>&1; then
    grpo_status=ok
  else
    grpo_status="failed (exit $?)"
    tail -n 20 "$run/logs/lm-grpo.log" >&2
    say "GRPO with the LM failed: $grpo_status (log: $run/logs/lm-grpo.log); recorded in lm.md"
  fi
fi

# --- table ---------------------------------------------------------------------------------------
phase "lm: table"
RUN="$run" RUNS="$runs" GRPO_STATUS="$grpo_status" MODEL="$model" "$py" - <<'EOF'
import json, os
run, status = os.environ["RUN"], os.environ["GRPO_STATUS"]
rows = [json.loads(l) for l in open(os.environ["RUNS"]) if l.strip()]
MiB = 2**20
def mib(b): return "%.0f MiB" % (b / MiB)

groups = {}
for r in rows:
    groups.setdefault((r["dtype"], r["side"]), []).append(r)
summary = []
for (dtype, side), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "float32", kv[0][1] != "go")):
    best_p = max(rs, key=lambda r: r["prefill_tok_s"])
    best_d = max(rs, key=lambda r: r["decode_tok_s"])
    need = rs[0]["weights_bytes"] + rs[0]["kv_bytes"]
    s = dict(side=side, dtype=dtype, rounds=len(rs), layers=rs[0]["layers"], batch=rs[0]["batch"],
             prompt=rs[0]["prompt"], new=rs[0]["new"],
             prefill_tok_s=best_p["prefill_tok_s"], decode_tok_s=best_d["decode_tok_s"],
             prefill_tok_s_rounds=[r["prefill_tok_s"] for r in rs], decode_tok_s_rounds=[r["decode_tok_s"] for r in rs],
             weights_bytes=rs[0]["weights_bytes"], kv_bytes=rs[0]["kv_bytes"],
             peak_rss=max(r["peak_rss"] for r in rs), peak_rss_run=max(r["peak_rss_run"] for r in rs),
             peak_rss_load=max(r["peak_rss_load"] for r in rs), rss_after_load=max(r["rss_after_load"] for r in rs),
             rss_start=max(r["rss_start"] for r in rs), load_s=min(r["load_s"] for r in rs),
             gen1_faults=min(f for r in rs for f in r.get("gen1_faults", [0])),
             genN_faults=min(f for r in rs for f in r.get("genN_faults", [0])),
             tokens=rs[0]["tokens"], tokens_stable=all(r["tokens"] == rs[0]["tokens"] for r in rs))
    s["peak_ratio"] = s["peak_rss"] / need
    s["peak_run_ratio"] = s["peak_rss_run"] / need
    s["after_load_ratio"] = s["rss_after_load"] / need
    summary.append(s)

def find(side, dtype):
    return next((s for s in summary if s["side"] == side and s["dtype"] == dtype), None)

checks = {}
for dtype in sorted({s["dtype"] for s in summary}, key=lambda d: d != "float32"):
    g, t = find("go", dtype), find("torch", dtype)
    if not g or not t:
        continue
    total = sum(len(x) for x in g["tokens"])
    same = sum(a == b for ra, rb in zip(g["tokens"], t["tokens"]) for a, b in zip(ra, rb))
    first = next(((b, i) for b, (ra, rb) in enumerate(zip(g["tokens"], t["tokens"]))
                  for i, (a, c) in enumerate(zip(ra, rb)) if a != c), None)
    checks[dtype] = dict(
        tokens_same=same, tokens_total=total, first_mismatch=first,
        prefill_ratio=g["prefill_tok_s"] / t["prefill_tok_s"], decode_ratio=g["decode_tok_s"] / t["decode_tok_s"],
        go_prefill_at_least_torch=g["prefill_tok_s"] >= t["prefill_tok_s"],
        go_decode_at_least_torch=g["decode_tok_s"] >= t["decode_tok_s"],
        go_peak_within_10pct=g["peak_ratio"] <= 1.10, go_peak_run_within_10pct=g["peak_run_ratio"] <= 1.10)

grpo = dict(status=status)
mpath = os.path.join(run, "lm-grpo", "metrics.jsonl")
if os.path.exists(mpath):
    steps = [json.loads(l) for l in open(mpath) if l.strip().startswith("{")]
    grpo["steps"] = [{k: v for k, v in m.items() if k in ("step", "step_time", "rollout_time", "reward_time",
                      "update_time", "tokens", "samples", "tokens_per_s")} for m in steps if "step_time" in m]
tpath = os.path.join(run, "lm", "grpo.time.json")
if os.path.exists(tpath):
    try:
        grpo["process"] = json.load(open(tpath))
    except ValueError:
        pass
if status != "ok":
    log = os.path.join(run, "logs", "lm-grpo.log")
    if os.path.exists(log):
        grpo["log_tail"] = open(log, errors="replace").read().splitlines()[-15:]

out = dict(model=os.environ["MODEL"], runs=rows, summary=summary, checks=checks, grpo=grpo)
tmp = os.path.join(run, "lm.json.tmp")
with open(tmp, "w") as f:
    json.dump(out, f, indent=1)
os.replace(tmp, os.path.join(run, "lm.json"))

L = []
p = L.append
s0 = summary[0] if summary else None
p("# Language model: Go (models/hf) vs PyTorch twin\n")
if s0:
    p("Qwen2-0.5B-shaped model with random weights, %d layers (hidden 896, 14 heads, 2 KV heads, vocabulary "
      "151,936, tied head), greedy generation with a KV cache, batch %d, one thread each side. Best of %d rounds "
      "(Go and PyTorch taking turns); memory is the worst round.\n" % (s0["layers"], s0["batch"], s0["rounds"]))
p("| Side | dtype | Prompt + new | Prefill tok/s | Decode tok/s | Peak RSS | Peak RSS in generation | RSS after load | Weights + KV | Peak RSS / (weights + KV) | In generation / (weights + KV) |")
p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in summary:
    p("| %s | %s | %d + %d | %.1f | %.2f | %s | %s | %s | %s | %.2f | %.2f |" % (
        "Go" if s["side"] == "go" else "PyTorch", s["dtype"], s["prompt"], s["new"], s["prefill_tok_s"], s["decode_tok_s"],
        mib(s["peak_rss"]), mib(s["peak_rss_run"]), mib(s["rss_after_load"]), mib(s["weights_bytes"] + s["kv_bytes"]),
        s["peak_ratio"], s["peak_run_ratio"]))
p("")
p("Prefill tok/s: prompt tokens of the batch per second of Generate(1 new token) (the prompt's forward pass and "
  "the first token). Decode tok/s: batch / one decode step, a step being (Generate(N) - Generate(1)) / (N-1), "
  "as models/hf/lm's Generate has no hook between steps; the twin is timed the same way. Peak RSS: VmHWM over the "
  "process (loading included); in generation: VmHWM reset after loading. Weights + KV: the weights in the dtype "
  "and the key/value cache at the end.\n")
if s0:
    p("RSS before loading (runtime and libtorch): " + ", ".join(
        "%s %s %s" % ("Go" if s["side"] == "go" else "PyTorch", s["dtype"], mib(s["rss_start"])) for s in summary) + ".\n")
p("Minor page faults (fresh memory touched) per call, fewest of the repeats, Generate(1) / Generate(N): " + ", ".join(
    "%s %s %s / %s" % ("Go" if s["side"] == "go" else "PyTorch", s["dtype"], s["gen1_faults"], s["genN_faults"]) for s in summary) + ".\n")
p("## Targets (Go side)\n")
for dtype, c in checks.items():
    p("- %s: prefill %.2fx PyTorch (%s), decode %.2fx (%s); peak RSS / (weights + KV) %s 1.10, in generation %s 1.10; "
      "greedy tokens identical to PyTorch: %d of %d%s" % (
          dtype, c["prefill_ratio"], "met" if c["go_prefill_at_least_torch"] else "not met",
          c["decode_ratio"], "met" if c["go_decode_at_least_torch"] else "not met",
          "<=" if c["go_peak_within_10pct"] else ">", "<=" if c["go_peak_run_within_10pct"] else ">",
          c["tokens_same"], c["tokens_total"],
          "" if c["first_mismatch"] is None else " (first difference: row %d, token %d)" % tuple(c["first_mismatch"])))
p("\n## GRPO with the model as the policy\n")
p("`bin/trainer train --init %s --steps 2 --batch 2 --group 2 --max-len 16 --eval-scenes 0` (float32, text prompt): %s.\n"
  % (os.environ["MODEL"], status))
for st in grpo.get("steps", []):
    p("- step %s: step_time %.1f s (rollout %.1f s, reward %.1f s, update %.1f s)" % (
        st.get("step"), st.get("step_time", 0), st.get("rollout_time", 0), st.get("reward_time", 0), st.get("update_time", 0)))
if "process" in grpo:
    p("\nThe whole trainer process: %.0f s, peak RSS %.1f GiB." % (grpo["process"]["wall_s"], grpo["process"]["max_rss_kb"] / 2**20))
if "log_tail" in grpo:
    p("\n```\n" + "\n".join(grpo["log_tail"]) + "\n```")
with open(os.path.join(run, "lm.md.tmp"), "w") as f:
    f.write("\n".join(L) + "\n")
os.replace(os.path.join(run, "lm.md.tmp"), os.path.join(run, "lm.md"))
EOF
say "LM table: $run/lm.md"
