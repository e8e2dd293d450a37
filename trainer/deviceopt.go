package trainer

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// updateChunk bounds the optimizer's temporaries on the device: the update and the norm run over
// pieces of at most this many values (64 MiB of float32), never over the whole vector at once.
const updateChunk = 1 << 24

// deviceOptimizer keeps AdamW's moments and the fused gradient buffer as float32 tensors on the
// model's device, next to the parameters, and updates the parameters in place with libtorch ops.
// Between checkpoints nothing of the training state crosses to the host: only the partial sums of
// the gradient norm (float64s, for the clip and the log) do, and with several ranks but no device
// communicator the gradients visit host memory for the CPU ring. The arithmetic is the host
// update's, op for op and with the same float32 constants, so that both give the same weights.
//
// Sharded (ZeRO-1), the moments and a float32 master copy cover this rank's block only: the
// gradients are reduce-scattered, the block updated, and the updated values all-gathered into the
// gradient buffer (free once the update has read it) and copied into the parameters.
type deviceOptimizer struct {
	flat *Flat
	dist *Dist
	lay  layout
	adam *AdamW     // hyper-parameters and update count (its M and V stay nil)
	m, v *ts.Tensor // [hi-lo] first and second moments of the owned values, float32 on the device
	// master [hi-lo] holds float32 master values on the device: those of a mixed-precision run,
	// and a sharded rank's block always (nil when replicated float32 parameters are their own
	// masters). The update runs on it and the parameters get its rounding.
	master *ts.Tensor
	grads  *deviceGrads // [W*K] the fused gradient buffer
	device gotch.Device
	dev    *raw.Arena // temporaries of a step, on the model's device
	cpu    *raw.Arena // host-side tensors of copies in and out
	host   []float32  // [W*K] staging buffer for the CPU ring, made on first use
	chunk  int        // updateChunk (tests make it small)
	// hostTrips counts the steps whose gradients went through host memory (several ranks without
	// a device communicator); with one rank or NCCL it stays 0.
	hostTrips int
}

func newDeviceOptimizer(flat *Flat, d *Dist, dev gotch.Device, adam *AdamW) (*deviceOptimizer, error) {
	lay := newLayout(flat.N, d.Rank(), d.World(), d.Shard)
	o := &deviceOptimizer{flat: flat, dist: d, lay: lay, adam: adam, device: dev, chunk: updateChunk,
		dev: raw.New(int32(dev.CInt())), cpu: raw.New(-1)}
	var err error
	if o.grads, err = newDeviceGrads(lay.padded(), dev); err != nil {
		return nil, err
	}
	lo, hi := lay.owned()
	state := []**ts.Tensor{&o.m, &o.v}
	if flat.Mixed() || lay.sharded {
		state = append(state, &o.master)
	}
	for _, x := range state {
		if *x, err = ts.Zeros([]int64{int64(hi - lo)}, gotch.Float, dev); err != nil {
			o.close()
			return nil, fmt.Errorf("optimizer state of %d values on %v: %w", hi-lo, dev, err)
		}
	}
	if o.master != nil {
		if err := o.readMasters(); err != nil {
			o.close()
			return nil, fmt.Errorf("master values: %w", err)
		}
	}
	return o, nil
}

func (o *deviceOptimizer) step(lr, clip float64) (float64, error) {
	if err := o.grads.pack(o.flat); err != nil {
		return 0, err
	}
	if err := o.reduce(); err != nil {
		return 0, err
	}
	norm, err := o.lay.gradNorm(o.dist, o.blockSquares)
	if err != nil {
		return 0, err
	}
	if !finite(norm) {
		return norm, errNonFinite
	}
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)
	o.adam.Step++
	k := adamConstants(o.adam, lr, clipScale(norm, clip))
	for _, pc := range o.pieces() {
		o.updatePiece(pc, k)
		if err := o.dev.Free(); err != nil {
			return 0, fmt.Errorf("adamw update on the device: %w", err)
		}
	}
	if o.lay.sharded {
		if err := o.gatherValues(); err != nil {
			return 0, err
		}
	}
	return norm, nil
}

// blockSquares is the float64 sum of squares of block r of the gradient buffer, summed chunk by
// chunk so that the float64 copy is bounded by a chunk.
func (o *deviceOptimizer) blockSquares(r int) (float64, error) {
	lo, hi := o.lay.blockRange(r)
	g := raw.Handle(o.grads.buf)
	var ss float64
	for c := lo; c < hi; c += o.chunk {
		ss += o.dev.SumSquares64(o.dev.Narrow(g, 0, int64(c), int64(min(o.chunk, hi-c))))
		if err := o.dev.Free(); err != nil {
			return 0, fmt.Errorf("gradient norm: %w", err)
		}
	}
	return ss, nil
}

// adamStep holds the float32 constants of one update, as the host update computes them.
type adamStep struct {
	b1, b2, rc2, eps, stepSize, clip float32
	lr, weightDecay                  float64
}

func adamConstants(a *AdamW, lr float64, clip float32) adamStep {
	c1 := 1 - math.Pow(a.Beta1, float64(a.Step))
	c2 := 1 - math.Pow(a.Beta2, float64(a.Step))
	return adamStep{b1: float32(a.Beta1), b2: float32(a.Beta2), rc2: float32(1 / math.Sqrt(c2)), eps: float32(a.Eps),
		stepSize: float32(lr / c1), clip: clip, lr: lr, weightDecay: a.WeightDecay}
}

// piece is a run [lo, hi) of the flat vector inside one parameter and one chunk of the owned
// values: the unit the update works on.
type piece struct {
	param  int
	lo, hi int
	decay  bool
}

// pieces cuts the owned values at parameter boundaries and every chunk values.
func (o *deviceOptimizer) pieces() []piece {
	lo, hi := o.lay.owned()
	var out []piece
	for i, sg := range o.flat.Segments {
		a, b := max(sg.Lo, lo), min(sg.Hi, hi)
		for c := a; c < b; c += o.chunk {
			out = append(out, piece{param: i, lo: c, hi: min(c+o.chunk, b), decay: sg.Decay})
		}
	}
	return out
}

// updatePiece applies the AdamW update to one piece, in the temporaries arena o.dev.
func (o *deviceOptimizer) updatePiece(pc piece, k adamStep) {
	a := o.dev
	n := int64(pc.hi - pc.lo)
	own, _ := o.lay.owned()
	g := a.Narrow(raw.Handle(o.grads.buf), 0, int64(pc.lo), n)
	m := a.Narrow(raw.Handle(o.m), 0, int64(pc.lo-own), n)
	v := a.Narrow(raw.Handle(o.v), 0, int64(pc.lo-own), n)
	if k.clip != 1 {
		a.MulScalar_(g, float64(k.clip))
	}
	// m = b1*m + (1-b1)*g
	t := a.MulScalar(g, float64(1-k.b1))
	a.MulScalar_(m, float64(k.b1))
	a.Add_(m, t)
	// v = b2*v + ((1-b2)*g)*g
	t = a.MulScalar(g, float64(1-k.b2))
	a.Mul_(t, g)
	a.MulScalar_(v, float64(k.b2))
	a.Add_(v, t)
	// u = (stepSize*m) / (sqrt(v)*rc2 + eps)
	den := a.Sqrt(v)
	a.MulScalar_(den, float64(k.rc2))
	a.AddScalar_(den, float64(k.eps))
	u := a.MulScalar(m, float64(k.stepSize))
	a.Div_(u, den)
	// x = x*(1 - lr*wd) - u on the masters, or on the parameter itself when it is its own master;
	// a replicated mixed run's parameter then gets the rounding (a sharded one after the gather)
	p := raw.Handle(o.flat.Params[pc.param].Tensor)
	inParam := a.Narrow(a.View(p, -1), 0, int64(pc.lo-o.flat.Offset[pc.param]), n)
	x := inParam
	if o.master != nil {
		x = a.Narrow(raw.Handle(o.master), 0, int64(pc.lo-own), n)
	}
	if pc.decay {
		a.MulScalar_(x, float64(float32(1-k.lr*k.weightDecay)))
	}
	a.Sub_(x, u)
	if o.master != nil && !o.lay.sharded {
		a.Copy_(inParam, x)
	}
}

// reduce makes the gradient buffer the mean over ranks (this rank's block of it when sharded): in
// place on the device with a device communicator (NCCL), else through host memory and the CPU
// ring.
func (o *deviceOptimizer) reduce() error {
	if c := o.dist.Grads; c != nil {
		if o.lay.sharded {
			return o.grads.reduceScatter(c, o.dist)
		}
		return o.grads.allReduce(c, o.dist)
	}
	if o.dist.World() == 1 {
		return nil
	}
	if o.host == nil {
		o.host = make([]float32, o.lay.padded())
	}
	o.hostTrips++
	if err := o.copyOut(o.grads.buf, o.host); err != nil {
		return err
	}
	if !o.lay.sharded {
		if err := o.dist.AverageGrads(o.host); err != nil {
			return err
		}
		return o.copyIn(o.grads.buf, 0, o.host)
	}
	if err := o.dist.reduceScatter(o.host); err != nil {
		return err
	}
	lo, hi := o.lay.blockRange(o.lay.rank)
	return o.copyIn(o.grads.buf, lo, o.host[lo:hi])
}

// gatherValues gives every rank every block's updated values: this rank's masters go into its
// block of the gradient buffer, the buffer is all-gathered and copied into the parameters.
func (o *deviceOptimizer) gatherValues() error {
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)
	lo, hi := o.lay.owned()
	a := o.dev
	a.Copy_(a.Narrow(raw.Handle(o.grads.buf), 0, int64(lo), int64(hi-lo)), raw.Handle(o.master))
	if err := a.Free(); err != nil {
		return fmt.Errorf("gathering the updated values: %w", err)
	}
	switch {
	case o.dist.Grads != nil:
		if err := o.grads.allGather(o.dist.Grads, o.dist); err != nil {
			return err
		}
	case o.dist.World() > 1:
		if o.host == nil {
			o.host = make([]float32, o.lay.padded())
		}
		if err := o.copyOut(o.grads.buf, o.host); err != nil {
			return err
		}
		if err := o.dist.allGatherBlocks(o.host); err != nil {
			return err
		}
		if err := o.copyIn(o.grads.buf, 0, o.host); err != nil {
			return err
		}
	}
	return o.unpack()
}

// unpack copies the first N values of the gradient buffer, which holds values after a gather,
// into the parameters (rounded to their dtype); the next pack overwrites the buffer.
func (o *deviceOptimizer) unpack() error {
	a := o.dev
	buf := raw.Handle(o.grads.buf)
	for i, p := range o.flat.Params {
		lo, hi := o.flat.Offset[i], o.flat.Offset[i+1]
		a.Copy_(raw.Handle(p.Tensor), a.View(a.Narrow(buf, 0, int64(lo), int64(hi-lo)), p.Shape...))
		if err := a.Free(); err != nil {
			return fmt.Errorf("writing parameter %s: %w", p.Name, err)
		}
	}
	return nil
}

func (o *deviceOptimizer) updates() int { return o.adam.Step }

func (o *deviceOptimizer) layout() layout { return o.lay }

func (o *deviceOptimizer) String() string {
	where := "cpu"
	if o.device != gotch.CPU {
		where = fmt.Sprintf("cuda:%d", o.device.Value)
	}
	shard := ""
	if o.lay.sharded {
		shard = fmt.Sprintf(", sharded over %d ranks", o.lay.world)
	}
	return fmt.Sprintf("AdamW state on %s%s; gradients through host memory in %d steps", where, shard, o.hostTrips)
}
