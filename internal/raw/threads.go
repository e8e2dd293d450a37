package raw

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>

// raw_blas_threads calls openblas_set_num_threads(n) when the process's BLAS is OpenBLAS and
// reports whether it did.
static int raw_blas_threads(int n) {
	void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
	if (!set) return 0;
	set(n);
	return 1;
}
*/
import "C"

import lib "github.com/sugarme/gotch/libtch"

// SetThreads sets the number of threads libtorch uses inside one operation, and OpenBLAS's
// own thread pool when the BLAS libtorch loaded is OpenBLAS (its pthread build otherwise runs
// large matrix products on every core whatever libtorch's setting). It reports whether
// OpenBLAS was found. Small models run fastest with one thread per process.
func SetThreads(n int) (openBLAS bool) {
	lib.AtSetNumThreads(n)
	_ = lastErr("set_num_threads")
	return C.raw_blas_threads(C.int(n)) == 1
}
