package nccl

import (
	"errors"
	"fmt"
	"time"
)

// ResultError is a failed NCCL call, with NCCL's own strings.
type ResultError struct {
	Func   string // e.g. "ncclAllReduce"
	Result Result
	Text   string // ncclGetErrorString
	Last   string // ncclGetLastError, when the library has it and it says something
}

func (e *ResultError) Error() string {
	msg := fmt.Sprintf("%s: %s (%v)", e.Func, e.Text, e.Result)
	if e.Last != "" {
		msg += ": " + e.Last
	}
	return msg
}

// CUDAError is a failed CUDA runtime call.
type CUDAError struct {
	Func string // e.g. "cudaSetDevice(3)"
	Code int    // cudaError_t
	Text string // cudaGetErrorString
}

func (e *CUDAError) Error() string {
	return fmt.Sprintf("%s: %s (cudaError %d)", e.Func, e.Text, e.Code)
}

// ErrTimeout is wrapped by the error of a collective that did not complete
// within the watchdog's timeout.
var ErrTimeout = errors.New("collective timed out")

// ErrAborted is returned by operations on a communicator that was aborted.
var ErrAborted = errors.New("communicator aborted")

// WatchdogError is the error of a collective that the watchdog stopped.
type WatchdogError struct {
	Op       string        // e.g. "all-reduce"
	Rank     int           // this process's rank
	Timeout  time.Duration // the limit, when TimedOut
	TimedOut bool
	Cause    error // the NCCL/CUDA error or context error; nil on timeout
	AbortErr error // the error of ncclCommAbort, if it failed
}

func (e *WatchdogError) Error() string {
	var msg string
	if e.TimedOut {
		msg = fmt.Sprintf("nccl: %s on rank %d did not complete within %v; aborted the communicator (is another rank dead or stuck?)",
			e.Op, e.Rank, e.Timeout)
	} else {
		msg = fmt.Sprintf("nccl: %s on rank %d failed: %v; aborted the communicator", e.Op, e.Rank, e.Cause)
	}
	if e.AbortErr != nil {
		msg += fmt.Sprintf(" (abort: %v)", e.AbortErr)
	}
	return msg
}

// Unwrap returns the cause, and ErrTimeout for a timeout.
func (e *WatchdogError) Unwrap() []error {
	var errs []error
	if e.TimedOut {
		errs = append(errs, ErrTimeout)
	}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}
