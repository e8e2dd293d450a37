package raw

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/internal/procfs"
)

// lock pins the test goroutine to its OS thread (libtorch state is per thread).
func lock(t *testing.T) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

// TestArenaComputes checks a few operations against values computed by hand.
func TestArenaComputes(t *testing.T) {
	lock(t)
	a := New(-1)
	x := a.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	w := a.FromFloat32([]float32{1, 0, -1, 2, 1, 0}, 2, 3) // Linear weight [out=2, in=3]
	b := a.FromFloat32([]float32{0.5, -0.5}, 2)
	y := a.Linear(x, w, b) // [[1-3+.5, 2+2-.5], [4-6+.5, 8+5-.5]]
	got := make([]float32, 4)
	a.CopyToFloat32(y, got)
	want := []float32{-1.5, 3.5, -1.5, 12.5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("linear = %v, want %v", got, want)
		}
	}
	s := a.Softmax(a.FromFloat32([]float32{0, 0, 0, 0}, 4), -1)
	p := make([]float32, 4)
	a.CopyToFloat32(s, p)
	for _, v := range p {
		if v != 0.25 {
			t.Fatalf("softmax of zeros = %v", p)
		}
	}
	if sh := a.Shape(a.Transpose(x, 0, 1)); len(sh) != 2 || sh[0] != 3 || sh[1] != 2 {
		t.Fatalf("transpose shape %v", sh)
	}
	g := make([]float32, 3)
	a.CopyToFloat32(a.Gelu(a.FromFloat32([]float32{-10, 0, 10}, 3)), g)
	if g[0] > 0 || g[0] < -1e-6 || g[1] != 0 || g[2] != 10 {
		t.Fatalf("gelu(-10, 0, 10) = %v", g)
	}
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
	if a.Len() != 0 {
		t.Fatalf("arena owns %d handles after Free", a.Len())
	}
}

// TestArenaError: the first libtorch error is kept with the operation's name, later operations
// are skipped, Free returns the error, and the arena works again afterwards.
func TestArenaError(t *testing.T) {
	lock(t)
	a := New(-1)
	x := a.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	bad := a.Matmul(x, x) // [2,3] @ [2,3]
	if bad != nil {
		t.Fatal("invalid matmul returned a tensor")
	}
	n := a.Len()
	if y := a.Add(x, x); y != nil || a.Len() != n {
		t.Fatal("an operation ran after an error")
	}
	err := a.Free()
	if err == nil || !strings.Contains(err.Error(), "libtorch matmul") || !strings.Contains(err.Error(), "cannot be multiplied") {
		t.Fatalf("Free returned %v, want the matmul shape error", err)
	}
	if strings.Contains(err.Error(), "Exception raised from") {
		t.Fatalf("error keeps the C++ backtrace: %v", err)
	}
	y := a.Add(a.FromFloat32([]float32{1}, 1), a.FromFloat32([]float32{2}, 1))
	v := make([]float32, 1)
	a.CopyToFloat32(y, v)
	if err := a.Free(); err != nil || v[0] != 3 {
		t.Fatalf("after an error the arena gives %v, %v", v, err)
	}
	// Go-side checks go through the same path.
	a.FromFloat32([]float32{1, 2}, 3)
	if err := a.Free(); err == nil {
		t.Fatal("FromFloat32 with a wrong shape gave no error")
	}
}

// rss returns the resident set size of the process in bytes.
func rss(t *testing.T) int64 {
	b, err := procfs.SelfRSS()
	if err != nil {
		t.Skip(err)
	}
	return b
}

// TestArenaFreesMemory: Free releases the memory of every tensor the arena created (seen in
// the resident set), and Keep hands out a tensor that outlives the arena.
func TestArenaFreesMemory(t *testing.T) {
	lock(t)
	a := New(-1)
	const n = 8 << 20 // 8M floats = 32 MiB per tensor
	base := rss(t)
	var keep Tensor
	for i := range 4 {
		z := a.Zeros(n)
		y := a.AddScalar(z, float64(i)) // touches all pages
		keep = y
	}
	kept := a.Keep(keep)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	full := rss(t)
	if grew := full - base; grew < 100<<20 {
		t.Fatalf("8 tensors of 32 MiB grew RSS by only %d MiB", grew>>20)
	}
	created := a.Created()
	if created < 8 || a.Len() != created {
		t.Fatalf("arena created %d handles and owns %d", created, a.Len())
	}
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
	after := rss(t)
	// One 32 MiB tensor stays alive through Keep.
	if after-base > 48<<20 {
		t.Fatalf("RSS after Free is %d MiB above the start (was %d MiB above with all tensors)", (after-base)>>20, (full-base)>>20)
	}
	v := make([]float32, 2)
	b := New(-1)
	b.CopyToFloat32(b.Narrow(Handle(kept), 0, n-2, 2), v)
	if err := b.Free(); err != nil || v[0] != 3 || v[1] != 3 {
		t.Fatalf("kept tensor ends with %v (%v), want 3", v, err)
	}
	kept.MustDrop()
	if final := rss(t); final-base > 16<<20 {
		t.Fatalf("RSS %d MiB above the start after dropping the kept tensor", (final-base)>>20)
	}
}

// TestGradModeAndRequiresGrad: grad mode switches and reports the previous mode; requires-grad
// is set on a leaf.
func TestGradModeAndRequiresGrad(t *testing.T) {
	lock(t)
	if !SetGradEnabled(false) {
		t.Fatal("grad mode was off at the start")
	}
	if SetGradEnabled(true) {
		t.Fatal("SetGradEnabled(false) did not turn grad mode off")
	}
	a := New(-1)
	x := a.FromFloat32([]float32{1, 2}, 2)
	if RequiresGrad(x) {
		t.Fatal("new tensor requires grad")
	}
	if err := SetRequiresGrad(x, true); err != nil || !RequiresGrad(x) {
		t.Fatalf("SetRequiresGrad: %v", err)
	}
	loss := a.Sum(a.Mul(x, x))
	l := a.Keep(loss)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.Backward(); err != nil {
		t.Fatal(err)
	}
	g := make([]float32, 2)
	a.CopyToFloat32(a.Grad(x), g)
	if err := a.Free(); err != nil || g[0] != 2 || g[1] != 4 {
		t.Fatalf("grad of sum(x^2) at (1, 2) = %v (%v), want (2, 4)", g, err)
	}
	l.MustDrop()
}

// TestSetThreads: on this project's machines libtorch runs on OpenBLAS, whose thread count
// SetThreads must reach.
func TestSetThreads(t *testing.T) {
	lock(t)
	found := SetThreads(1)
	blas, _ := os.Readlink("/etc/alternatives/libblas.so.3-x86_64-linux-gnu")
	if strings.Contains(blas, "openblas") && !found {
		t.Fatalf("BLAS is %s but openblas_set_num_threads was not found", blas)
	}
	t.Logf("BLAS %q, OpenBLAS threads set: %v", blas, found)
}
