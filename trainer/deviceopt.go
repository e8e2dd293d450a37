package trainer

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// deviceOptimizer keeps AdamW's moments and the fused gradient buffer as float32 tensors on the
// model's device, next to the parameters, and updates the parameters in place with libtorch ops.
// Between checkpoints nothing of the training state crosses to the host: only the gradient norm
// (one float64, for the clip and the log) does, and with several ranks but no device communicator
// the gradients visit host memory for the CPU ring. The arithmetic is the host update's, op for op
// and with the same float32 constants, so that both give the same weights.
type deviceOptimizer struct {
	flat *Flat
	dist *Dist
	adam *AdamW     // hyper-parameters and update count (its M and V stay nil)
	m, v *ts.Tensor // [N] first and second moments, float32 on the device
	// master [N] holds the float32 master values of a mixed-precision run on the device (nil when
	// the parameters are float32): the update runs on it and the parameters get its rounding.
	master *ts.Tensor
	grads  *deviceGrads // [N] the fused gradient buffer
	device gotch.Device
	dev    *raw.Arena // temporaries of a step, on the model's device
	cpu    *raw.Arena // host-side tensors of copies in and out
	host   []float32  // [N] staging buffer for the CPU ring, made on first use
	// hostTrips counts the steps whose gradients went through host memory (several ranks without
	// a device communicator); with one rank or NCCL it stays 0.
	hostTrips int
}

func newDeviceOptimizer(flat *Flat, d *Dist, dev gotch.Device, adam *AdamW) (*deviceOptimizer, error) {
	o := &deviceOptimizer{flat: flat, dist: d, adam: adam, device: dev, dev: raw.New(int32(dev.CInt())), cpu: raw.New(-1)}
	var err error
	if o.grads, err = newDeviceGrads(flat.N, dev); err != nil {
		return nil, err
	}
	state := []**ts.Tensor{&o.m, &o.v}
	if flat.Mixed() {
		state = append(state, &o.master)
	}
	for _, x := range state {
		if *x, err = ts.Zeros([]int64{int64(flat.N)}, gotch.Float, dev); err != nil {
			o.close()
			return nil, fmt.Errorf("optimizer state of %d values on %v: %w", flat.N, dev, err)
		}
	}
	if o.master != nil {
		values := make([]float32, flat.N)
		if err := flat.ReadParams(values); err == nil {
			err = o.copyIn(o.master, values)
		}
		if err != nil {
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
	if err := o.average(); err != nil {
		return 0, err
	}
	a := o.dev
	g, m, v := raw.Handle(o.grads.buf), raw.Handle(o.m), raw.Handle(o.v)
	norm := math.Sqrt(a.SumSquares64(g))
	if err := a.Free(); err != nil {
		return 0, fmt.Errorf("gradient norm: %w", err)
	}
	if !finite(norm) {
		return norm, errNonFinite
	}
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)
	if clip > 0 && norm > clip {
		a.MulScalar_(g, float64(float32(clip/(norm+1e-6))))
	}
	o.adam.Step++
	b1, b2 := float32(o.adam.Beta1), float32(o.adam.Beta2)
	c1 := 1 - math.Pow(o.adam.Beta1, float64(o.adam.Step))
	c2 := 1 - math.Pow(o.adam.Beta2, float64(o.adam.Step))
	rc2, eps, stepSize := float32(1/math.Sqrt(c2)), float32(o.adam.Eps), float32(lr/c1)

	// m = b1*m + (1-b1)*g
	t := a.MulScalar(g, float64(1-b1))
	a.MulScalar_(m, float64(b1))
	a.Add_(m, t)
	// v = b2*v + ((1-b2)*g)*g
	t = a.MulScalar(g, float64(1-b2))
	a.Mul_(t, g)
	a.MulScalar_(v, float64(b2))
	a.Add_(v, t)
	// u = (stepSize*m) / (sqrt(v)*rc2 + eps)
	den := a.Sqrt(v)
	a.MulScalar_(den, float64(rc2))
	a.AddScalar_(den, float64(eps))
	u := a.MulScalar(m, float64(stepSize))
	a.Div_(u, den)
	// p = p*(1 - lr*wd) - u, decay on the segments that take it; on the masters when the run
	// is mixed, the parameters then getting their rounding
	wd := float64(float32(1 - lr*o.adam.WeightDecay))
	for i, p := range o.flat.Params {
		sg := o.flat.Segments[i]
		h := raw.Handle(p.Tensor)
		x := h
		if o.master != nil {
			x = a.View(a.Narrow(raw.Handle(o.master), 0, int64(sg.Lo), int64(sg.Hi-sg.Lo)), p.Shape...)
		}
		if sg.Decay {
			a.MulScalar_(x, wd)
		}
		a.Sub_(x, a.View(a.Narrow(u, 0, int64(sg.Lo), int64(sg.Hi-sg.Lo)), p.Shape...))
		if o.master != nil {
			a.Copy_(h, x)
		}
	}
	if err := a.Free(); err != nil {
		return 0, fmt.Errorf("adamw update on the device: %w", err)
	}
	return norm, nil
}

// average makes the gradient buffer the mean over ranks: in place on the device with a device
// communicator (NCCL), else through host memory and the CPU ring.
func (o *deviceOptimizer) average() error {
	if o.dist.Grads != nil {
		return o.grads.allReduce(o.dist.Grads, o.dist)
	}
	if o.dist.World() == 1 {
		return nil
	}
	if o.host == nil {
		o.host = make([]float32, o.flat.N)
	}
	o.hostTrips++
	if err := o.copyOut(o.grads.buf, o.host); err != nil {
		return err
	}
	if err := o.dist.AverageGrads(o.host); err != nil {
		return err
	}
	return o.copyIn(o.grads.buf, o.host)
}

// copyOut copies the device vector x into dst.
func (o *deviceOptimizer) copyOut(x *ts.Tensor, dst []float32) error {
	o.cpu.CopyToFloat32(raw.Handle(x), dst)
	return o.cpu.Free()
}

// copyIn copies src into the device vector x.
func (o *deviceOptimizer) copyIn(x *ts.Tensor, src []float32) error {
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)
	o.cpu.Copy_(raw.Handle(x), o.cpu.FromFloat32(src, int64(len(src))))
	return o.cpu.Free()
}

func (o *deviceOptimizer) updates() int { return o.adam.Step }

func (o *deviceOptimizer) String() string {
	where := "cpu"
	if o.device != gotch.CPU {
		where = fmt.Sprintf("cuda:%d", o.device.Value)
	}
	return fmt.Sprintf("AdamW state on %s; gradients through host memory in %d steps", where, o.hostTrips)
}

func (o *deviceOptimizer) state() (*AdamW, error) {
	s := *o.adam
	s.M, s.V = make([]float32, o.flat.N), make([]float32, o.flat.N)
	if err := o.copyOut(o.m, s.M); err != nil {
		return nil, fmt.Errorf("optimizer state to the host: %w", err)
	}
	if err := o.copyOut(o.v, s.V); err != nil {
		return nil, fmt.Errorf("optimizer state to the host: %w", err)
	}
	if o.master != nil {
		s.Master = make([]float32, o.flat.N)
		if err := o.copyOut(o.master, s.Master); err != nil {
			return nil, fmt.Errorf("master values to the host: %w", err)
		}
	}
	return &s, nil
}

func (o *deviceOptimizer) load(a *AdamW) error {
	if len(a.M) != o.flat.N || len(a.V) != o.flat.N {
		return fmt.Errorf("optimizer state of %d/%d values for %d parameters", len(a.M), len(a.V), o.flat.N)
	}
	if err := o.copyIn(o.m, a.M); err != nil {
		return err
	}
	if err := o.copyIn(o.v, a.V); err != nil {
		return err
	}
	o.adam.Step = a.Step
	if a.Master == nil || o.master == nil {
		return nil // the parameters, read at the start, are the masters
	}
	if len(a.Master) != o.flat.N {
		return fmt.Errorf("master values of %d for %d parameters", len(a.Master), o.flat.N)
	}
	if err := o.copyIn(o.master, a.Master); err != nil {
		return err
	}
	return o.flat.WriteParams(a.Master)
}

// params copies the trainable values to dst: the masters of a mixed-precision run, else the
// parameters.
func (o *deviceOptimizer) params(dst []float32) error {
	if o.master != nil {
		return o.copyOut(o.master, dst)
	}
	return o.flat.ReadParams(dst)
}

// syncFromRank0 sends rank 0's parameters and state to the other ranks through the host (once,
// before the first step).
func (o *deviceOptimizer) syncFromRank0() error {
	if o.dist.World() == 1 {
		return nil
	}
	values := make([]float32, o.flat.N)
	if err := o.params(values); err != nil {
		return err
	}
	st, err := o.state()
	if err != nil {
		return err
	}
	step := []float32{float32(st.Step)}
	for _, x := range [][]float32{values, st.M, st.V, step} {
		if err := o.dist.Broadcast(x); err != nil {
			return err
		}
	}
	st.Step = int(step[0])
	if o.master != nil {
		st.Master = values
	}
	if err := o.load(st); err != nil {
		return err
	}
	return o.flat.WriteParams(values)
}

func (o *deviceOptimizer) close() {
	o.grads.close()
	for _, x := range []**ts.Tensor{&o.m, &o.v, &o.master} {
		if *x != nil {
			(*x).MustDrop()
			*x = nil
		}
	}
}
