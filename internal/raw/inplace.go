package raw

import (
	lib "github.com/sugarme/gotch/libtch"
)

// In-place operations update a tensor's memory (an optimizer's state, a parameter) without a
// new allocation. libtch returns a second handle to the updated tensor; the arena records and
// later frees that handle, which leaves the tensor itself alive with its other owners. Run them
// with grad mode off when x is a parameter.

// MulScalar_ sets x = x * s.
func (a *Arena) MulScalar_(x Tensor, s float64) {
	if !a.ok() {
		return
	}
	cs := lib.AtsFloat(s)
	lib.AtgMulScalar_(a.begin(), x, cs)
	lib.AtsFree(cs)
	a.take("mul_(scalar)")
}

// AddScalar_ sets x = x + s.
func (a *Arena) AddScalar_(x Tensor, s float64) {
	if !a.ok() {
		return
	}
	cs := lib.AtsFloat(s)
	lib.AtgAddScalar_(a.begin(), x, cs)
	lib.AtsFree(cs)
	a.take("add_(scalar)")
}

// Mul_ sets x = x * y.
func (a *Arena) Mul_(x, y Tensor) {
	if a.ok() {
		lib.AtgMul_(a.begin(), x, y)
		a.take("mul_")
	}
}

// Add_ sets x = x + y.
func (a *Arena) Add_(x, y Tensor) {
	if a.ok() {
		lib.AtgAdd_(a.begin(), x, y)
		a.take("add_")
	}
}

// Sub_ sets x = x - y.
func (a *Arena) Sub_(x, y Tensor) {
	if a.ok() {
		lib.AtgSub_(a.begin(), x, y)
		a.take("sub_")
	}
}

// Div_ sets x = x / y.
func (a *Arena) Div_(x, y Tensor) {
	if a.ok() {
		lib.AtgDiv_(a.begin(), x, y)
		a.take("div_")
	}
}

// Copy_ copies src into x (same number of elements; any devices).
func (a *Arena) Copy_(x, src Tensor) {
	if a.ok() {
		lib.AtCopy_(x, src)
		a.check("copy_")
	}
}

// Zero_ sets every element of x to zero.
func (a *Arena) Zero_(x Tensor) {
	if a.ok() {
		lib.AtgZero_(a.begin(), x)
		a.take("zero_")
	}
}

// Sqrt returns the element-wise square root of x.
func (a *Arena) Sqrt(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	lib.AtgSqrt(a.begin(), x)
	return a.take("sqrt")
}

// SumSquares64 returns the sum of the squares of x's elements, accumulated in float64 on x's
// device; only the result travels to the host.
func (a *Arena) SumSquares64(x Tensor) float64 {
	if !a.ok() {
		return 0
	}
	lib.AtgTotype(a.begin(), x, kindFloat64)
	d := a.take("to(float64)")
	if !a.ok() {
		return 0
	}
	lib.AtgDot(a.begin(), d, d)
	s := a.take("dot")
	if !a.ok() {
		return 0
	}
	v := lib.AtDoubleValueAtIndexes(s, nil, 0)
	a.check("item")
	return v
}
