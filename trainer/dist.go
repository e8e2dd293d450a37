package trainer

import (
	"context"
	"fmt"
	"hash/crc32"
	"math"
	"time"
	"unsafe"

	"github.com/unigrpo/unigrpo/collective"
)

// Dist is this process's place in a data-parallel job: the communicator plus the helpers the loops
// need. A world of one (no launcher) uses a Ring of size 1, whose operations cost nothing.
type Dist struct {
	Comm collective.Communicator
	// Grads, when set, averages the gradients instead of Comm, on a fused buffer kept on the
	// model's device (NCCL on GPUs); metrics, checksums and broadcasts still use Comm.
	Grads     collective.Communicator
	OpTimeout time.Duration // deadline of each collective operation
	LocalRank int           // rank on this node: the GPU index with --device cuda
	// ShareGPUs places more ranks than GPUs on the GPUs round-robin (--share-gpus) instead of
	// refusing them.
	ShareGPUs bool
	// Shard keeps 1/World of the optimizer state on each rank (ZeRO-1, --shard-optimizer):
	// gradients are reduce-scattered, each rank updates its block and the values are
	// all-gathered.
	Shard bool
	// GradWire is the type gradients travel in between ranks (--grad-reduce-dtype): float32, or
	// bfloat16 for half the bytes (sums still float32; the communicator must be a
	// collective.WireReducer).
	GradWire collective.Wire
	// Optimizer says where the optimizer state lives (--optimizer): "auto" or "" on the model's
	// device unless that is the CPU; "host" or "device" force it (the tests run the device path on
	// the CPU).
	Optimizer string
}

// Rank and World of this process.
func (d *Dist) Rank() int  { return d.Comm.Rank() }
func (d *Dist) World() int { return d.Comm.Size() }

func (d *Dist) ctx() (context.Context, context.CancelFunc) {
	t := d.OpTimeout
	if t <= 0 {
		t = 10 * time.Minute
	}
	return context.WithTimeout(context.Background(), t)
}

// Share returns the half-open range [lo, hi) of the global batch of n items this rank works on.
// Callers check divisibility up front (CheckDivisible), so every rank gets n/World items.
func (d *Dist) Share(n int) (lo, hi int) {
	per := n / d.World()
	return d.Rank() * per, (d.Rank() + 1) * per
}

// CheckDivisible returns a clear error when a global batch cannot be split evenly over the ranks.
func CheckDivisible(what string, n, world int) error {
	if world < 1 {
		return fmt.Errorf("world size %d", world)
	}
	if n%world != 0 {
		return fmt.Errorf("%s %d is not divisible by the %d ranks: use a multiple of %d (each rank takes whole scenes, with all their samples)", what, n, world, world)
	}
	return nil
}

// AverageGrads all-reduces the flat gradient buffer to its mean over ranks, in place.
func (d *Dist) AverageGrads(g []float32) error {
	if d.World() == 1 {
		return nil
	}
	ctx, cancel := d.ctx()
	defer cancel()
	if err := gradAllReduce(ctx, d.Comm, collective.Host(g), d.GradWire); err != nil {
		return fmt.Errorf("all-reduce of gradients: %w", err)
	}
	return nil
}

// gradAllReduce averages buf over the ranks of c, with the gradients' wire type.
func gradAllReduce(ctx context.Context, c collective.Communicator, buf collective.Buffer, w collective.Wire) error {
	if w == collective.WireFloat32 {
		return c.AllReduce(ctx, buf, collective.Avg)
	}
	wr, ok := c.(collective.WireReducer)
	if !ok {
		return errNoWire(c)
	}
	return wr.AllReduceWire(ctx, buf, collective.Avg, w)
}

// gradReduceScatter leaves this rank's block of the mean of buf over c, with the gradients' wire
// type.
func gradReduceScatter(ctx context.Context, c collective.Communicator, buf collective.Buffer, w collective.Wire) error {
	if w == collective.WireFloat32 {
		return c.ReduceScatter(ctx, buf, collective.Avg)
	}
	wr, ok := c.(collective.WireReducer)
	if !ok {
		return errNoWire(c)
	}
	return wr.ReduceScatterWire(ctx, buf, collective.Avg, w)
}

func errNoWire(c collective.Communicator) error {
	return fmt.Errorf("--grad-reduce-dtype bfloat16: this communicator (%T) reduces float32 only; use --grad-sync ring, or --grad-reduce-dtype float32", c)
}

// Broadcast copies rank 0's buffer to every rank.
func (d *Dist) Broadcast(x []float32) error {
	if d.World() == 1 || len(x) == 0 {
		return nil
	}
	ctx, cancel := d.ctx()
	defer cancel()
	if err := d.Comm.Broadcast(ctx, collective.Host(x), 0); err != nil {
		return fmt.Errorf("broadcast from rank 0: %w", err)
	}
	return nil
}

// Sum returns the element-wise sum of x over ranks (float32 on the wire: for counts and
// statistics, not for values that need more than 7 digits).
func (d *Dist) Sum(x []float64) ([]float64, error) { return d.reduce(x, collective.Sum) }

// Max returns the element-wise maximum of x over ranks.
func (d *Dist) Max(x []float64) ([]float64, error) { return d.reduce(x, collective.Max) }

func (d *Dist) reduce(x []float64, op collective.Op) ([]float64, error) {
	if d.World() == 1 {
		return append([]float64(nil), x...), nil
	}
	buf := make([]float32, len(x))
	for i, v := range x {
		buf[i] = float32(v)
	}
	ctx, cancel := d.ctx()
	defer cancel()
	if err := d.Comm.AllReduce(ctx, collective.Host(buf), op); err != nil {
		return nil, fmt.Errorf("all-reduce of metrics: %w", err)
	}
	out := make([]float64, len(x))
	for i, v := range buf {
		out[i] = float64(v)
	}
	return out, nil
}

// gatherFloat64 gives every rank the x of every rank, in rank order, bit for bit.
func (d *Dist) gatherFloat64(x float64) ([]float64, error) {
	rows, err := d.gatherRows([][]float64{{x}}, d.World(), 1)
	if err != nil {
		return nil, fmt.Errorf("partial sums: %w", err)
	}
	out := make([]float64, len(rows))
	for r, row := range rows {
		out[r] = row[0]
	}
	return out, nil
}

// reduceScatter leaves this rank's block of the mean of g over ranks in place (len(g) is a
// multiple of the world size).
func (d *Dist) reduceScatter(g []float32) error {
	if d.World() == 1 {
		return nil
	}
	ctx, cancel := d.ctx()
	defer cancel()
	if err := gradReduceScatter(ctx, d.Comm, collective.Host(g), d.GradWire); err != nil {
		return fmt.Errorf("reduce-scatter of gradients: %w", err)
	}
	return nil
}

// allGatherBlocks fills every block of x (len a multiple of the world size) with its owner's,
// around this rank's own block, in place.
func (d *Dist) allGatherBlocks(x []float32) error {
	if d.World() == 1 {
		return nil
	}
	k := len(x) / d.World()
	ctx, cancel := d.ctx()
	defer cancel()
	own := x[d.Rank()*k : (d.Rank()+1)*k]
	if err := d.Comm.AllGather(ctx, collective.Host(own), collective.Host(x)); err != nil {
		return fmt.Errorf("all-gather of updated values: %w", err)
	}
	return nil
}

// agree tells every rank whether any rank failed a phase of a joint task (err is this rank's
// outcome): this rank's own error, an error naming the phase when another rank failed, or nil.
// It also works as a barrier.
func (d *Dist) agree(err error, phase string) error {
	if d.World() == 1 {
		return err
	}
	failed := 0.0
	if err != nil {
		failed = 1
	}
	any, rerr := d.Max([]float64{failed})
	switch {
	case err != nil:
		return err
	case rerr != nil:
		return fmt.Errorf("%s: %w", phase, rerr)
	case any[0] > 0:
		return fmt.Errorf("%s: another rank failed (see its log)", phase)
	}
	return nil
}

// Barrier waits for every rank.
func (d *Dist) Barrier() error {
	if d.World() == 1 {
		return nil
	}
	ctx, cancel := d.ctx()
	defer cancel()
	return d.Comm.Barrier(ctx)
}

// Checksum is a CRC-32 of the bytes of a float32 vector.
func Checksum(x []float32) uint32 {
	if len(x) == 0 {
		return 0
	}
	return crc32.ChecksumIEEE(unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x)))
}

// CheckSame fails when the ranks' checksums differ. The checksum travels as two 16-bit halves,
// which float32 carries exactly; every rank compares the maximum with the minimum.
func (d *Dist) CheckSame(sum uint32, step int) error {
	if d.World() == 1 {
		return nil
	}
	hi, lo := float64(sum>>16), float64(sum&0xffff)
	mx, err := d.Max([]float64{hi, lo, -hi, -lo})
	if err != nil {
		return err
	}
	if mx[0] != -mx[2] || mx[1] != -mx[3] {
		return fmt.Errorf("step %d: the ranks' weights diverged (checksums differ); this is a bug or a failing machine, not something to ignore", step)
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
