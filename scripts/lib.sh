# shellcheck shell=bash
# lib.sh: the shell helpers the scripts share. A script sources it from the repository root after
# naming itself in `me` (its messages start with it) and, for a clock in them, setting `clock=1`:
#
#   me=bench clock=1
#   . scripts/lib.sh
#
#   messages        say, die (exit 1), usage_error (exit 2: a wrong command line or setting)
#   settings        want_whole
#   Debian          apt_install, multiarch, blas_in_use, debian_py and need_debian_torch
#   logged runs     phase, logged (both write under $run), one_thread
#   libtorch        torch_version, libtorch_abi
#   GPU libraries   find_gpu_libs
#
# It only defines functions and variables: sourcing it runs nothing else.

lib_t0=$(date +%s)

# elapsed: seconds since lib.sh was sourced.
elapsed() { echo $(($(date +%s) - lib_t0)); }

say() {
  if [ "${clock:-0}" = 1 ]; then echo "${me:-script}: [$(elapsed)s] $*"; else echo "${me:-script}: $*"; fi
}
die() {
  echo "${me:-script}: error: $*" >&2
  exit 1
}
usage_error() {
  echo "${me:-script}: $*" >&2
  exit 2
}

# want_whole NAME VALUE [NAME VALUE]...: each VALUE is a whole number, or a usage error names the
# setting NAME (the environment variable it came from).
want_whole() {
  while [ $# -ge 2 ]; do
    [[ $2 =~ ^[0-9]+$ ]] || usage_error "$1=$2: want a whole number"
    shift 2
  done
}

# apt_install HINT PKG...: installs with apt-get those of the Debian packages PKG that are missing
# (running apt-get update only then); HINT ends the error when there is no apt-get.
apt_install() {
  local hint=$1 p sudo=""
  local need=()
  shift
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  [ ${#need[@]} -gt 0 ] || return 0
  command -v apt-get >/dev/null || die "missing packages ${need[*]} and no apt-get: $hint"
  [ "$(id -u)" = 0 ] || sudo="sudo"
  say "installing ${need[*]} (apt-get)"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}

# multiarch: Debian's library folder name for this machine (x86_64-linux-gnu).
multiarch() { gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu; }

# blas_in_use: the BLAS library behind libblas.so.3 (Debian's default, the reference BLAS, is about
# 40 times slower at matrix products than OpenBLAS).
blas_in_use() { readlink -f "/etc/alternatives/libblas.so.3-$(multiarch)" 2>/dev/null || echo unknown; }

# Debian's Python with python3-torch: the oracles and benchmark twins run under it, not under the
# python3 first on PATH (which may be another Python without torch).
debian_py=/usr/bin/python3
need_debian_torch() {
  if ! { [ -x "$debian_py" ] && "$debian_py" -c 'import torch' 2>/dev/null; }; then
    die "$debian_py cannot import torch (apt-get install python3-torch)"
  fi
}

# one_thread: one thread everywhere (libtorch, OpenBLAS, OpenMP), for measurements.
one_thread() { export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1; }

# phase NAME: marks the start of a phase in $run/phases.jsonl, with the load average, and says it.
phase() {
  local load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  printf '{"phase":"%s","start_unix":%s,"loadavg":"%s"}\n' "$1" "$(date +%s.%N)" "$load" >>"${run:?}/phases.jsonl"
  say "$1 (load average $load)"
}

# logged NAME CMD...: runs CMD with its output in $run/logs/NAME.log; on failure shows the log's
# end and dies.
logged() {
  local name=$1
  shift
  if ! "$@" >"${run:?}/logs/$name.log" 2>&1; then
    tail -n 20 "$run/logs/$name.log" >&2
    die "$name failed (log: $run/logs/$name.log)"
  fi
}

# torch_version INCLUDE_DIR: the version (major.minor.patch) of the libtorch whose headers are in
# INCLUDE_DIR. It asks the C preprocessor, because the macros moved between releases
# (torch/version.h defines them up to 2.x, newer releases include them from another header).
torch_version() {
  local inc=$1 v
  v=$(printf '#include <torch/version.h>\nTORCH_VERSION_MAJOR.TORCH_VERSION_MINOR.TORCH_VERSION_PATCH\n' |
    g++ -E -P -x c++ -I"$inc" -I"$inc/torch/csrc/api/include" - 2>/dev/null | tail -n 1 | tr -d ' ')
  [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
    echo "${me:-script}: no libtorch version in the headers under $inc (got '$v')" >&2
    return 1
  }
  echo "$v"
}

# libtorch_abi LIB_DIR: 1 when the libtorch in LIB_DIR was built with the C++11 ABI of std::string
# (read off libc10's symbols), else 0.
libtorch_abi() {
  if [ "$(nm -DC "$1/libc10.so" 2>/dev/null | grep -c __cxx11 || true)" != 0 ]; then echo 1; else echo 0; fi
}

# find_gpu_libs: exports UNIGRPO_NCCL_LIB and UNIGRPO_CUDART_LIB, unless already set, from what
# python3's pip NVIDIA wheels hold (venv or conda locations that the nccl package's own search does
# not know). Without python3 or the wheels it sets nothing.
find_gpu_libs() {
  local py lib
  py=$(command -v python3 || true)
  [ -n "$py" ] || return 0
  if [ -z "${UNIGRPO_NCCL_LIB:-}" ]; then
    lib=$("$py" - <<'PY' 2>/dev/null || true
import os
try:
    import nvidia.nccl as m
    for d in m.__path__:
        p = os.path.join(d, "lib", "libnccl.so.2")
        if os.path.exists(p):
            print(p)
            break
except Exception:
    pass
PY
)
    [ -z "$lib" ] || export UNIGRPO_NCCL_LIB="$lib"
  fi
  if [ -z "${UNIGRPO_CUDART_LIB:-}" ]; then
    lib=$("$py" - <<'PY' 2>/dev/null || true
import glob, os
try:
    import nvidia
    for d in nvidia.__path__:
        for sub in ("cu13/lib", "cuda_runtime/lib", "cu12/lib"):
            hits = sorted(glob.glob(os.path.join(d, sub, "libcudart.so*")))
            if hits:
                print(hits[-1])
                raise SystemExit
except Exception:
    pass
PY
)
    [ -z "$lib" ] || export UNIGRPO_CUDART_LIB="$lib"
  fi
}
