#!/usr/bin/env bash
# plan7b.sh: a registered check of the GPU kit's run (scripts/gpu/run.sh runs every
# scripts/gpu/checks/*.sh from the repository root). It prints `trainer plan` -- the memory plan of
# a run, read from a config.json alone -- for the paper's two 7B models on 8 x 80 GB GPUs, into the
# report: Janus-Pro-7B (UMM-2) and Qwen2.5-VL-7B (the 7B captioner), from the published configs
# in models/hf/shape/testdata/ (PLAN_CONFIGS names another folder). Each model twice: the run as
# it is (bfloat16, replicated optimizer, every sequence in one forward) and with the memory knobs
# (--shard-optimizer --activation-checkpointing --micro-batch 8). The run: --np 8, -B 32 -G 8 (4
# images x 8 captions per rank, the 3B benchmark's), 64-token captions (Janus: its 40), 448 px
# images for Qwen2.5-VL (Janus: its 384), --beta 0.2 (a frozen reference), --budget 80GB a GPU,
# --host-budget 2TB (a usual 8-GPU server) shared by the 8 ranks.
# Needs no GPU (the budget is given), so a rehearsal runs it too. Exits 77 (skipped) with "not
# built yet" when the trainer has no plan command or the configs are not in this checkout.
# Oracle: none beyond the plan's own tests (cmd/trainer/plan_test.go counts its bytes against the
# tensors allocated for the tiny fixtures); this prints the plan for the record.
# gpu-run: order=15 limit=40
set -uo pipefail
: "${GPU_RUN_BIN:?GPU_RUN_BIN must name the built binaries}"
checks=${GPU_RUN_CHECKS:-${GPU_RUN_OUT:?GPU_RUN_CHECKS or GPU_RUN_OUT must name a folder}}
trainer=$GPU_RUN_BIN/trainer
configs=${PLAN_CONFIGS:-models/hf/shape/testdata}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
result() { # STATUS: writes the report's section
  python3 scripts/gpu/check-result.py --out "$checks/plan7b.json" --check plan7b --status "$1" --lines "$tmp/lines" \
    --text "$tmp/text" --title "trainer plan: Janus-Pro-7B and Qwen2.5-VL-7B on 8 x 80 GB" \
    --oracle "none here: the plan's byte counts are tested against allocated tensors in cmd/trainer/plan_test.go"
}
: >"$tmp/lines"; : >"$tmp/text"
if ! help=$("$trainer" plan --help 2>&1) || grep -q 'unknown command' <<<"$help"; then
  echo "plan7b: not built yet: this trainer has no plan command (trainer plan --help: $(head -1 <<<"$help"))" | tee "$tmp/lines"
  result skip; exit 77
fi
missing=""
for m in janus_pro_7b qwen2_5_vl_7b; do [ -f "$configs/$m/config.json" ] || missing="$missing $configs/$m/config.json"; done
if [ -n "$missing" ]; then
  echo "plan7b: not built yet: no published config at$missing" | tee "$tmp/lines"
  result skip; exit 77
fi
knobs=(--shard-optimizer --activation-checkpointing --micro-batch 8)
for k in "${knobs[@]}"; do
  [[ $k == --* ]] && ! grep -q -- "$k" <<<"$help" && { echo "plan7b: trainer plan lacks $k" | tee "$tmp/lines"; result fail; exit 1; }
done
fail=0
for m in qwen2_5_vl_7b janus_pro_7b; do
  size=(); [ $m = qwen2_5_vl_7b ] && size=(--image-size 448)
  for with in plain knobs; do
    extra=(); [ $with = knobs ] && extra=("${knobs[@]}")
    args=(plan --init "$configs/$m" --np 8 --dtype bfloat16 -B 32 -G 8 --beta 0.2 --device cuda --budget 80GB --host-budget 2TB "${size[@]}" "${extra[@]}")
    out=$tmp/$m-$with.txt
    if "$trainer" "${args[@]}" >"$out" 2>&1; then rc=0; else rc=$?; fi
    { echo "\$ trainer ${args[*]}"; cat "$out"; echo; } >>"$tmp/text"
    cat "$out"
    peak=$(grep -A1 'peak per rank' "$out" | sed 's/^ *peak per rank *//; s/^ *//; s/  */ /g' | paste -sd';' | sed 's/;/; /')
    if [ $rc != 0 ] || [ -z "$peak" ]; then
      echo "FAIL $m ($with): trainer plan exited $rc without a peak: $(tail -1 "$out")" | tee -a "$tmp/lines"; fail=1
    else
      echo "$m, ${extra[*]:-no knobs}: peak per rank $peak" >>"$tmp/lines"
    fi
  done
done
cat "$tmp/lines"
if [ $fail = 1 ]; then result fail; exit 1; fi
result pass
