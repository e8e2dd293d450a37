package raw

import (
	lib "github.com/sugarme/gotch/libtch"
)

// The few autograd calls a backward run by hand needs (activation checkpointing's recompute
// pass): the grad mode, a backward from a scalar and a second handle to a tensor.

// GradEnabled reports whether libtorch's grad mode (thread-local) is on.
func GradEnabled() bool {
	on := SetGradEnabled(true)
	SetGradEnabled(on)
	return on
}

// Backward back-propagates from the scalar x: the gradients accumulate into the .grad of every
// leaf that requires grad, and x's graph is freed.
func (a *Arena) Backward(x Tensor) {
	if !a.ok() {
		return
	}
	lib.AtBackward(x, 0, 0)
	a.check("backward")
}

// Share returns a second handle to x (same data, same autograd history), owned by the arena: a
// tensor another arena made can then outlive that arena's Free.
func (a *Arena) Share(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	return a.record(lib.AtShallowClone(x), "shallow_clone")
}
