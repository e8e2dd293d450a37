package nccl

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeOp is an in-flight operation scripted by the test.
type fakeOp struct {
	doneAfter  int   // Query reports done from this call on (0: never)
	queryErr   error // returned by Query from call failAfter on
	failAfter  int
	asyncErr   error // returned by AsyncError from call asyncAfter on
	asyncAfter int
	abortErr   error

	queries, asyncs, aborts int
}

func (f *fakeOp) Query() (bool, error) {
	f.queries++
	if f.queryErr != nil && f.queries >= f.failAfter {
		return false, f.queryErr
	}
	return f.doneAfter > 0 && f.queries >= f.doneAfter, nil
}

func (f *fakeOp) AsyncError() error {
	f.asyncs++
	if f.asyncErr != nil && f.asyncs >= f.asyncAfter {
		return f.asyncErr
	}
	return nil
}

func (f *fakeOp) Abort() error { f.aborts++; return f.abortErr }

func TestWatchdogSuccess(t *testing.T) {
	op := &fakeOp{doneAfter: 100}
	if err := (Watchdog{Rank: 1, Timeout: 5 * time.Second}).Wait(context.Background(), "all-reduce", op); err != nil {
		t.Fatal(err)
	}
	if op.queries != 100 || op.aborts != 0 {
		t.Errorf("queries %d aborts %d; want 100 and 0", op.queries, op.aborts)
	}
}

func TestWatchdogTimeout(t *testing.T) {
	op := &fakeOp{}
	start := time.Now()
	err := (Watchdog{Rank: 2, Timeout: 30 * time.Millisecond, MaxPoll: time.Millisecond}).Wait(context.Background(), "all-reduce", op)
	took := time.Since(start)
	want := "nccl: all-reduce on rank 2 did not complete within 30ms; aborted the communicator (is another rank dead or stuck?)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrTimeout) {
		t.Error("errors.Is(err, ErrTimeout) is false")
	}
	var we *WatchdogError
	if !errors.As(err, &we) || !we.TimedOut || we.Rank != 2 {
		t.Errorf("err is %#v", err)
	}
	if op.aborts != 1 {
		t.Errorf("aborted %d times, want 1", op.aborts)
	}
	if took < 30*time.Millisecond || took > 2*time.Second {
		t.Errorf("gave up after %v, want about 30ms", took)
	}
	if op.asyncs == 0 {
		t.Error("the asynchronous error was never polled")
	}
}

func TestWatchdogTimeoutDefault(t *testing.T) {
	err := (&WatchdogError{Op: "all-reduce", Rank: 2, Timeout: DefaultTimeout, TimedOut: true}).Error()
	want := "nccl: all-reduce on rank 2 did not complete within 10m0s; aborted the communicator (is another rank dead or stuck?)"
	if err != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

func TestWatchdogAsyncError(t *testing.T) {
	remote := &ResultError{Func: "ncclCommGetAsyncError", Result: RemoteError, Text: "remote process exited or there was a network error"}
	op := &fakeOp{asyncErr: remote, asyncAfter: 4, abortErr: errors.New("abort hiccup")}
	err := (Watchdog{Rank: 0, Timeout: time.Minute}).Wait(context.Background(), "broadcast", op)
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, remote) || errors.Is(err, ErrTimeout) {
		t.Errorf("err %v does not wrap the async error only", err)
	}
	msg := err.Error()
	for _, part := range []string{"nccl: broadcast on rank 0 failed", "remote process exited", "ncclRemoteError", "aborted the communicator", "abort: abort hiccup"} {
		if !strings.Contains(msg, part) {
			t.Errorf("%q lacks %q", msg, part)
		}
	}
	if op.aborts != 1 || op.queries != 4 {
		t.Errorf("aborts %d queries %d; want 1 and 4", op.aborts, op.queries)
	}
}

func TestWatchdogQueryError(t *testing.T) {
	cudaErr := &CUDAError{Func: "cudaStreamQuery", Code: 700, Text: "an illegal memory access was encountered"}
	op := &fakeOp{queryErr: cudaErr, failAfter: 3}
	err := (Watchdog{Rank: 3}).Wait(context.Background(), "all-gather", op)
	var ce *CUDAError
	if !errors.As(err, &ce) || ce.Code != 700 || op.aborts != 1 {
		t.Errorf("err = %v, aborts = %d", err, op.aborts)
	}
	// A pending NCCL error explains the failure better than the stream's.
	remote := errors.New("peer gone")
	op = &fakeOp{queryErr: cudaErr, failAfter: 1, asyncErr: remote, asyncAfter: 1}
	err = (Watchdog{Rank: 3}).Wait(context.Background(), "all-gather", op)
	if !errors.Is(err, remote) {
		t.Errorf("err = %v, want the async error", err)
	}
}

func TestWatchdogContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	op := &fakeOp{}
	go func() {
		time.Sleep(10 * time.Millisecond)
		cancel()
	}()
	err := (Watchdog{Rank: 0, Timeout: time.Minute}).Wait(ctx, "all-reduce", op)
	if !errors.Is(err, context.Canceled) || op.aborts != 1 {
		t.Errorf("err = %v, aborts = %d", err, op.aborts)
	}
	// A finished operation is not aborted even when the context is done.
	op = &fakeOp{doneAfter: 1}
	if err := (Watchdog{}).Wait(ctx, "all-reduce", op); err != nil || op.aborts != 0 {
		t.Errorf("done op: err = %v, aborts = %d", err, op.aborts)
	}
}
