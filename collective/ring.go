package collective

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// DefaultOpTimeout bounds a ring operation whose context has no deadline.
const DefaultOpTimeout = 30 * time.Minute

// Ring is the CPU Communicator: every rank sends to rank+1 and receives from
// rank-1 (through shared memory on one host, over TCP between hosts), and
// collectives are pipelined around the ring in segments so that sending,
// receiving and reducing overlap.
//
// A Ring of size 1 has no sockets and its operations return at once.
type Ring struct {
	rank, size int
	segElems   int
	opTimeout  time.Duration

	// next carries this rank's data to rank+1; prev brings rank-1's.
	next, prev net.Conn
	// shmOut and shmIn, when set, carry the data through shared memory
	// instead, the sockets only signalling.
	shmOut  *shmSender
	shmIn   *shmReceiver
	scratch []float32
	// wide is the reader's, packed the writer's scratch for bfloat16 on the wire.
	wide, packed []float32

	op  sync.Mutex // one operation at a time
	seq uint64     // operations issued, guarded by op
	err error      // sticky failure, guarded by op

	closeOnce sync.Once
	closed    chan struct{}
}

var _ Communicator = (*Ring)(nil)

// Rank returns this process's rank.
func (r *Ring) Rank() int { return r.rank }

// Size returns the number of ranks.
func (r *Ring) Size() int { return r.size }

func (r *Ring) nextRank() int { return (r.rank + 1) % r.size }
func (r *Ring) prevRank() int { return (r.rank + r.size - 1) % r.size }

// Close closes the ring's connections, aborting any operation in progress.
// The neighbours see the closed connections and fail their operations.
func (r *Ring) Close() error {
	r.closeOnce.Do(func() {
		close(r.closed)
		r.closeConns()
		// An aborted operation ends quickly once its sockets are closed;
		// only then may the shared memory go.
		r.op.Lock()
		defer r.op.Unlock()
		if r.shmOut != nil {
			unmap(r.shmOut.mem)
		}
		if r.shmIn != nil {
			unmap(r.shmIn.mem)
		}
	})
	return nil
}

func (r *Ring) closeConns() {
	if r.next != nil {
		r.next.Close()
	}
	if r.prev != nil {
		r.prev.Close()
	}
}

func (r *Ring) isClosed() bool {
	select {
	case <-r.closed:
		return true
	default:
		return false
	}
}

// trivial is the whole of an operation in a world of one rank.
func (r *Ring) trivial(ctx context.Context, name string) error {
	if r.isClosed() {
		return fmt.Errorf("collective: %s: %w", name, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("collective: %s: %w", name, err)
	}
	return nil
}

// run executes one operation under the ring's lock: it applies the
// deadline, runs body, and on failure breaks the ring (closing the sockets
// so that the neighbours fail fast instead of waiting for their deadline).
func (r *Ring) run(ctx context.Context, name string, body func() error) error {
	r.op.Lock()
	defer r.op.Unlock()
	if r.err != nil {
		return fmt.Errorf("collective: %s: the ring is broken by an earlier failure: %w", name, r.err)
	}
	if r.isClosed() {
		return fmt.Errorf("collective: %s: %w", name, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("collective: %s: %w", name, err)
	}
	r.seq++
	if r.size == 1 {
		return body()
	}
	start := time.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(r.opTimeout)
	}
	r.next.SetDeadline(deadline)
	r.prev.SetDeadline(deadline)
	stop := interruptOnCancel(ctx, r.next, r.prev)
	err := body()
	stop()
	if err == nil {
		return nil
	}
	switch {
	case r.isClosed():
		err = fmt.Errorf("%w (Close was called)", ErrClosed)
	case ctx.Err() != nil:
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: the operation did not finish within its %s deadline: %w",
			context.DeadlineExceeded, deadline.Sub(start).Round(time.Millisecond), err)
	}
	r.err = err
	r.closeConns()
	return fmt.Errorf("collective: %s (operation #%d on rank %d of %d): %w", name, r.seq, r.rank, r.size, err)
}

// recvError describes a failed read from the previous rank.
func (r *Ring) recvError(err error) error {
	return peerError("receive from", r.prevRank(), err)
}

// sendError describes a failed write to the next rank.
func (r *Ring) sendError(err error) error {
	return peerError("send to", r.nextRank(), err)
}

func peerError(what string, peer int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%s rank %d: rank %d %w (did it exit or fail?): %w", what, peer, peer, errPeerClosed, err)
	}
	return fmt.Errorf("%s rank %d: %w", what, peer, err)
}
