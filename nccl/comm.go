package nccl

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one rank's communicator.
type Config struct {
	Rank, Size int
	// Device is the CUDA ordinal this rank uses (as seen through
	// CUDA_VISIBLE_DEVICES), typically LOCAL_RANK.
	Device int
	// Store exchanges the unique id; it may be nil when Size is 1.
	Store KV
	// IDKey is the store key of the unique id; empty means DefaultIDKey.
	IDKey string
	// Timeout bounds each collective (the watchdog); zero means
	// DefaultTimeout.
	Timeout time.Duration
	// InitTimeout bounds communicator creation, waiting for every rank;
	// zero means Timeout.
	InitTimeout time.Duration
	// MaxPoll is the watchdog's longest sleep between polls; zero means
	// DefaultMaxPoll.
	MaxPoll time.Duration
}

// Comm is one rank's NCCL communicator with its own CUDA stream. It
// implements collective.Communicator for collective.Device buffers. Each
// collective is queued on the stream, which waits for the work already on
// the legacy default stream (libtorch's), and the call returns once the
// collective has completed. Operations are serialised; Close may be called
// concurrently to abort one in progress.
type Comm struct {
	lib      *Library
	comm     rawComm
	stream   Stream
	scratch  uintptr // one float32 on the device, for Barrier
	rank     int
	size     int
	device   int
	version  Version
	watchdog Watchdog

	mu        sync.Mutex // serialises operations and Close
	busy      atomic.Bool
	broken    error // set once an operation failed: the communicator is unusable
	closed    bool
	abortOnce sync.Once
	abortErr  error
	// launchMu orders the aborted flag with the start of NCCL calls, so
	// that no call starts on a communicator that ncclCommAbort freed.
	launchMu sync.Mutex
	aborted  atomic.Bool
	// pending counts launch goroutines still inside NCCL; while any is,
	// the stream and scratch buffer are not freed.
	pending atomic.Int32
}

// abortGrace is how long a failed operation waits for its launch call to
// return after the abort before leaving it behind.
const abortGrace = 10 * time.Second

// NewComm exchanges the unique id through cfg.Store (rank 0 creates it)
// and creates the communicator on cfg.Device, setting the device on the
// same locked OS thread as ncclCommInitRank. Every rank must call it.
//
// If the other ranks do not arrive within InitTimeout it returns an error;
// the thread blocked in ncclCommInitRank cannot be freed, so the process
// should exit.
func (l *Library) NewComm(ctx context.Context, cfg Config) (*Comm, error) {
	if cfg.Size < 1 || cfg.Rank < 0 || cfg.Rank >= cfg.Size {
		return nil, fmt.Errorf("nccl: rank %d of %d: want 0 <= rank < size", cfg.Rank, cfg.Size)
	}
	if cfg.Device < 0 {
		return nil, fmt.Errorf("nccl: rank %d: negative device %d", cfg.Rank, cfg.Device)
	}
	if cfg.IDKey == "" {
		cfg.IDKey = DefaultIDKey
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = cfg.Timeout
	}
	version, err := l.Version()
	if err != nil {
		return nil, err
	}
	var id UniqueID
	if cfg.Size == 1 && cfg.Store == nil {
		id, err = l.GetUniqueID()
	} else {
		id, err = ExchangeID(ctx, cfg.Store, cfg.IDKey, cfg.Rank, l.GetUniqueID)
	}
	if err != nil {
		return nil, err
	}
	c := &Comm{
		lib: l, rank: cfg.Rank, size: cfg.Size, device: cfg.Device, version: version,
		watchdog: Watchdog{Rank: cfg.Rank, Timeout: cfg.Timeout, MaxPoll: cfg.MaxPoll},
	}
	type initResult struct {
		comm    rawComm
		stream  Stream
		scratch uintptr
		err     error
	}
	done := make(chan initResult, 1)
	go func() {
		var r initResult
		r.err = l.OnDevice(cfg.Device, func() error {
			var err error
			if r.comm, err = l.commInitRank(cfg.Size, id, cfg.Rank); err != nil {
				return err
			}
			if r.stream, err = l.NewStream(); err != nil {
				return err
			}
			r.scratch, err = l.Malloc(4)
			return err
		})
		done <- r
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.InitTimeout)
	defer cancel()
	select {
	case r := <-done:
		c.comm, c.stream, c.scratch = r.comm, r.stream, r.scratch
		if r.err != nil {
			if c.comm != 0 {
				c.abort()
			}
			c.release()
			return nil, fmt.Errorf("nccl: rank %d of %d on device %d: init: %w", cfg.Rank, cfg.Size, cfg.Device, r.err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("nccl: rank %d of %d on device %d: communicator init did not complete (%w); are all %d ranks running and reaching the same store?",
			cfg.Rank, cfg.Size, cfg.Device, context.Cause(ctx), cfg.Size)
	}
	return c, nil
}

// Rank returns this process's rank.
func (c *Comm) Rank() int { return c.rank }

// Size returns the number of ranks.
func (c *Comm) Size() int { return c.size }

// Device returns the CUDA ordinal of the communicator.
func (c *Comm) Device() int { return c.device }

// Stream returns the communicator's CUDA stream; collectives are queued on
// it and waited for before the methods return.
func (c *Comm) Stream() Stream { return c.stream }

// Library returns the library the communicator was created with.
func (c *Comm) Library() *Library { return c.lib }

// CUDADevice is ncclCommCuDevice: the device NCCL bound the communicator to.
func (c *Comm) CUDADevice() (int, error) {
	return c.lib.commInt("ncclCommCuDevice", c.lib.nccl.commCuDevice, c.comm)
}

// abort aborts the NCCL communicator once; later operations fail.
func (c *Comm) abort() error {
	c.abortOnce.Do(func() {
		c.launchMu.Lock()
		c.aborted.Store(true)
		c.launchMu.Unlock()
		c.abortErr = c.lib.commCall("ncclCommAbort", c.lib.nccl.commAbort, c.comm)
	})
	return c.abortErr
}

// launch runs an NCCL call unless the communicator was aborted.
func (c *Comm) launch(call func() error) error {
	c.launchMu.Lock()
	aborted := c.aborted.Load()
	c.launchMu.Unlock()
	if aborted {
		return ErrAborted
	}
	return call()
}

// run queues an operation with enqueue on a locked thread whose current
// device is the communicator's, then waits for the stream under the
// watchdog. After a failure the communicator is broken for good.
func (c *Comm) run(ctx context.Context, opName string, enqueue func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("nccl: %s on rank %d: communicator closed", opName, c.rank)
	}
	if c.broken != nil {
		return fmt.Errorf("nccl: %s on rank %d: %w (earlier failure: %v)", opName, c.rank, ErrAborted, c.broken)
	}
	c.busy.Store(true)
	defer c.busy.Store(false)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The watchdog queries the stream from this thread: without a current
	// device the runtime would create a context on device 0.
	if err := c.lib.SetDevice(c.device); err != nil {
		c.broken = err
		return fmt.Errorf("nccl: %s on rank %d: %w", opName, c.rank, err)
	}
	launched := make(chan error, 1)
	c.pending.Add(1)
	go func() {
		err := c.lib.OnDevice(c.device, func() error { return c.launch(enqueue) })
		c.pending.Add(-1)
		launched <- err
	}()
	f := &inflight{c: c, launched: launched}
	err := c.watchdog.Wait(ctx, opName, f)
	if err != nil {
		c.broken = err
		if !f.returned {
			// The abort should have unblocked the launch call.
			select {
			case <-launched:
			case <-time.After(abortGrace):
			}
		}
	}
	return err
}

// inflight is the watchdog's view of a queued collective.
type inflight struct {
	c        *Comm
	launched <-chan error
	returned bool // the launch call has returned
	queued   bool // ... successfully: the work is on the stream
}

func (f *inflight) Query() (bool, error) {
	if !f.queued {
		select {
		case err := <-f.launched:
			f.returned = true
			if err != nil {
				return false, err
			}
			f.queued = true
		default:
			return false, nil
		}
	}
	return f.c.lib.StreamQuery(f.c.stream)
}

func (f *inflight) AsyncError() error {
	if f.c.aborted.Load() {
		return ErrAborted
	}
	return f.c.lib.asyncError(f.c.comm)
}

func (f *inflight) Abort() error { return f.c.abort() }

// Close finalises and destroys the communicator and frees its stream. If
// an operation is in progress it aborts the communicator first, which
// makes that operation fail. A broken communicator is aborted, not
// finalised (ncclCommDestroy could block forever). Close is idempotent.
func (c *Comm) Close() error {
	if c.busy.Load() {
		c.abort()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.broken != nil || c.aborted.Load() {
		err := c.abort()
		c.release()
		return err
	}
	var errs []error
	if c.lib.nccl.commFinalize != 0 {
		// Finalize waits for the peers' outstanding operations: watch it.
		err := c.watchdog.Wait(context.Background(), "finalize", &finalizing{c: c, done: c.startFinalize()})
		if err != nil {
			c.release()
			return err
		}
	}
	errs = append(errs, c.lib.OnDevice(c.device, func() error {
		return c.lib.commCall("ncclCommDestroy", c.lib.nccl.commDestroy, c.comm)
	}))
	c.comm = 0
	errs = append(errs, c.release())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nccl: close rank %d: %w", c.rank, err)
	}
	return nil
}

// startFinalize runs ncclCommFinalize in the background.
func (c *Comm) startFinalize() <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- c.lib.OnDevice(c.device, func() error {
			return c.lib.commCall("ncclCommFinalize", c.lib.nccl.commFinalize, c.comm)
		})
	}()
	return done
}

// finalizing is the watchdog's view of ncclCommFinalize.
type finalizing struct {
	c    *Comm
	done <-chan error
}

func (f *finalizing) Query() (bool, error) {
	select {
	case err := <-f.done:
		return err == nil, err
	default:
		return false, nil
	}
}
func (f *finalizing) AsyncError() error { return f.c.lib.asyncError(f.c.comm) }
func (f *finalizing) Abort() error      { return f.c.abort() }

// release frees the stream and the scratch buffer, ignoring errors after
// an abort (the CUDA context may be unusable then).
func (c *Comm) release() error {
	if c.pending.Load() > 0 {
		// A launch call is stuck inside NCCL and may still use them.
		return nil
	}
	var errs []error
	err := c.lib.OnDevice(c.device, func() error {
		if c.scratch != 0 {
			errs = append(errs, c.lib.Free(c.scratch))
			c.scratch = 0
		}
		if c.stream != 0 {
			errs = append(errs, c.lib.DestroyStream(c.stream))
			c.stream = 0
		}
		return nil
	})
	errs = append(errs, err)
	if c.aborted.Load() {
		return nil
	}
	return errors.Join(errs...)
}
