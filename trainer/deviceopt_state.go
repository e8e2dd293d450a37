package trainer

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// The device optimizer's state crossing to and from the host: checkpoints, resumes, the start of
// a run, and checksums.

// readMasters fills the master tensor from the parameters' owned values, piece by piece on the
// device.
func (o *deviceOptimizer) readMasters() error {
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)
	own, _ := o.lay.owned()
	a := o.dev
	for _, pc := range o.pieces() {
		n := int64(pc.hi - pc.lo)
		p := a.Narrow(a.View(raw.Handle(o.flat.Params[pc.param].Tensor), -1), 0, int64(pc.lo-o.flat.Offset[pc.param]), n)
		a.Copy_(a.Narrow(raw.Handle(o.master), 0, int64(pc.lo-own), n), p)
		if err := a.Free(); err != nil {
			return err
		}
	}
	return nil
}

// copyOut copies the device vector x into dst.
func (o *deviceOptimizer) copyOut(x *ts.Tensor, dst []float32) error {
	o.cpu.CopyToFloat32(raw.Handle(x), dst)
	return o.cpu.Free()
}

// copyIn copies src into the device vector x from element at on.
func (o *deviceOptimizer) copyIn(x *ts.Tensor, at int, src []float32) error {
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)
	dst := raw.Handle(x)
	if at != 0 || int(x.Numel()) != len(src) {
		dst = o.cpu.Narrow(dst, 0, int64(at), int64(len(src)))
	}
	o.cpu.Copy_(dst, o.cpu.FromFloat32(src, int64(len(src))))
	return o.cpu.Free()
}

func (o *deviceOptimizer) state() (*AdamW, error) {
	s := *o.adam
	lo, hi := o.lay.owned()
	s.M, s.V = make([]float32, hi-lo), make([]float32, hi-lo)
	if err := o.copyOut(o.m, s.M); err != nil {
		return nil, fmt.Errorf("optimizer state to the host: %w", err)
	}
	if err := o.copyOut(o.v, s.V); err != nil {
		return nil, fmt.Errorf("optimizer state to the host: %w", err)
	}
	if o.master != nil && o.flat.Mixed() {
		s.Master = make([]float32, hi-lo)
		if err := o.copyOut(o.master, s.Master); err != nil {
			return nil, fmt.Errorf("master values to the host: %w", err)
		}
	}
	return &s, nil
}

func (o *deviceOptimizer) load(a *AdamW) error {
	lo, hi := o.lay.owned()
	if len(a.M) != hi-lo || len(a.V) != hi-lo {
		return fmt.Errorf("optimizer state of %d/%d values for the %d parameters [%d, %d)", len(a.M), len(a.V), hi-lo, lo, hi)
	}
	if err := o.copyIn(o.m, 0, a.M); err != nil {
		return err
	}
	if err := o.copyIn(o.v, 0, a.V); err != nil {
		return err
	}
	o.adam.Step = a.Step
	if a.Master == nil || o.master == nil {
		return nil // the parameters, read at the start, are the masters
	}
	if len(a.Master) != hi-lo {
		return fmt.Errorf("master values of %d for the %d parameters [%d, %d)", len(a.Master), hi-lo, lo, hi)
	}
	if err := o.copyIn(o.master, 0, a.Master); err != nil {
		return err
	}
	if o.lay.sharded {
		return nil // syncFromRank0 gathers the blocks into the parameters
	}
	return o.flat.WriteParams(a.Master)
}

// params copies the trainable values to dst: the masters of a replicated mixed-precision run,
// else the parameters (a sharded rank holds the masters of its block only; the parameters are
// their rounding, the same on every rank).
func (o *deviceOptimizer) params(lo int, dst []float32) error {
	if o.master != nil && !o.lay.sharded {
		o.cpu.CopyToFloat32(o.cpu.Narrow(raw.Handle(o.master), 0, int64(lo), int64(len(dst))), dst)
		return o.cpu.Free()
	}
	return o.flat.ReadRange(lo, dst)
}

// syncFromRank0 makes every rank start from the same values and update count. Replicated, rank
// 0's parameters and state go through the host to all (once, before the first step). Sharded,
// each rank's block of masters is all-gathered into the parameters and the moments stay with
// their owners.
func (o *deviceOptimizer) syncFromRank0() error {
	if o.dist.World() == 1 {
		return nil
	}
	if o.lay.sharded {
		step := []float32{float32(o.adam.Step)}
		if err := o.dist.Broadcast(step); err != nil {
			return err
		}
		o.adam.Step = int(step[0])
		return o.gatherValues()
	}
	values := make([]float32, o.flat.N)
	if err := o.params(0, values); err != nil {
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
