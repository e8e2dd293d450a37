package trainer

import (
	"errors"
	"fmt"
	"hash/crc32"
	"unsafe"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/collective"
)

// learner is the update half of a training step, shared by SFT and GRPO: after backward, the
// gradients of the trainable parameters are averaged over ranks, clipped by their global norm and
// applied by AdamW (weight decay on matrices, warmup and decay from the schedule).
type learner struct {
	model Policy
	flat  *Flat
	opt   optimizer
	sched Schedule
	clip  float64
	dist  *Dist
}

// optimizer is AdamW over the flat trainable vector, with its state kept where it is cheapest:
// hostOptimizer in Go slices (CPU runs), deviceOptimizer in libtorch tensors on the model's device
// (CUDA runs: parameters, gradients and moments never leave the GPU between checkpoints). Both take
// the gradients out of the model (zeroing them there) and update its parameters in place, and both
// give the same numbers; the checkpoint format is theirs in common, so either resumes the other.
type optimizer interface {
	// step averages the gradients over ranks, clips them to global norm clip (0: no clip) and
	// applies one update with learning rate lr. It returns the norm before clipping; a NaN or Inf
	// norm leaves the parameters and state untouched and returns errNonFinite.
	step(lr, clip float64) (gradNorm float64, err error)
	// updates returns the number of updates applied so far.
	updates() int
	// layout says which values this rank's state covers (all, or its block when sharded).
	layout() layout
	// state returns a host copy of the moments (and masters) of the owned values and the update
	// count (for checkpoints).
	state() (*AdamW, error)
	// load restores the owned values' moments (and masters) and the update count.
	load(*AdamW) error
	// params copies the trainable values [lo, lo+len(dst)) into dst, for checksums.
	params(lo int, dst []float32) error
	// syncFromRank0 gives every rank rank 0's parameters and state.
	syncFromRank0() error
	close()
	// String says where the state lives, for the run's log.
	String() string
}

var errNonFinite = errors.New("non-finite gradient norm")

// optimizerOnDevice says where the optimizer state lives: on the model's device unless that is the
// CPU; where ("host" or "device", Dist.Optimizer) overrides.
func optimizerOnDevice(dev gotch.Device, where string) (bool, error) {
	switch where {
	case "", "auto":
		return dev != gotch.CPU, nil
	case "device":
		return true, nil
	case "host":
		return false, nil
	default:
		return false, fmt.Errorf("--optimizer %q: want auto, host or device", where)
	}
}

func newLearner(m Policy, d *Dist, sched Schedule, clip, weightDecay float64) (*learner, error) {
	flat := NewFlat(m.TrainableParams(), m.Device())
	if flat.N == 0 {
		return nil, fmt.Errorf("nothing to train: every parameter group is frozen")
	}
	if d.GradWire != collective.WireFloat32 && d.World() > 1 {
		c := d.Comm
		if d.Grads != nil {
			c = d.Grads
		}
		if _, ok := c.(collective.WireReducer); !ok {
			return nil, errNoWire(c)
		}
	}
	onDevice, err := optimizerOnDevice(m.Device(), d.Optimizer)
	if err != nil {
		return nil, err
	}
	adam := NewAdamW(0, 0.9, 0.999, 1e-8, weightDecay)
	var opt optimizer
	if onDevice {
		opt, err = newDeviceOptimizer(flat, d, m.Device(), adam)
	} else {
		opt, err = newHostOptimizer(flat, d, m.Device(), adam)
	}
	if err != nil {
		return nil, err
	}
	return &learner{model: m, flat: flat, opt: opt, sched: sched, clip: clip, dist: d}, nil
}

// syncFromRank0 makes every rank start from rank 0's parameters and optimizer state (fresh
// initial weights, or the checkpoint rank 0 loaded).
func (l *learner) syncFromRank0() error { return l.opt.syncFromRank0() }

// update runs after backward: it returns the gradient norm before clipping and the learning
// rate used. A NaN or Inf gradient norm leaves the weights untouched and returns an error.
func (l *learner) update(step int) (gradNorm, lr float64, err error) {
	lr = l.sched.At(l.opt.updates() + 1)
	gradNorm, err = l.opt.step(lr, l.clip)
	if errors.Is(err, errNonFinite) {
		return gradNorm, 0, fmt.Errorf("step %d: gradient norm is %v; stopping with the weights of the last good step", step, gradNorm)
	}
	return gradNorm, lr, err
}

// checksum is the CRC-32 of the trainable values, read in pieces of checksumChunk values so that
// the host copy stays small whatever the model's size.
func (l *learner) checksum() (uint32, error) { return l.checksumBy(checksumChunk) }

// checksumBy is checksum reading chunk values at a time.
func (l *learner) checksumBy(chunk int) (uint32, error) {
	x := make([]float32, min(chunk, l.flat.N))
	var sum uint32
	for lo := 0; lo < l.flat.N; lo += len(x) {
		part := x[:min(len(x), l.flat.N-lo)]
		if err := l.opt.params(lo, part); err != nil {
			return 0, err
		}
		sum = crc32.Update(sum, crc32.IEEETable, unsafe.Slice((*byte)(unsafe.Pointer(&part[0])), 4*len(part)))
	}
	return sum, nil
}

// checksumChunk is how many values the checksum reads at a time.
const checksumChunk = 1 << 22

// state returns the optimizer's moments and update count, for a checkpoint.
func (l *learner) state() (*AdamW, error) { return l.opt.state() }

// restore loads a checkpoint's optimizer state (moments and step) into the learner.
func (l *learner) restore(opt *AdamW) error { return l.opt.load(opt) }

// close frees what the optimizer holds outside the Go heap.
func (l *learner) close() { l.opt.close() }
