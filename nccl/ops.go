package nccl

import (
	"context"
	"fmt"

	"github.com/unigrpo/unigrpo/collective"
)

var _ collective.Communicator = (*Comm)(nil)

// AllReducePtr reduces count elements of type dt from send into recv on
// every rank (send may equal recv) and waits for completion under the
// watchdog. The pointers are device addresses on the communicator's device.
func (c *Comm) AllReducePtr(ctx context.Context, send, recv uintptr, count int, dt DataType, op RedOp) error {
	if err := c.checkOp(op); err != nil {
		return err
	}
	return c.run(ctx, "all-reduce", func() error {
		return c.lib.allReduce(send, recv, count, dt, op, c.comm, c.stream)
	})
}

// BroadcastPtr copies count elements from root's send into every rank's
// recv (send is only read on root; in place when send == recv).
func (c *Comm) BroadcastPtr(ctx context.Context, send, recv uintptr, count int, dt DataType, root int) error {
	if root < 0 || root >= c.size {
		return fmt.Errorf("nccl: broadcast root %d outside [0, %d)", root, c.size)
	}
	return c.run(ctx, "broadcast", func() error {
		return c.lib.broadcast(send, recv, count, dt, root, c.comm, c.stream)
	})
}

// AllGatherPtr gathers sendCount elements from every rank into recv, which
// holds Size()*sendCount elements in rank order.
func (c *Comm) AllGatherPtr(ctx context.Context, send, recv uintptr, sendCount int, dt DataType) error {
	return c.run(ctx, "all-gather", func() error {
		return c.lib.allGather(send, recv, sendCount, dt, c.comm, c.stream)
	})
}

// ReduceScatterPtr reduces Size()*recvCount elements of send over all ranks
// and leaves block Rank() of the result in recv.
func (c *Comm) ReduceScatterPtr(ctx context.Context, send, recv uintptr, recvCount int, dt DataType, op RedOp) error {
	if err := c.checkOp(op); err != nil {
		return err
	}
	return c.run(ctx, "reduce-scatter", func() error {
		return c.lib.reduceScatter(send, recv, recvCount, dt, op, c.comm, c.stream)
	})
}

// checkOp rejects reductions the loaded NCCL lacks.
func (c *Comm) checkOp(op RedOp) error {
	if op < Sum || op > Avg {
		return fmt.Errorf("nccl: unknown reduction %v", op)
	}
	if op == Avg && !c.version.AtLeast(2, 10, 3) {
		return fmt.Errorf("nccl: average reduction needs NCCL 2.10.3 or later, loaded %v", c.version)
	}
	return nil
}

// Group queues several operations as one NCCL group (ncclGroupStart ...
// ncclGroupEnd on one locked OS thread) and waits for all of them under the
// watchdog. f must only queue operations through g.
func (c *Comm) Group(ctx context.Context, f func(g *Group) error) error {
	return c.run(ctx, "group", func() error {
		if err := c.lib.GroupStart(); err != nil {
			return err
		}
		ferr := f(&Group{c: c})
		if err := c.lib.GroupEnd(); err != nil {
			return err
		}
		return ferr
	})
}

// Group queues operations inside Comm.Group; its methods do not wait.
type Group struct{ c *Comm }

// AllReduce queues an all-reduce; see Comm.AllReducePtr.
func (g *Group) AllReduce(send, recv uintptr, count int, dt DataType, op RedOp) error {
	if err := g.c.checkOp(op); err != nil {
		return err
	}
	return g.c.lib.allReduce(send, recv, count, dt, op, g.c.comm, g.c.stream)
}

// Broadcast queues a broadcast; see Comm.BroadcastPtr.
func (g *Group) Broadcast(send, recv uintptr, count int, dt DataType, root int) error {
	return g.c.lib.broadcast(send, recv, count, dt, root, g.c.comm, g.c.stream)
}

// AllGather queues an all-gather; see Comm.AllGatherPtr.
func (g *Group) AllGather(send, recv uintptr, sendCount int, dt DataType) error {
	return g.c.lib.allGather(send, recv, sendCount, dt, g.c.comm, g.c.stream)
}

// ReduceScatter queues a reduce-scatter; see Comm.ReduceScatterPtr.
func (g *Group) ReduceScatter(send, recv uintptr, recvCount int, dt DataType, op RedOp) error {
	if err := g.c.checkOp(op); err != nil {
		return err
	}
	return g.c.lib.reduceScatter(send, recv, recvCount, dt, op, g.c.comm, g.c.stream)
}

// deviceBuffer returns buf as a device buffer, or an error explaining that host
// buffers need the CPU backend.
func (c *Comm) deviceBuffer(op string, buf collective.Buffer) (collective.Device, error) {
	switch b := buf.(type) {
	case collective.Device:
		if b.Count < 0 || (b.Count > 0 && b.Ptr == 0) {
			return b, fmt.Errorf("nccl: %s: invalid device buffer (ptr %#x, count %d)", op, b.Ptr, b.Count)
		}
		return b, nil
	case *collective.Device:
		return c.deviceBuffer(op, *b)
	case nil:
		return collective.Device{}, fmt.Errorf("nccl: %s: nil buffer", op)
	default:
		return collective.Device{}, fmt.Errorf("nccl: %s: the NCCL backend works on device memory (collective.Device), got %T; use the CPU ring communicator for host buffers", op, buf)
	}
}

// redOp maps a collective reduction to NCCL's.
func redOp(op collective.Op) (RedOp, bool) {
	switch op {
	case collective.Sum:
		return Sum, true
	case collective.Avg:
		return Avg, true
	case collective.Max:
		return Max, true
	}
	return 0, false
}

// AllReduce reduces a collective.Device buffer of float32 in place.
func (c *Comm) AllReduce(ctx context.Context, buf collective.Buffer, op collective.Op) error {
	d, err := c.deviceBuffer("all-reduce", buf)
	if err != nil {
		return err
	}
	rop, ok := redOp(op)
	if !ok {
		return fmt.Errorf("nccl: all-reduce: unsupported reduction %v", op)
	}
	if d.Count == 0 {
		return nil
	}
	return c.AllReducePtr(ctx, d.Ptr, d.Ptr, d.Count, Float32, rop)
}

// Broadcast copies root's collective.Device buffer of float32 into every
// rank's, in place.
func (c *Comm) Broadcast(ctx context.Context, buf collective.Buffer, root int) error {
	d, err := c.deviceBuffer("broadcast", buf)
	if err != nil {
		return err
	}
	if d.Count == 0 {
		if root < 0 || root >= c.size {
			return fmt.Errorf("nccl: broadcast root %d outside [0, %d)", root, c.size)
		}
		return nil
	}
	return c.BroadcastPtr(ctx, d.Ptr, d.Ptr, d.Count, Float32, root)
}

// AllGather gathers every rank's send (collective.Device, float32) into
// recv, which must hold Size()*send.Len() elements.
func (c *Comm) AllGather(ctx context.Context, send, recv collective.Buffer) error {
	s, err := c.deviceBuffer("all-gather", send)
	if err != nil {
		return err
	}
	r, err := c.deviceBuffer("all-gather", recv)
	if err != nil {
		return err
	}
	if r.Count != c.size*s.Count {
		return fmt.Errorf("nccl: all-gather: receive buffer holds %d elements, want %d ranks x %d", r.Count, c.size, s.Count)
	}
	if s.Count == 0 {
		return nil
	}
	return c.AllGatherPtr(ctx, s.Ptr, r.Ptr, s.Count, Float32)
}

// ReduceScatter reduces a collective.Device buffer of float32, whose length
// is a multiple of the world size, over all ranks and leaves block Rank() of
// the result in place (NCCL's in-place form: recv = send + Rank()*count).
func (c *Comm) ReduceScatter(ctx context.Context, buf collective.Buffer, op collective.Op) error {
	d, err := c.deviceBuffer("reduce-scatter", buf)
	if err != nil {
		return err
	}
	rop, ok := redOp(op)
	if !ok {
		return fmt.Errorf("nccl: reduce-scatter: unsupported reduction %v", op)
	}
	if d.Count%c.size != 0 {
		return fmt.Errorf("nccl: reduce-scatter: %d elements do not split into %d equal blocks: pad the buffer to a multiple of the world size", d.Count, c.size)
	}
	if d.Count == 0 {
		return nil
	}
	k := d.Count / c.size
	return c.ReduceScatterPtr(ctx, d.Ptr, d.Ptr+uintptr(c.rank*k*4), k, Float32, rop)
}

// Barrier returns once every rank has reached it (an all-reduce of one
// float on the device).
func (c *Comm) Barrier(ctx context.Context) error {
	return c.AllReducePtr(ctx, c.scratch, c.scratch, 1, Float32, Sum)
}
