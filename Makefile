# Unified-GRPO in Go. `make demo` runs the main job, `make test` the tests; both set up what they need.
SHELL := /bin/bash
GO ?= go
# Tests and the demo run one libtorch thread per process (trainer --threads: 1 is fastest for the small model).
export OMP_NUM_THREADS ?= 1
# go-nvml's bindings name NVML calls its header marks deprecated; without this the first build
# prints a screen of warnings that look like errors (Go's default flags plus the one warning off).
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: setup build test test-pure demo seeds pretrain bench gpu-kit gpu-rehearse clean

setup:
	@scripts/setup/gotch.sh

build: setup
	@mkdir -p bin
	$(GO) build -o bin/launch ./cmd/launch
	$(GO) build -o bin/trainer ./cmd/trainer

# Every package's tests, after installing their oracles (PyTorch, Pillow, tokenizers.js).
test: setup
	@scripts/oracles/install.sh
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

# The packages that need no libtorch build and test without setup.
test-pure:
	GOWORK=off $(GO) test -count=1 ./launch/... ./collective/... ./nccl/... ./plots/... ./monitor/... ./images/... ./internal/tfevent/...

# make demo UMM=2 runs the unified model (UMM-2) instead of the captioner (UMM-1).
demo: build
	@if [ "$(UMM)" = 2 ]; then scripts/demo/umm2.sh; else scripts/demo/umm1.sh; fi

# make seeds runs the demo once per training seed of SEEDS (default "1 2 3"; UMM=2 for the unified
# model) and reports the mean and spread over the seeds (scripts/demo/seeds.sh).
seeds: build
	@UMM=$(or $(UMM),1) scripts/demo/seeds.sh

# make pretrain trains the world's baselines that the demos start from and ships them into
# world/pretrained (about an hour on 2 cores; scripts/pretrain-world.sh).
pretrain: build
	@scripts/pretrain-world.sh

bench: build
	@scripts/bench/run.sh

# The GPU kit (.gpukit/): a Go toolchain, the vendored modules, a prebuilt gpucheck and report, for a
# GPU host without Go or network; scripts/gpu/run.sh runs there with it (see docs/gpu.md).
gpu-kit:
	@scripts/gpu/kit.sh

# scripts/gpu/run.sh on this machine: no Go on PATH, no apt, no module proxy, Debian's libtorch.
gpu-rehearse: gpu-kit setup
	@scripts/gpu/run.sh --rehearse

clean:
	rm -rf bin .gotch go.work go.work.sum .gpukit
