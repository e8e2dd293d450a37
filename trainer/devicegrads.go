package trainer

import (
	"fmt"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/collective"
)

// deviceGrads is the fused gradient buffer kept where the model lives (the GPU under NCCL): the
// gradients are copied into it and all-reduced in place by a communicator of device buffers. The
// device optimizer updates from it where it is; the host optimizer copies the reduced vector out.
type deviceGrads struct {
	buf *ts.Tensor // [N] float32 on the model's device
}

func newDeviceGrads(n int, dev gotch.Device) (*deviceGrads, error) {
	buf, err := ts.Zeros([]int64{int64(n)}, gotch.Float, dev)
	if err != nil {
		return nil, fmt.Errorf("fused gradient buffer of %d values: %w", n, err)
	}
	return &deviceGrads{buf: buf}, nil
}

// pack copies the model's gradients into the buffer and zeroes them in the model; a parameter
// without a gradient contributes zeros.
func (g *deviceGrads) pack(f *Flat) error {
	for i, p := range f.Params {
		n := int64(f.Offset[i+1] - f.Offset[i])
		var grad, flat, seg, z lib.Ctensor
		lib.AtgGrad(&grad, lib.Ctensor(p.Tensor.Ctensor()))
		if err := ts.TorchErr(); err != nil {
			return fmt.Errorf("gradient of %s: %w", p.Name, err)
		}
		lib.AtgNarrow(&seg, lib.Ctensor(g.buf.Ctensor()), 0, int64(f.Offset[i]), n)
		if lib.AtDefined(grad) {
			lib.AtgReshape(&flat, grad, []int64{n}, 1)
			lib.AtCopy_(seg, flat)
			lib.AtgZero_(&z, grad)
		} else {
			lib.AtgZero_(&z, seg)
		}
		err := ts.TorchErr()
		for _, h := range []lib.Ctensor{grad, flat, seg, z} {
			if h != nil {
				lib.AtFree(h)
			}
		}
		if err != nil {
			return fmt.Errorf("packing the gradient of %s: %w", p.Name, err)
		}
	}
	return nil
}

// allReduce averages the buffer over the ranks of comm, a communicator of device buffers, in
// place. A communicator of one rank (NCCL forced on a single GPU) still runs the collective.
func (g *deviceGrads) allReduce(comm collective.Communicator, d *Dist) error {
	ctx, cancel := d.ctx()
	defer cancel()
	if err := gradAllReduce(ctx, comm, g.device(), d.GradWire); err != nil {
		return fmt.Errorf("all-reduce of the fused gradient buffer: %w", err)
	}
	return nil
}

// reduceScatter leaves this rank's block of the mean over the ranks of comm in place (the buffer's
// length is a multiple of the world size).
func (g *deviceGrads) reduceScatter(comm collective.Communicator, d *Dist) error {
	ctx, cancel := d.ctx()
	defer cancel()
	if err := gradReduceScatter(ctx, comm, g.device(), d.GradWire); err != nil {
		return fmt.Errorf("reduce-scatter of the fused gradient buffer: %w", err)
	}
	return nil
}

// allGather fills every block of the buffer with its owner's, around this rank's own block.
func (g *deviceGrads) allGather(comm collective.Communicator, d *Dist) error {
	ctx, cancel := d.ctx()
	defer cancel()
	all := g.device()
	k := all.Count / comm.Size()
	own := collective.Device{Ptr: all.Ptr + uintptr(4*k*comm.Rank()), Count: k}
	if err := comm.AllGather(ctx, own, all); err != nil {
		return fmt.Errorf("all-gather of the updated values: %w", err)
	}
	return nil
}

// device is the buffer as a collective.Device.
func (g *deviceGrads) device() collective.Device {
	return collective.Device{Ptr: uintptr(lib.AtDataPtr(lib.Ctensor(g.buf.Ctensor()))), Count: int(g.buf.Numel())}
}

func (g *deviceGrads) close() {
	if g != nil && g.buf != nil {
		g.buf.MustDrop()
		g.buf = nil
	}
}
