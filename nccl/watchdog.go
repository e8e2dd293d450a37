package nccl

import (
	"context"
	"runtime"
	"time"
)

// InFlight is a collective operation being watched. Comm implements it on
// top of cudaStreamQuery, ncclCommGetAsyncError and ncclCommAbort; tests
// implement it with fakes.
type InFlight interface {
	// Query reports whether the operation has completed; an error means
	// it failed (a launch error or a CUDA error on the stream).
	Query() (done bool, err error)
	// AsyncError returns the communicator's asynchronous error, if any.
	AsyncError() error
	// Abort aborts the communicator, unblocking the operation.
	Abort() error
}

// Default watchdog settings.
const (
	DefaultTimeout = 10 * time.Minute
	DefaultMaxPoll = 200 * time.Microsecond
)

// spinFor is how long the watchdog polls without sleeping, for short
// collectives.
const spinFor = 50 * time.Microsecond

// Watchdog waits for collectives, aborting the communicator when one
// fails or outlasts Timeout.
type Watchdog struct {
	Rank    int
	Timeout time.Duration // zero means DefaultTimeout
	MaxPoll time.Duration // the longest sleep between polls; zero means DefaultMaxPoll
}

// Wait polls op until it completes, fails, reports an asynchronous error,
// times out, or ctx ends. In every case but completion it aborts the
// communicator (a rank that fails a collective cannot go on: its peers
// would wait for it forever) and returns a *WatchdogError naming opName.
func (w Watchdog) Wait(ctx context.Context, opName string, op InFlight) error {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	maxPoll := w.MaxPoll
	if maxPoll <= 0 {
		maxPoll = DefaultMaxPoll
	}
	start := time.Now()
	sleep := time.Microsecond
	for {
		done, err := op.Query()
		if err == nil && done {
			return nil
		}
		if err == nil {
			err = op.AsyncError()
		} else if async := op.AsyncError(); async != nil {
			// The communicator's own error explains a stream failure better.
			err = async
		}
		if err == nil && ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		if err != nil {
			return &WatchdogError{Op: opName, Rank: w.Rank, Cause: err, AbortErr: op.Abort()}
		}
		elapsed := time.Since(start)
		if elapsed >= timeout {
			return &WatchdogError{Op: opName, Rank: w.Rank, Timeout: timeout, TimedOut: true, AbortErr: op.Abort()}
		}
		if elapsed < spinFor {
			runtime.Gosched()
			continue
		}
		sleep = min(sleep*2, maxPoll, timeout-elapsed)
		time.Sleep(sleep)
	}
}
