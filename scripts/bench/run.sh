#!/usr/bin/env bash
# Side-by-side benchmarks against the tools a user would use instead (make bench):
#   1. collective: the CPU ring all-reduce (bench/ringbw under launch -np 2) against OpenMPI's
#      MPI_Allreduce (bench/mpibw, mpirun -np 2) and PyTorch gloo (bench/torch/gloobw.py), 64 KB-64 MB
#   2. trainer: the Go GRPO trainer against a PyTorch implementation of the same policy and step
#      (bench/torch/grpo.py), same checkpoint, B=8 G=8, one thread, runs alternated Go/PyTorch
#   3. scaling: GRPO samples/s on 1 vs 2 ranks at the same global batch
#   4. memory: resident memory per rank over a long GRPO run (small batch)
#   5. language model: a Qwen2-0.5B-shaped model, Go (models/hf) against a PyTorch twin, prefill and
#      decode tokens/s and resident memory, float32 and bfloat16 (scripts/bench/lm.sh)
#   6. micro-batches: peak memory of GRPO with --micro-batch 0, 8, 2 (scripts/bench/microbatch.sh)
#   7. ZeRO-1: a Qwen2-0.5B-shaped policy on 2 ranks, replicated, sharded and sharded with
#      checkpointing and micro-batches: peak memory against the plan, step time
#      (scripts/bench/zero.sh; 24 layers lean alone, then all three at 12 layers)
#   8. reward encoder: a CLIP-B/32's images/s batched against one image a pass (scripts/bench/reward.sh)
#   9. reward overlap: the reward's share of a GRPO step with a slow reward service, one service
#      against two pooled and overlapped with the rollout (scripts/bench/overlap.sh, RUN/overlap.md)
#  10. LoRA: the same shape at 12 layers on one rank, --lora-rank 16 against full fine-tuning:
#      optimizer state, peak memory and step time (scripts/bench/lora.sh)
# and writes report.md, summary.json and PNG charts into the run folder (bench/report).
#
# Settings (environment): RUN=folder (default runs/bench-DATE), INIT=checkpoint or run folder to
# start from (default: a fresh SFT of SFT_STEPS=200 steps in RUN/sft), WARMUP=5 and STEPS=30
# (left-out and measured steps per run), ROUNDS=2 (Go/PyTorch pairs), COLL_ROUNDS=2 (turns of the
# all-reduce tools; each size's best is reported), MEM_STEPS=500.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=bench clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
run=${RUN:-runs/bench-$(date +%Y%m%d-%H%M%S)}
warmup=${WARMUP:-5}
steps=${STEPS:-30}
rounds=${ROUNDS:-2}
mem_steps=${MEM_STEPS:-500}
coll_rounds=${COLL_ROUNDS:-2}
sft_steps=${SFT_STEPS:-200}
batch=8
group=8
py=$debian_py
want_whole WARMUP "$warmup" STEPS "$steps" ROUNDS "$rounds" MEM_STEPS "$mem_steps" COLL_ROUNDS "$coll_rounds" SFT_STEPS "$sft_steps"
[ "$steps" -ge 1 ] && [ "$rounds" -ge 1 ] && [ "$coll_rounds" -ge 1 ] && [ "$mem_steps" -ge 10 ] ||
  usage_error "STEPS, ROUNDS and COLL_ROUNDS must be at least 1, MEM_STEPS at least 10"

# --- peers ---------------------------------------------------------------------------------------
apt_install "install them first" python3-torch openmpi-bin libopenmpi-dev
need_debian_torch
command -v mpicc >/dev/null && command -v mpirun >/dev/null || die "mpicc/mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
[ -x bin/trainer ] && [ -x bin/launch ] || die "bin/trainer and bin/launch are missing: run make build"

one_thread

mkdir -p "$run"/{logs,trainer,collective,scaling}
rm -f "$run/phases.jsonl"

phase build
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
logged build-go go build -o "$tools/" ./bench/ringbw ./bench/rewardenv ./bench/report
logged build-mpibw mpicc -O2 -o "$tools/mpibw" bench/mpibw/mpibw.c

# --- environment ---------------------------------------------------------------------------------
blas=$(blas_in_use)
libtorch="libtorch-dev $(dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || echo '(not from Debian)')"
torchpy=$("$py" -c 'import torch; print(torch.__version__, "from", torch.__file__)')
ompi=$(mpirun --version 2>/dev/null | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"

# --- start checkpoint ----------------------------------------------------------------------------
init=${INIT:-}
if [ -z "$init" ]; then
  init=$run/sft
  if ! ls "$init"/checkpoints/step-*/model.safetensors >/dev/null 2>&1; then
    phase "sft ($sft_steps steps, the start checkpoint)"
    rm -rf "$init"
    logged sft bin/trainer sft --out "$init" --steps "$sft_steps" --eval-scenes 20 --log-every 50 --monitor-interval 0
  fi
fi
# The PyTorch side needs the safetensors file itself: a file, a checkpoint folder or a run folder.
if [ -f "$init" ]; then
  ckpt=$init
elif [ -f "$init/model.safetensors" ]; then
  ckpt=$init/model.safetensors
else
  ckpt=$(ls -d "$init"/checkpoints/step-* 2>/dev/null | sort | tail -n 1)/model.safetensors
fi
[ -f "$ckpt" ] || die "INIT=$init: no model.safetensors in it (give a checkpoint file, checkpoint folder or run folder)"

OUT_ENV="$run/env.json" BLAS="$blas" LIBTORCH="$libtorch" TORCHPY="$torchpy" OMPI="$ompi" COMMIT="$commit" \
  CKPT="$ckpt" BATCH=$batch GROUP=$group "$py" - <<'EOF'
import json, os, platform, socket, subprocess, time
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
gov = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
coretype = os.environ.get("OPENBLAS_CORETYPE")
env = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": socket.gethostname(), "cpu": cpu,
       "cores": os.cpu_count(), "memory_gib": "%.0f" % (mem / 2**20), "go": gov, "commit": os.environ["COMMIT"],
       "blas": os.environ["BLAS"] + ("" if not coretype else " (OPENBLAS_CORETYPE=%s)" % coretype),
       "libtorch": os.environ["LIBTORCH"], "torch_python": os.environ["TORCHPY"],
       "openmpi": os.environ["OMPI"], "checkpoint": os.environ["CKPT"],
       "batch": int(os.environ["BATCH"]), "group": int(os.environ["GROUP"])}
tmp = os.environ["OUT_ENV"] + ".tmp"
with open(tmp, "w") as f:
    json.dump(env, f, indent=2)
os.replace(tmp, os.environ["OUT_ENV"])
EOF
say "BLAS: $blas; $libtorch; PyTorch $torchpy; $ompi"

# --- 1. collective -------------------------------------------------------------------------------
# The tools take turns, COLL_ROUNDS times; the report keeps each size's best round.
coll=$run/collective
rm -f "$coll"/*.jsonl
for r in $(seq 1 "$coll_rounds"); do
  phase "collective round $r/$coll_rounds: ring, OpenMPI, gloo, ring over TCP (2 ranks, 64 KB-64 MB)"
  logged "ringbw-$r" bin/launch -np 2 "$tools/ringbw"
  sed -n 's/^\[rank 0\] //p' "$run/logs/ringbw-$r.log" | grep '^{' >>"$coll/ring.jsonl"
  logged "mpibw-$r" mpirun --allow-run-as-root --oversubscribe -np 2 "$tools/mpibw"
  grep '^{' "$run/logs/mpibw-$r.log" >>"$coll/openmpi.jsonl"
  logged "gloobw-$r" "$py" bench/torch/gloobw.py --ranks 2
  grep '^{' "$run/logs/gloobw-$r.log" >>"$coll/gloo.jsonl"
  logged "ringbw-tcp-$r" bin/launch -np 2 "$tools/ringbw" --transport tcp
  sed -n 's/^\[rank 0\] //p' "$run/logs/ringbw-tcp-$r.log" | grep '^{' >>"$coll/ring-tcp.jsonl"
done

# --- 2. trainer: Go vs PyTorch -------------------------------------------------------------------
total=$((warmup + steps))
quiet=(--eval-every 0 --eval-scenes 4 --ckpt-every 0 --keep 1 --plot-every 0 --check-every 0 --log-every "$total")
# timed FILE CMD...: CMD, with its CPU time (children included) in FILE when /usr/bin/time exists.
timed() {
  local file=$1; shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '{"wall_s":%e,"user_s":%U,"sys_s":%S}' -o "$file" "$@"
  else
    "$@"
  fi
}
go_run() { # go_run NAME NP: one Go GRPO run of $total steps into RUN/NAME; NP "direct": no launch
  local cmd=(bin/launch -np "$2" bin/trainer)
  [ "$2" = direct ] && cmd=(bin/trainer)
  rm -rf "${run:?}/$1"
  logged "${1//\//-}" timed "$run/$1.time.json" "${cmd[@]}" train --init "$init" --out "$run/$1" --steps "$total" \
    --batch $batch --group $group --threads 1 --monitor-interval 0 "${quiet[@]}"
}
torch_run() { # torch_run N
  logged "trainer-torch-$1" timed "$run/trainer/torch-$1.time.json" "$py" bench/torch/grpo.py --init "$ckpt" --env "$tools/rewardenv" \
    --out "$run/trainer/torch-$1.jsonl" --steps "$total" --batch $batch --group $group --threads 1
}
rm -rf "$run"/trainer/*
for r in $(seq 1 "$rounds"); do
  phase "trainer round $r/$rounds: $total GRPO steps each, B=$batch G=$group"
  if [ $((r % 2)) = 1 ]; then go_run "trainer/go-$r" direct; torch_run "$r"; else torch_run "$r"; go_run "trainer/go-$r" direct; fi
done

# --- 3. scaling ----------------------------------------------------------------------------------
rm -rf "$run"/scaling/*
phase "scaling: 1 vs 2 ranks, $total GRPO steps each, global B=$batch G=$group"
go_run scaling/np1-1 1
go_run scaling/np2-1 2
go_run scaling/np2-2 2
go_run scaling/np1-2 1

# --- 4. memory -----------------------------------------------------------------------------------
phase "memory: $mem_steps GRPO steps on 2 ranks, B=2 G=4"
rm -rf "$run/memory"
logged memory bin/launch -np 2 bin/trainer train --init "$init" --out "$run/memory" --steps "$mem_steps" \
  --batch 2 --group 4 --eval-every 0 --eval-scenes 4 --ckpt-every 0 --keep 1 --plot-every 0 --check-every 0 \
  --monitor-interval 1 --log-every 10
phase "language model: Go vs PyTorch twin, float32 and bfloat16, then GRPO with it (RUN/lm.md)"; logged lm scripts/bench/lm.sh "$run"
phase "micro-batches: peak memory by --micro-batch (RUN/microbatch.md)"; logged microbatch scripts/bench/microbatch.sh "$run"
phase "ZeRO-1: 0.5B shape on 2 ranks (RUN/zero-L24.md, RUN/zero-L12.md)"
ZERO_LAYERS=24 ZERO_CONFIGS=lean logged zero-L24 scripts/bench/zero.sh "$run"
ZERO_LAYERS=12 ZERO_STEPS=3 logged zero-L12 scripts/bench/zero.sh "$run"
phase "reward encoder: CLIP-B/32 batched vs one image a pass (RUN/reward.md)"; logged reward scripts/bench/reward.sh "$run"
phase "reward overlap: 1 service vs 2 services + overlap at a slow service (RUN/overlap.md)"; logged overlap scripts/bench/overlap.sh "$run" "$init"
phase "LoRA: 0.5B shape at 12 layers, rank 16 against full fine-tuning (RUN/lora-L12.md)"; logged lora-L12 scripts/bench/lora.sh "$run"

# --- report --------------------------------------------------------------------------------------
phase "done"
"$tools/report" --dir "$run" --warmup "$warmup"
say "report: $run/report.md (charts: $(cd "$run" && ls *.png | tr '\n' ' '))"
