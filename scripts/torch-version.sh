#!/usr/bin/env bash
# torch-version.sh INCLUDE_DIR prints the version (major.minor.patch) of the libtorch whose headers
# are in INCLUDE_DIR. It asks the C preprocessor, because the macros moved between releases
# (torch/version.h defines them up to 2.x, newer releases include them from another header).
set -euo pipefail
inc=${1:?usage: torch-version.sh INCLUDE_DIR}
v=$(printf '#include <torch/version.h>\nTORCH_VERSION_MAJOR.TORCH_VERSION_MINOR.TORCH_VERSION_PATCH\n' |
  g++ -E -P -x c++ -I"$inc" -I"$inc/torch/csrc/api/include" - 2>/dev/null | tail -n 1 | tr -d ' ')
[[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "torch-version: no libtorch version in the headers under $inc (got '$v')" >&2; exit 1; }
echo "$v"
