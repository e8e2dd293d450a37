#!/usr/bin/env bash
# kit.sh (make gpu-kit) writes .gpukit/, what a GPU host without Go or network needs to build
# this project besides its own PyTorch (scripts/gpu/run.sh unpacks and uses it):
#
#   go.tar.xz       a trimmed Go toolchain: go, compile, link, asm, cgo, vet (which go test -c
#                   wants), pkg/include and the standard library's sources without tests or testdata
#   vendor.tar.xz   the module's dependencies as `go mod vendor` writes them (gotch's C++ included,
#                   pristine: scripts/gpu/run.sh prepares it for the host's libtorch)
#   bin.tar.xz      three programs prebuilt here, stripped and compressed (scripts/gpu/run.sh
#                   unpacks them first):
#     gpucheck      cmd/gpucheck: it needs no libtorch (NCCL, the CUDA runtime and NVML are loaded
#                   at run time), so its evidence does not wait for the libtorch build
#     report        bench/report (pure Go, static): `report gpu` writes the run's gpu-report.json
#                   and gpu-report.md, even when the build on the host failed
#     nccl.test     the nccl package's tests (needs no libtorch; the kits before vet was packed could
#                   not run go test): scripts/gpu/checks/nccl-shard.sh runs its
#                   TestRealReduceScatterAllGather on the host's NCCL
#   kit.json        what is inside, its inputs and sizes
#
# Nothing in it depends on this machine beyond x86-64 Linux. The archives are remade only when their
# inputs change (the Go version, go.mod, go.sum, this script); the programs are rebuilt by the Go
# build cache's rules. The GPU host receives at most 64 MiB: the kit and the repository's tracked
# files together (the shipped world/pretrained checkpoints among them) must stay under 62 MiB.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
me=gpu-kit
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
kit=.gpukit
limit_mib=62
command -v go >/dev/null || die "no Go toolchain on PATH (this script runs on the build machine, not the GPU host)"
command -v xz >/dev/null || die "xz is missing (apt-get install xz-utils)"
mkdir -p "$kit"

goroot=$(go env GOROOT)
gover=$(go env GOVERSION)
arch=$(go env GOOS)_$(go env GOARCH)
[ "$arch" = linux_amd64 ] || die "the kit is for linux_amd64 GPU hosts; this Go targets $arch"
inputs="$gover|$(sha256sum go.mod go.sum "$0" | cut -c1-16 | paste -sd,)"

if [ "$(cat "$kit/inputs" 2>/dev/null)" != "$inputs" ] || [ ! -f "$kit/go.tar.xz" ] || [ ! -f "$kit/vendor.tar.xz" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  say "packing the Go toolchain $gover (a minute or two)"
  g=$tmp/go
  mkdir -p "$g/bin" "$g/pkg/tool/$arch"
  cp "$goroot/bin/go" "$g/bin/"
  # vet too: go test refuses to run without it even with -vet=off, and the registered check
  # reward-embed.sh builds models/hf/vit's test binary on the host (it links PyTorch's libtorch).
  for t in compile link asm cgo vet; do cp "$goroot/pkg/tool/$arch/$t" "$g/pkg/tool/$arch/"; done
  cp -r "$goroot/pkg/include" "$g/pkg/"
  cp "$goroot/VERSION" "$g/"
  [ -f "$goroot/go.env" ] && cp "$goroot/go.env" "$g/"
  # The standard library's sources, without tests, testdata or the toolchain's own commands.
  (cd "$goroot" && find src -path src/cmd -prune -o -type d -name testdata -prune -o \
      -type f ! -name '*_test.go' -print) | (cd "$goroot" && tar -cf - -T -) | tar -xf - -C "$g"
  # cmd/cgo's runtime support is built from src/runtime/cgo (kept above); go build also reads
  # src/cmd/go.mod and the vendored packages the linker-facing tools import.
  (cd "$goroot" && find src/cmd/go.mod src/cmd/vendor/modules.txt -type f 2>/dev/null) |
    (cd "$goroot" && tar -cf - -T -) | tar -xf - -C "$g"
  tar -C "$tmp" -cf - go | xz -T2 -6 >"$kit/go.tar.xz.tmp"
  mv "$kit/go.tar.xz.tmp" "$kit/go.tar.xz"

  say "vendoring the module's dependencies"
  GOWORK=off GOFLAGS=-mod=mod go mod vendor -o "$tmp/vendor"
  tar -C "$tmp" -cf - vendor | xz -T2 -6 >"$kit/vendor.tar.xz.tmp"
  mv "$kit/vendor.tar.xz.tmp" "$kit/vendor.tar.xz"
  echo "$inputs" >"$kit/inputs"
fi

# gpucheck links only libc and libdl (everything GPU is loaded with dlopen): built here, it runs
# on any x86-64 Linux with a glibc at least as new as this machine's.
progs=$(mktemp -d)
GOWORK=off CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o "$progs/gpucheck" ./cmd/gpucheck
# report is pure Go: built without cgo it is static and runs on any x86-64 Linux.
GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$progs/report" ./bench/report
GOWORK=off CGO_ENABLED=1 go test -c -trimpath -ldflags='-s -w' -o "$progs/nccl.test" ./nccl
tar -C "$progs" -cf - gpucheck report nccl.test | xz -T2 -9 >"$kit/bin.tar.xz.tmp"
mv "$kit/bin.tar.xz.tmp" "$kit/bin.tar.xz"
rm -rf "$progs" "$kit/gpucheck" "$kit/report" "$kit/nccl.test" # the kits before bin.tar.xz held them loose

size() { stat -c %s "$1"; }
total=$(($(size "$kit/go.tar.xz") + $(size "$kit/vendor.tar.xz") + $(size "$kit/bin.tar.xz")))
tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
cat >"$kit/kit.json.tmp" <<JSON
{"go": "$gover", "gotch": "$(sed -n 's/.*github.com\/sugarme\/gotch \(v[^ ]*\).*/\1/p' go.mod)",
 "inputs": "$inputs", "made": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "bytes": {"go.tar.xz": $(size "$kit/go.tar.xz"), "vendor.tar.xz": $(size "$kit/vendor.tar.xz"), "bin.tar.xz": $(size "$kit/bin.tar.xz"), "total": $total, "tracked_files": $tracked}}
JSON
mv "$kit/kit.json.tmp" "$kit/kit.json"
[ $((total + tracked)) -le $((limit_mib << 20)) ] ||
  die "the kit ($((total >> 20)) MiB) and the tracked files ($((tracked >> 20)) MiB) make $(((total + tracked) >> 20)) MiB, over the $limit_mib MiB that may travel to a GPU host"
say "$kit: $((total >> 20)) MiB (go $(( $(size "$kit/go.tar.xz") >> 20 )), vendor $(( $(size "$kit/vendor.tar.xz") >> 20 )), programs $(( $(size "$kit/bin.tar.xz") >> 20 ))); with the tracked files $(((total + tracked) >> 20)) MiB of $limit_mib"
