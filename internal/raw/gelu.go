package raw

// gotch's Go binding of gelu allocates its "approximate" argument with C.CString on every call
// and never frees it; this calls libtch's C function with a static string instead.

/*
#include <stdlib.h>
void atg_gelu(void **out__, void *self, char *approximate_ptr, int approximate_len);
static char raw_gelu_none[] = "none";
static void raw_gelu(void **out, void *x) { atg_gelu(out, x, raw_gelu_none, 4); }
*/
import "C"

import "unsafe"

// Gelu returns GELU(x) (the exact, erf form).
func (a *Arena) Gelu(x Tensor) Tensor {
	if !a.ok() {
		return nil
	}
	C.raw_gelu((*unsafe.Pointer)(unsafe.Pointer(a.begin())), unsafe.Pointer(x))
	return a.take("gelu")
}
