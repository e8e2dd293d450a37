// Package nccl binds NVIDIA's NCCL and the CUDA runtime through cgo, loading
// libnccl.so.2 and libcudart with dlopen at run time, so that it builds on
// machines without CUDA or NCCL headers or libraries and fails there, when
// used, with a message that lists what was tried.
//
// It provides the NCCL calls a data-parallel trainer needs (unique id,
// communicator init with the device set on the same locked OS thread,
// all-reduce, broadcast, all-gather, reduce-scatter, groups, finalize,
// destroy, abort, asynchronous errors), the few CUDA runtime calls around
// them, and Comm, which implements collective.Communicator for
// collective.Device buffers. Every collective runs under a watchdog that
// polls the stream and the communicator's asynchronous error and aborts
// the communicator on error or timeout, as NCCL's maintainers advise,
// instead of hanging when a peer dies.
//
// Check runs a self-test on a GPU host: cmd/gpucheck wraps it.
package nccl
