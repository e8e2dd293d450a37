package collective

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// contribution is rank r's value at index i: small integers, so sums are
// exact in float32 and every wrong pairing of elements shows.
func contribution(r, i int) float32 { return float32((r+1)*(i%1000) + 7*r) }

func TestAllReduceExact(t *testing.T) {
	lengths := []int{0, 1, 7, 1000, 1000003}
	type setup struct {
		transport Transport
		seg       int
		sizes     []int
	}
	for _, c := range []setup{
		{TransportAuto, 12, []int{1, 2, 3, 4, 5}},
		{TransportAuto, DefaultSegmentBytes, []int{1, 2, 3, 4, 5}},
		{TransportUnix, 12, []int{2, 3}},
		{TransportUnix, DefaultSegmentBytes, []int{3}},
		{TransportTCP, 12, []int{3}},
		{TransportTCP, DefaultSegmentBytes, []int{2, 3}},
	} {
		seg := c.seg
		for _, n := range c.sizes {
			t.Run(fmt.Sprintf("%s/seg=%d/n=%d", c.transport, seg, n), func(t *testing.T) {
				rings := world(t, n, func(o *Options) { o.SegmentBytes = seg; o.Transport = c.transport })
				for _, length := range lengths {
					if seg == 12 && length > 1000 {
						continue // tiny segments are for the short lengths
					}
					bufs := make([]Host, n)
					for r := range bufs {
						bufs[r] = make(Host, length)
						for i := range bufs[r] {
							bufs[r][i] = contribution(r, i)
						}
					}
					mustAll(t, each(rings, func(rg *Ring) error {
						return rg.AllReduce(ctxTimeout(t, 30*time.Second), bufs[rg.Rank()], Sum)
					}))
					for r := range n {
						for i, got := range bufs[r] {
							var want float32
							for q := range n {
								want += contribution(q, i)
							}
							if got != want {
								t.Fatalf("len %d: rank %d element %d = %v, want %v", length, r, i, got, want)
							}
						}
					}
				}
			})
		}
	}
}

func TestAllReduceAvgAndMax(t *testing.T) {
	const n, length = 3, 1001
	rings := world(t, n, func(o *Options) { o.SegmentBytes = 400 })
	for _, op := range []Op{Avg, Max} {
		bufs := make([]Host, n)
		for r := range bufs {
			bufs[r] = make(Host, length)
			for i := range bufs[r] {
				// Make the maximum come from a different rank per element.
				bufs[r][i] = float32((r*37 + i*11) % 101)
			}
		}
		want := make([]float32, length)
		for i := range want {
			var sum, hi float32
			for r := range n {
				v := float32((r*37 + i*11) % 101)
				sum += v
				hi = max(hi, v)
			}
			want[i] = sum / n
			if op == Max {
				want[i] = hi
			}
		}
		mustAll(t, each(rings, func(rg *Ring) error {
			return rg.AllReduce(ctxTimeout(t, 10*time.Second), bufs[rg.Rank()], op)
		}))
		for r := range n {
			for i, got := range bufs[r] {
				if got != want[i] {
					t.Fatalf("%v: rank %d element %d = %v, want %v", op, r, i, got, want[i])
				}
			}
		}
	}
}

func TestBroadcast(t *testing.T) {
	for n := 1; n <= 4; n++ {
		rings := world(t, n, func(o *Options) { o.SegmentBytes = 64 })
		for root := range n {
			const length = 333
			bufs := make([]Host, n)
			for r := range bufs {
				bufs[r] = make(Host, length)
				for i := range bufs[r] {
					bufs[r][i] = float32(1000*r + i)
				}
			}
			mustAll(t, each(rings, func(rg *Ring) error {
				return rg.Broadcast(ctxTimeout(t, 10*time.Second), bufs[rg.Rank()], root)
			}))
			for r := range n {
				for i, got := range bufs[r] {
					if want := float32(1000*root + i); got != want {
						t.Fatalf("n=%d root=%d: rank %d element %d = %v, want %v", n, root, r, i, got, want)
					}
				}
			}
		}
	}
}

func TestAllGather(t *testing.T) {
	for n := 1; n <= 4; n++ {
		rings := world(t, n, func(o *Options) { o.SegmentBytes = 8 })
		for _, m := range []int{0, 1, 5} {
			recv := make([]Host, n)
			mustAll(t, each(rings, func(rg *Ring) error {
				send := make(Host, m)
				for i := range send {
					send[i] = float32(100*rg.Rank() + i)
				}
				recv[rg.Rank()] = make(Host, n*m)
				return rg.AllGather(ctxTimeout(t, 10*time.Second), send, recv[rg.Rank()])
			}))
			for r := range n {
				for i, got := range recv[r] {
					if want := float32(100*(i/m) + i%m); got != want {
						t.Fatalf("n=%d m=%d: rank %d element %d = %v, want %v", n, m, r, i, got, want)
					}
				}
			}
		}
	}
}

func TestAllGatherWrongLength(t *testing.T) {
	rings := world(t, 2, nil)
	err := rings[0].AllGather(context.Background(), make(Host, 3), make(Host, 5))
	if err == nil || !strings.Contains(err.Error(), "want world size 2 x send length 3 = 6") {
		t.Fatalf("got %v, want a length error", err)
	}
}

func TestBarrierWaitsForEveryone(t *testing.T) {
	const n = 4
	rings := world(t, n, nil)
	entered := make([]time.Time, n)
	left := make([]time.Time, n)
	mustAll(t, each(rings, func(rg *Ring) error {
		time.Sleep(time.Duration(rg.Rank()) * 60 * time.Millisecond)
		entered[rg.Rank()] = time.Now()
		err := rg.Barrier(ctxTimeout(t, 10*time.Second))
		left[rg.Rank()] = time.Now()
		return err
	}))
	last := entered[n-1]
	for r := range n {
		if left[r].Before(last) {
			t.Errorf("rank %d left the barrier %v before rank %d entered it", r, last.Sub(left[r]), n-1)
		}
	}
}

func TestSizeOneCostsNothing(t *testing.T) {
	ring, store, err := Connect(context.Background(), Options{Rank: 0, Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	defer ring.Close()
	if ring.next != nil || ring.prev != nil || store.srv != nil || store.localAddr != nil {
		t.Fatal("a world of one rank opened sockets")
	}
	buf := Host{1, 2, 3}
	ctx := context.Background()
	for _, op := range []Op{Sum, Avg, Max} {
		if err := ring.AllReduce(ctx, buf, op); err != nil {
			t.Fatal(err)
		}
	}
	if err := ring.Broadcast(ctx, buf, 0); err != nil {
		t.Fatal(err)
	}
	if err := ring.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	recv := make(Host, 3)
	if err := ring.AllGather(ctx, buf, recv); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(buf, recv) != "[1 2 3] [1 2 3]" {
		t.Fatalf("buffers changed: %v %v", buf, recv)
	}
	if err := store.Set(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	var boxed Buffer = buf // boxing the slice is the caller's allocation
	allocs := testing.AllocsPerRun(100, func() { ring.AllReduce(ctx, boxed, Sum) })
	if allocs != 0 {
		t.Errorf("AllReduce on one rank allocates %v times", allocs)
	}
}

func TestDeviceBufferRefused(t *testing.T) {
	rings := world(t, 2, nil)
	err := rings[0].AllReduce(context.Background(), Device{Ptr: 0x1000, Count: 4}, Sum)
	if err == nil || !strings.Contains(err.Error(), "nccl") {
		t.Fatalf("got %v, want an error pointing to the nccl backend", err)
	}
}

func TestPeerDiesMidOperation(t *testing.T) {
	const n = 3
	rings := world(t, n, nil)
	bufs := make([]Host, n)
	for r := range bufs {
		bufs[r] = make(Host, 4<<20)
	}
	start := time.Now()
	errs := each(rings, func(rg *Ring) error {
		if rg.Rank() == 2 {
			time.Sleep(50 * time.Millisecond)
			return rg.Close()
		}
		return rg.AllReduce(ctxTimeout(t, time.Minute), bufs[rg.Rank()], Sum)
	})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("survivors took %v to notice", d)
	}
	for r := range 2 {
		if errs[r] == nil || !strings.Contains(errs[r].Error(), "rank ") {
			t.Errorf("rank %d: got %v, want an error naming a peer", r, errs[r])
		}
	}
	// The ring is now broken for good.
	err := rings[0].Barrier(ctxTimeout(t, time.Minute))
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("operation after a failure: got %v, want a broken-ring error", err)
	}
}

func TestOperationDeadline(t *testing.T) {
	rings := world(t, 2, nil)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := rings[0].AllReduce(ctx, make(Host, 10), Sum) // rank 1 never joins in
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("deadline of 200ms honoured after %v", d)
	}
}

func TestMismatchedOperations(t *testing.T) {
	rings := world(t, 2, nil)
	errs := each(rings, func(rg *Ring) error {
		ctx := ctxTimeout(t, 10*time.Second)
		if rg.Rank() == 0 {
			return rg.AllReduce(ctx, make(Host, 10), Sum)
		}
		return rg.Broadcast(ctx, make(Host, 10), 0)
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "same collectives") {
			t.Errorf("rank %d: got %v, want a mismatch error", r, err)
		}
	}
}

func TestTransportsInUse(t *testing.T) {
	for _, c := range []struct {
		transport Transport
		network   string
		shm       bool
	}{{TransportAuto, "unix", true}, {TransportUnix, "unix", false}, {TransportTCP, "tcp", false}} {
		for _, rg := range world(t, 3, func(o *Options) { o.Transport = c.transport }) {
			if net := rg.next.LocalAddr().Network(); net != c.network {
				t.Errorf("%s: rank %d streams over %s", c.transport, rg.Rank(), net)
			}
			if (rg.shmOut != nil) != c.shm || (rg.shmIn != nil) != c.shm {
				t.Errorf("%s: rank %d: shared memory out %v in %v, want %v", c.transport, rg.Rank(), rg.shmOut != nil, rg.shmIn != nil, c.shm)
			}
		}
	}
}

func TestTCPTransport(t *testing.T) {
	rings := world(t, 3, func(o *Options) { o.Transport = TransportTCP; o.SocketBuffer = 1 << 20 })
	for _, rg := range rings {
		if rg.next.LocalAddr().Network() != "tcp" {
			t.Fatalf("rank %d uses %s", rg.Rank(), rg.next.LocalAddr().Network())
		}
	}
	bufs := []Host{{1, 2}, {3, 4}, {5, 6}}
	mustAll(t, each(rings, func(rg *Ring) error {
		return rg.AllReduce(ctxTimeout(t, 10*time.Second), bufs[rg.Rank()], Sum)
	}))
	if fmt.Sprint(bufs[1]) != "[9 12]" {
		t.Fatalf("got %v", bufs[1])
	}
}

func TestPeerLeavingAfterLastOperation(t *testing.T) {
	// A rank may finish an operation and exit while its neighbour is still
	// wrapping up the same operation; that is not a failure.
	for i := range 20 {
		rings := world(t, 2, nil)
		errs := each(rings, func(rg *Ring) error {
			err := rg.AllReduce(ctxTimeout(t, 10*time.Second), make(Host, 1<<16), Sum)
			if rg.Rank() == 1 {
				rg.Close()
			}
			return err
		})
		for r, err := range errs {
			if err != nil {
				t.Fatalf("round %d, rank %d: %v", i, r, err)
			}
		}
	}
}
