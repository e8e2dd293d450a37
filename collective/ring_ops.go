package collective

import (
	"context"
	"fmt"
)

// hostData returns the float32 slice behind a Host buffer.
func hostData(name string, b Buffer) ([]float32, error) {
	switch v := b.(type) {
	case Host:
		return v, nil
	case Device:
		return nil, fmt.Errorf("collective: %s: the CPU ring cannot use device memory (collective.Device); use the nccl backend for GPU buffers", name)
	case nil:
		return nil, fmt.Errorf("collective: %s: nil buffer", name)
	default:
		return nil, fmt.Errorf("collective: %s: unsupported buffer type %T (want collective.Host)", name, b)
	}
}

// reduction checks the arguments of a reduction and returns its host data.
func reduction(name string, buf Buffer, op Op, w Wire) ([]float32, error) {
	data, err := hostData(name, buf)
	if err != nil {
		return nil, err
	}
	if !op.Valid() {
		return nil, fmt.Errorf("collective: %s: unknown reduction %v", name, op)
	}
	if w > WireBFloat16 {
		return nil, fmt.Errorf("collective: %s: unknown wire type %d", name, w)
	}
	return data, nil
}

// chunk returns the span of the i-th of n nearly equal parts of total
// elements; the first total%n parts have one element more.
func chunk(i, n, total int) xfer {
	base, rem := total/n, total%n
	return xfer{off: i*base + min(i, rem), n: base + btoi(i < rem)}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mod returns a modulo n in [0, n).
func mod(a, n int) int { return ((a % n) + n) % n }

// AllReduce combines buf, which must be a Host buffer, over all ranks.
//
// It runs the bandwidth-optimal ring: a reduce-scatter (after n-1 steps
// each rank holds the complete result for one chunk) followed by an
// all-gather of those chunks, so each rank sends 2(n-1)/n of the buffer.
// Every rank ends with bit-identical results.
func (r *Ring) AllReduce(ctx context.Context, buf Buffer, op Op) error {
	return r.AllReduceWire(ctx, buf, op, WireFloat32)
}

// AllReduceWire is AllReduce with the data travelling as w.
func (r *Ring) AllReduceWire(ctx context.Context, buf Buffer, op Op, w Wire) error {
	const name = "all-reduce"
	data, err := reduction(name, buf, op, w)
	if err != nil {
		return err
	}
	if r.size == 1 {
		return r.trivial(ctx, name)
	}
	return r.run(ctx, name, func() error {
		return r.allReduce(data, op, opAllReduce, w)
	})
}

// allReduce runs the ring schedule; r.op must be held.
func (r *Ring) allReduce(data []float32, op Op, code opcode, w Wire) error {
	n := r.size
	if n == 1 {
		return nil
	}
	sends, recvs := r.scatterSteps(len(data), true)
	for t := 0; t < n-1; t++ { // all-gather
		s := chunk(mod(r.rank-t, n), n, len(data))
		s.wait = true
		v := chunk(mod(r.rank-t-1, n), n, len(data))
		v.mode = recvCopy
		v.reuse = true // sent in reduce-scatter step t
		sends, recvs = append(sends, s), append(recvs, v)
	}
	h := header{seq: r.seq, code: code, redop: op, wire: w, length: uint64(len(data))}
	return r.pipeline(data, h, sends, recvs, op, r.divisor(op))
}

// scatterSteps is the reduce-scatter half of the ring over total elements:
// at step t a rank sends chunk rank-t-1 and reduces the chunk rank-t-2 it
// receives, so that after n-1 steps it holds the complete result of chunk
// rank. Every element's sum runs around the ring in the same order whether
// the operation is an all-reduce or a reduce-scatter, so both give the same
// bits. gather marks the sends that an all-gather overwrites later.
func (r *Ring) scatterSteps(total int, gather bool) (sends, recvs []xfer) {
	n := r.size
	for t := 0; t < n-1; t++ {
		s := chunk(mod(r.rank-t-1, n), n, total)
		s.wait = t > 0
		s.notify = gather
		v := chunk(mod(r.rank-t-2, n), n, total)
		v.mode = recvReduce
		if t == n-2 {
			v.mode = recvFinal
		}
		sends, recvs = append(sends, s), append(recvs, v)
	}
	return sends, recvs
}

// divisor is what the final step of a reduction divides by.
func (r *Ring) divisor(op Op) float32 {
	if op == Avg {
		return float32(r.size)
	}
	return 1
}

// ReduceScatter combines buf, a Host buffer whose length is a multiple of
// the world size, over all ranks and leaves this rank's block of the result
// (elements [rank*k, (rank+1)*k) for k = len/size) in place; the other
// blocks hold partial sums afterwards. Each rank sends (n-1)/n of the
// buffer: half the traffic of an all-reduce. The block holds the same bits
// an AllReduce of the same buffers gives there.
func (r *Ring) ReduceScatter(ctx context.Context, buf Buffer, op Op) error {
	return r.ReduceScatterWire(ctx, buf, op, WireFloat32)
}

// ReduceScatterWire is ReduceScatter with the data travelling as w.
func (r *Ring) ReduceScatterWire(ctx context.Context, buf Buffer, op Op, w Wire) error {
	const name = "reduce-scatter"
	data, err := reduction(name, buf, op, w)
	if err != nil {
		return err
	}
	if len(data)%r.size != 0 {
		return fmt.Errorf("collective: %s: %d elements do not split into %d equal blocks: pad the buffer to a multiple of the world size", name, len(data), r.size)
	}
	if r.size == 1 {
		return r.trivial(ctx, name)
	}
	return r.run(ctx, name, func() error {
		sends, recvs := r.scatterSteps(len(data), false)
		h := header{seq: r.seq, code: opReduceScatter, redop: op, wire: w, length: uint64(len(data))}
		return r.pipeline(data, h, sends, recvs, op, r.divisor(op))
	})
}

// Broadcast copies root's buf to every rank. The data flows around the
// ring from root in segments, each rank forwarding a segment as soon as it
// has received it.
func (r *Ring) Broadcast(ctx context.Context, buf Buffer, root int) error {
	const name = "broadcast"
	data, err := hostData(name, buf)
	if err != nil {
		return err
	}
	if root < 0 || root >= r.size {
		return fmt.Errorf("collective: %s: root %d is not a rank of this world of %d", name, root, r.size)
	}
	return r.run(ctx, name, func() error {
		if r.size == 1 {
			return nil
		}
		all := xfer{off: 0, n: len(data)}
		var sends, recvs []xfer
		if r.rank == root {
			sends = []xfer{all}
		} else {
			recvs = []xfer{all}
			if r.nextRank() != root {
				fwd := all
				fwd.wait = true
				sends = []xfer{fwd}
			}
		}
		h := header{seq: r.seq, code: opBroadcast, root: uint32(root), length: uint64(len(data))}
		return r.pipeline(data, h, sends, recvs, Sum, 1)
	})
}

// AllGather places every rank's send buffer, in rank order, into recv.
func (r *Ring) AllGather(ctx context.Context, send, recv Buffer) error {
	const name = "all-gather"
	in, err := hostData(name, send)
	if err != nil {
		return err
	}
	out, err := hostData(name, recv)
	if err != nil {
		return err
	}
	m := len(in)
	if len(out) != r.size*m {
		return fmt.Errorf("collective: %s: recv holds %d elements, want world size %d x send length %d = %d",
			name, len(out), r.size, m, r.size*m)
	}
	return r.run(ctx, name, func() error {
		copy(out[r.rank*m:(r.rank+1)*m], in)
		n := r.size
		if n == 1 {
			return nil
		}
		block := func(i int) xfer { return xfer{off: mod(i, n) * m, n: m} }
		var sends, recvs []xfer
		for t := 0; t < n-1; t++ {
			s := block(r.rank - t)
			s.wait = t > 0
			sends, recvs = append(sends, s), append(recvs, block(r.rank-t-1))
		}
		h := header{seq: r.seq, code: opAllGather, length: uint64(m)}
		return r.pipeline(out, h, sends, recvs, Sum, 1)
	})
}

// Barrier returns once every rank has entered it: it all-reduces one
// element per rank, whose result depends on every rank's contribution.
func (r *Ring) Barrier(ctx context.Context) error {
	return r.run(ctx, "barrier", func() error {
		return r.allReduce(make([]float32, r.size), Sum, opBarrier, WireFloat32)
	})
}
