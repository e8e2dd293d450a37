#!/usr/bin/env bash
# hf-fixtures.sh: a registered GPU-host check (scripts/gpu/run.sh runs every scripts/gpu/checks/*.sh,
# from the repository root, with GPU_RUN_OUT set). It runs scripts/oracles/hf-fixtures.py, which
# builds tiny Hugging Face models with transformers and records their outputs -- the oracle for the
# Go tests of the model families -- and packs them into ONE file, $GPU_RUN_OUT/hf-fixtures.tar.gz (the runner
# brings back at most 8 files in all). Exit status: the Python script's (0 when at least one family
# succeeded), or 77 (skipped) when this python3 lacks torch or transformers, or when the fixtures
# are already committed (HF_FIXTURES=1 makes them again).
set -euo pipefail
: "${GPU_RUN_OUT:?GPU_RUN_OUT must name the folder whose files come back}"
# The fixtures are committed (models/hf/testdata/transformers); remake them only when asked.
if [ -f models/hf/testdata/transformers/README.md ] && [ "${HF_FIXTURES:-0}" != 1 ]; then
  echo "hf-fixtures: skipped, the fixtures are committed (HF_FIXTURES=1 remakes them)"
  exit 77
fi

if ! python3 -c 'import torch, transformers, tokenizers, safetensors, numpy, PIL' 2>/dev/null; then
  echo "hf-fixtures: skipped, python3 lacks torch, transformers, tokenizers, safetensors, numpy or pillow"
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
python3 scripts/oracles/hf-fixtures.py --out "$tmp/hf-fixtures" || status=$?

mkdir -p "$GPU_RUN_OUT"
if [ -d "$tmp/hf-fixtures" ]; then
  tar -C "$tmp" -czf "$GPU_RUN_OUT/hf-fixtures.tar.gz" hf-fixtures
  echo "hf-fixtures: $GPU_RUN_OUT/hf-fixtures.tar.gz, $(wc -c <"$GPU_RUN_OUT/hf-fixtures.tar.gz") bytes"
else
  echo "hf-fixtures: the script made no output folder" >&2
fi
exit "$status"
