# Unified-GRPO in Go. `make demo` runs the main job, `make test` the tests; both set up what they need.
SHELL := /bin/bash
GO ?= go
# Tests and the demo run one libtorch thread per process (see README: threads on tiny ops are slower).
export OMP_NUM_THREADS ?= 1

.PHONY: setup build test test-pure demo bench clean

setup:
	@scripts/setup.sh

build: setup
	@mkdir -p bin
	$(GO) build -o bin/launch ./cmd/launch
	$(GO) build -o bin/trainer ./cmd/trainer

# Every package's tests; the race detector is kept for the packages without libtorch.
test: setup
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

# The packages that need no libtorch build and test without setup.
test-pure:
	GOWORK=off $(GO) test -count=1 ./launch/... ./collective/... ./nccl/... ./plots/... ./monitor/...

demo: build
	@scripts/demo.sh

bench: build
	@scripts/bench.sh

clean:
	rm -rf bin .gotch go.work go.work.sum
