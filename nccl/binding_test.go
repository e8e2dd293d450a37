package nccl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unigrpo/unigrpo/collective"
)

// logFile points the fake NCCL's event log at a fresh file and returns a
// reader for it.
func logFile(t *testing.T) func() string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.log")
	t.Setenv("FAKE_NCCL_LOG", path)
	return func() string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
}

func TestFakeLibraryBasics(t *testing.T) {
	lib := fakeLib(t)
	v, err := lib.Version()
	if err != nil || v != (Version{2, 30, 7}) {
		t.Errorf("Version = %v, %v", v, err)
	}
	t.Setenv("FAKE_NCCL_VERSION", "2804")
	if v, _ := lib.Version(); v != (Version{2, 8, 4}) {
		t.Errorf("old Version = %v", v)
	}
	rt, drv, err := lib.CUDAVersions()
	if err != nil || rt != 12040 || drv != 12040 {
		t.Errorf("CUDAVersions = %v %v %v", rt, drv, err)
	}
	a, err1 := lib.GetUniqueID()
	b, err2 := lib.GetUniqueID()
	if errors.Join(err1, err2) != nil || a == b || !strings.HasPrefix(string(a[:]), "fake-nccl-id") {
		t.Errorf("unique ids %q %q (%v %v)", a[:24], b[:24], err1, err2)
	}
	t.Setenv("FAKE_CUDA_DEVICES", "2")
	err = lib.OnDevice(5, func() error { return nil })
	var ce *CUDAError
	if !errors.As(err, &ce) || ce.Code != 101 || err.Error() != "cudaSetDevice(5): invalid device ordinal (cudaError 101)" {
		t.Errorf("SetDevice(5) = %v", err)
	}
	if n, err := lib.DeviceCount(); n != 2 || err != nil {
		t.Errorf("DeviceCount = %d, %v", n, err)
	}
	if !lib.HasLastError() {
		t.Error("HasLastError is false for a library that has ncclGetLastError")
	}
}

// newComms creates a communicator per rank concurrently, rank r on device r.
func newComms(t *testing.T, lib *Library, ranks int, timeout time.Duration) []*Comm {
	t.Helper()
	t.Setenv("FAKE_CUDA_DEVICES", "8")
	store := collective.NewMemoryStore()
	comms := make([]*Comm, ranks)
	errs := make([]error, ranks)
	var wg sync.WaitGroup
	for r := range ranks {
		wg.Go(func() {
			comms[r], errs[r] = lib.NewComm(context.Background(), Config{
				Rank: r, Size: ranks, Device: r, Store: store, IDKey: t.Name(), Timeout: timeout,
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range comms {
			c.Close()
		}
	})
	return comms
}

// onRanks runs f for every rank concurrently and fails on any error.
func onRanks(t *testing.T, comms []*Comm, f func(c *Comm) error) {
	t.Helper()
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for i, c := range comms {
		wg.Go(func() { errs[i] = f(c) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// devBuf allocates a device buffer on c's device holding vals.
func devBuf(t *testing.T, c *Comm, vals []float32) collective.Device {
	t.Helper()
	var p uintptr
	err := c.lib.OnDevice(c.device, func() error {
		var err error
		if p, err = c.lib.Malloc(4 * max(len(vals), 1)); err != nil {
			return err
		}
		return c.lib.CopyToDevice(p, vals)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.lib.OnDevice(c.device, func() error { return c.lib.Free(p) }) })
	return collective.Device{Ptr: p, Count: len(vals)}
}

func readBuf(t *testing.T, c *Comm, d collective.Device) []float32 {
	t.Helper()
	out := make([]float32, d.Count)
	if err := c.lib.CopyFromDevice(out, d.Ptr); err != nil {
		t.Fatal(err)
	}
	return out
}

func equal(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: [%d] = %v, want %v (got %v)", what, i, got[i], want[i], got)
		}
	}
}

func TestCommunicatorOnFakeNCCL(t *testing.T) {
	lib := fakeLib(t)
	events := logFile(t)
	const ranks = 3
	comms := newComms(t, lib, ranks, time.Minute)
	for r, c := range comms {
		if d, err := c.CUDADevice(); err != nil || d != r {
			t.Errorf("rank %d: NCCL bound the communicator to device %d (%v): the device was not set on the init thread", r, d, err)
		}
	}
	// Rank r holds [r+1, 10*(r+1)].
	bufs := make([]collective.Device, ranks)
	for r, c := range comms {
		bufs[r] = devBuf(t, c, []float32{float32(r + 1), float32(10 * (r + 1))})
	}
	ctx := context.Background()
	onRanks(t, comms, func(c *Comm) error { return c.AllReduce(ctx, bufs[c.Rank()], collective.Sum) })
	for r, c := range comms {
		equal(t, "sum", readBuf(t, c, bufs[r]), []float32{6, 60})
	}
	onRanks(t, comms, func(c *Comm) error { return c.AllReduce(ctx, bufs[c.Rank()], collective.Avg) })
	equal(t, "avg", readBuf(t, comms[1], bufs[1]), []float32{6, 60})
	for r, c := range comms {
		c.lib.CopyToDevice(bufs[r].Ptr, []float32{float32(7 - r), float32(r)})
	}
	onRanks(t, comms, func(c *Comm) error { return c.AllReduce(ctx, bufs[c.Rank()], collective.Max) })
	equal(t, "max", readBuf(t, comms[2], bufs[2]), []float32{7, 2})

	for r, c := range comms {
		c.lib.CopyToDevice(bufs[r].Ptr, []float32{float32(100 + r), -1})
	}
	onRanks(t, comms, func(c *Comm) error { return c.Broadcast(ctx, bufs[c.Rank()], 2) })
	for r, c := range comms {
		equal(t, "broadcast", readBuf(t, c, bufs[r]), []float32{102, -1})
	}

	gathered := make([]collective.Device, ranks)
	for r, c := range comms {
		c.lib.CopyToDevice(bufs[r].Ptr, []float32{float32(r), float32(r) + 0.5})
		gathered[r] = devBuf(t, c, make([]float32, 2*ranks))
	}
	onRanks(t, comms, func(c *Comm) error { return c.AllGather(ctx, bufs[c.Rank()], gathered[c.Rank()]) })
	equal(t, "all-gather", readBuf(t, comms[0], gathered[0]), []float32{0, 0.5, 1, 1.5, 2, 2.5})

	// Reduce-scatter of [r, r, r, r, r, r] (sum 0+1+2 = 3 everywhere), and
	// a group holding two all-reduces.
	outs := make([]collective.Device, ranks)
	for r, c := range comms {
		c.lib.CopyToDevice(gathered[r].Ptr, []float32{float32(r), float32(r), float32(r), float32(r), float32(10 * r), float32(r)})
		outs[r] = devBuf(t, c, make([]float32, 2))
	}
	onRanks(t, comms, func(c *Comm) error {
		return c.ReduceScatterPtr(ctx, gathered[c.Rank()].Ptr, outs[c.Rank()].Ptr, 2, Float32, Sum)
	})
	equal(t, "reduce-scatter rank 2", readBuf(t, comms[2], outs[2]), []float32{30, 3})

	// The in-place forms the sharded optimizer uses: ReduceScatter leaves
	// block Rank() of the average in place, AllGather fills the other blocks
	// around a send buffer that is the rank's own block.
	for r, c := range comms {
		c.lib.CopyToDevice(gathered[r].Ptr, []float32{float32(r), 1, float32(2 * r), 2, float32(3 * r), 3})
	}
	onRanks(t, comms, func(c *Comm) error { return c.ReduceScatter(ctx, gathered[c.Rank()], collective.Avg) })
	for r, c := range comms {
		got := readBuf(t, c, gathered[r])[2*r : 2*r+2]
		equal(t, fmt.Sprintf("in-place reduce-scatter rank %d", r), got, []float32{float32(r+1) * 1, float32(r + 1)})
	}
	onRanks(t, comms, func(c *Comm) error {
		g := gathered[c.Rank()]
		own := collective.Device{Ptr: g.Ptr + uintptr(8*c.Rank()), Count: 2}
		return c.AllGather(ctx, own, g)
	})
	for r, c := range comms {
		equal(t, fmt.Sprintf("in-place all-gather rank %d", r), readBuf(t, c, gathered[r]), []float32{1, 1, 2, 2, 3, 3})
	}
	onRanks(t, comms, func(c *Comm) error {
		return c.Group(ctx, func(g *Group) error {
			if err := g.AllReduce(outs[c.Rank()].Ptr, outs[c.Rank()].Ptr, 2, Float32, Sum); err != nil {
				return err
			}
			return g.AllReduce(bufs[c.Rank()].Ptr, bufs[c.Rank()].Ptr, 2, Float32, Max)
		})
	})
	equal(t, "group all-reduce", readBuf(t, comms[0], outs[0]), []float32{3 + 3 + 30, 3 + 3 + 3})
	onRanks(t, comms, func(c *Comm) error { return c.Barrier(ctx) })

	// Empty buffers are no-ops.
	if err := comms[0].AllReduce(ctx, collective.Device{}, collective.Sum); err != nil {
		t.Errorf("empty all-reduce: %v", err)
	}
	onRanks(t, comms, func(c *Comm) error { return c.Close() })
	log := events()
	for r := range ranks {
		for _, ev := range []string{"init rank=%d nranks=3 device=%d", "finalize rank=%d", "destroy rank=%d"} {
			want := strings.ReplaceAll(strings.Replace(ev, "%d", string(rune('0'+r)), 1), "%d", string(rune('0'+r)))
			if !strings.Contains(log, want) {
				t.Errorf("event log lacks %q:\n%s", want, log)
			}
		}
	}
	if strings.Contains(log, "abort") {
		t.Errorf("a clean close aborted:\n%s", log)
	}
	if err := comms[0].Barrier(ctx); err == nil || !strings.Contains(err.Error(), "communicator closed") {
		t.Errorf("barrier after close: %v", err)
	}
}

func TestCommunicatorRejectsBadBuffers(t *testing.T) {
	lib := fakeLib(t)
	comms := newComms(t, lib, 1, time.Minute)
	c, ctx := comms[0], context.Background()
	err := c.AllReduce(ctx, collective.Host{1, 2}, collective.Sum)
	if err == nil || !strings.Contains(err.Error(), "works on device memory (collective.Device), got collective.Host; use the CPU ring communicator") {
		t.Errorf("host buffer: %v", err)
	}
	if err := c.AllReduce(ctx, collective.Device{Ptr: 0, Count: 4}, collective.Sum); err == nil || !strings.Contains(err.Error(), "invalid device buffer") {
		t.Errorf("null device pointer: %v", err)
	}
	if err := c.AllReduce(ctx, collective.Device{Ptr: 8, Count: 1}, collective.Op(9)); err == nil || !strings.Contains(err.Error(), "unsupported reduction") {
		t.Errorf("bad op: %v", err)
	}
	send := devBuf(t, c, []float32{1, 2})
	if err := c.AllGather(ctx, send, devBuf(t, c, make([]float32, 3))); err == nil || !strings.Contains(err.Error(), "holds 3 elements, want 1 ranks x 2") {
		t.Errorf("all-gather size: %v", err)
	}
	if err := c.ReduceScatter(ctx, devBuf(t, c, make([]float32, 3)), collective.Op(9)); err == nil || !strings.Contains(err.Error(), "unsupported reduction") {
		t.Errorf("reduce-scatter op: %v", err)
	}
	if err := c.Broadcast(ctx, send, 1); err == nil || !strings.Contains(err.Error(), "root 1 outside [0, 1)") {
		t.Errorf("broadcast root: %v", err)
	}
	// None of these reached NCCL: the communicator still works.
	if err := c.AllReduce(ctx, send, collective.Sum); err != nil {
		t.Errorf("all-reduce after rejected calls: %v", err)
	}
	loaded := c.version
	c.version = Version{2, 9, 6}
	if err := c.AllReduce(ctx, send, collective.Avg); err == nil || !strings.Contains(err.Error(), "needs NCCL 2.10.3 or later, loaded 2.9.6") {
		t.Errorf("avg on old NCCL: %v", err)
	}
	c.version = loaded
}

// A peer that never joins the collective: the call blocks inside NCCL on
// the host until the watchdog aborts the communicator.
func TestWatchdogAbortsWhenAPeerIsMissing(t *testing.T) {
	lib := fakeLib(t)
	events := logFile(t)
	comms := newComms(t, lib, 2, 100*time.Millisecond)
	buf := devBuf(t, comms[0], []float32{1})
	start := time.Now()
	err := comms[0].AllReduce(context.Background(), buf, collective.Sum)
	want := "nccl: all-reduce on rank 0 did not complete within 100ms; aborted the communicator (is another rank dead or stuck?)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	if !strings.Contains(events(), "abort rank=0") {
		t.Errorf("NCCL was not aborted:\n%s", events())
	}
	err = comms[0].Barrier(context.Background())
	if !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), "earlier failure") {
		t.Errorf("operation after abort: %v", err)
	}
	if err := comms[0].Close(); err != nil {
		t.Errorf("close after abort: %v", err)
	}
	if strings.Contains(events(), "destroy rank=0") {
		t.Error("an aborted communicator was destroyed as well")
	}
}

// The stream never completes: the watchdog's stream-polling path.
func TestWatchdogOnHungStream(t *testing.T) {
	lib := fakeLib(t)
	events := logFile(t)
	comms := newComms(t, lib, 1, 50*time.Millisecond)
	buf := devBuf(t, comms[0], []float32{1})
	t.Setenv("FAKE_CUDA_STREAM_HANG", "1")
	err := comms[0].AllReduce(context.Background(), buf, collective.Sum)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(events(), "abort rank=0") {
		t.Errorf("err = %v, events:\n%s", err, events())
	}
}

// The communicator reports an asynchronous error while the stream is busy.
func TestWatchdogOnAsyncError(t *testing.T) {
	lib := fakeLib(t)
	events := logFile(t)
	comms := newComms(t, lib, 1, time.Minute)
	buf := devBuf(t, comms[0], []float32{1})
	t.Setenv("FAKE_CUDA_STREAM_HANG", "1")
	t.Setenv("FAKE_NCCL_ASYNC_ERROR", "6")
	err := comms[0].AllReduce(context.Background(), buf, collective.Sum)
	var re *ResultError
	if !errors.As(err, &re) || re.Result != RemoteError {
		t.Fatalf("err = %v, want an ncclRemoteError", err)
	}
	want := "nccl: all-reduce on rank 0 failed: ncclCommGetAsyncError: remote process exited or there was a network error (ncclRemoteError): fake: peer vanished; aborted the communicator"
	if err.Error() != want {
		t.Errorf("err = %s\nwant  %s", err, want)
	}
	if !strings.Contains(events(), "abort rank=0") {
		t.Error("NCCL was not aborted")
	}
}

// A launch error carries NCCL's strings; without ncclGetLastError (NCCL
// before 2.13.4) the message still has ncclGetErrorString's text.
func TestLaunchErrorStrings(t *testing.T) {
	for _, c := range []struct {
		path, last string
	}{
		{fakes.nccl, ": fake supports float32 only"},
		{fakes.ncclNoLast, ""},
	} {
		fakeLib(t)
		lib, err := Load(LoadOptions{NCCLPath: c.path, CUDARTPath: fakes.cudart, Dirs: []string{}, NoLoaderPath: true})
		if err != nil {
			t.Fatal(err)
		}
		if lib.HasLastError() != (c.last != "") {
			t.Errorf("%s: HasLastError = %v", c.path, lib.HasLastError())
		}
		comms := newComms(t, lib, 1, time.Minute)
		buf := devBuf(t, comms[0], []float32{1, 2})
		start := time.Now()
		err = comms[0].AllReducePtr(context.Background(), buf.Ptr, buf.Ptr, 8, Int8, Sum)
		if took := time.Since(start); took > abortGrace/2 {
			t.Errorf("a failed launch took %v to report", took)
		}
		want := "nccl: all-reduce on rank 0 failed: ncclAllReduce: invalid argument (run with NCCL_DEBUG=WARN for details) (ncclInvalidArgument)" +
			c.last + "; aborted the communicator"
		if err == nil || err.Error() != want {
			t.Errorf("err = %v\nwant  %s", err, want)
		}
	}
}

func TestCloseAbortsOperationInProgress(t *testing.T) {
	lib := fakeLib(t)
	events := logFile(t)
	comms := newComms(t, lib, 2, time.Minute)
	buf := devBuf(t, comms[0], []float32{1})
	done := make(chan error, 1)
	go func() { done <- comms[0].AllReduce(context.Background(), buf, collective.Sum) }()
	for !comms[0].busy.Load() {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	comms[0].Close()
	select {
	case <-time.After(abortGrace / 2):
		t.Fatal("Close did not unblock the all-reduce promptly")
	case err := <-done:
		if !errors.Is(err, ErrAborted) {
			t.Errorf("err = %v, want ErrAborted", err)
		}
	}
	if !strings.Contains(events(), "abort rank=0") {
		t.Errorf("events:\n%s", events())
	}
}

func TestInitTimeoutAndBadConfig(t *testing.T) {
	lib := fakeLib(t)
	t.Setenv("FAKE_CUDA_DEVICES", "4")
	ctx := context.Background()
	store := collective.NewMemoryStore()
	// Rank 0 of 2 alone: the peer never arrives.
	_, err := lib.NewComm(ctx, Config{Rank: 0, Size: 2, Device: 0, Store: store, InitTimeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "communicator init did not complete") || !strings.Contains(err.Error(), "are all 2 ranks running") {
		t.Errorf("lonely init: %v", err)
	}
	if _, err := lib.NewComm(ctx, Config{Rank: 2, Size: 2}); err == nil || !strings.Contains(err.Error(), "want 0 <= rank < size") {
		t.Errorf("bad rank: %v", err)
	}
	if _, err := lib.NewComm(ctx, Config{Rank: 0, Size: 1, Device: 7}); err == nil || !strings.Contains(err.Error(), "cudaSetDevice(7): invalid device ordinal") {
		t.Errorf("missing device: %v", err)
	}
	if _, err := lib.NewComm(ctx, Config{Rank: 1, Size: 2, Device: 1}); err == nil || !strings.Contains(err.Error(), "no rendezvous store") {
		t.Errorf("no store: %v", err)
	}
}
