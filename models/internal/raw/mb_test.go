package raw

import (
	"testing"
	"time"
)

func TestMicroAttention(t *testing.T) {
	lock(t)
	a := New(-1)
	N, H, L, Dh, Lmax := int64(64), int64(4), int64(76), int64(32), int64(80)
	cache := a.Zeros(N, H, Lmax, Dh)
	cache = a.AddScalar(cache, 0.1)
	q := a.AddScalar(a.Zeros(N, H, 1, Dh), 0.2)
	keys := a.Narrow(cache, 2, 0, L)
	keysC := a.Contiguous(keys)
	if err := a.Free(); err != nil { t.Fatal(err) }
	_ = keysC
	run := func(name string, f func(b *Arena)) {
		b := New(-1)
		f(b)
		b.Free()
		start := time.Now()
		const n = 200
		for range n {
			f(b)
			if err := b.Free(); err != nil { t.Fatal(err) }
		}
		t.Logf("%s: %v", name, time.Since(start)/n)
	}
	a2 := New(-1)
	cache = a2.AddScalar(a2.Zeros(N, H, Lmax, Dh), 0.1)
	q = a2.AddScalar(a2.Zeros(N, H, 1, Dh), 0.2)
	keys = a2.Narrow(cache, 2, 0, L)
	keysC = a2.Contiguous(keys)
	p := a2.AddScalar(a2.Zeros(N, H, 1, L), 0.01)
	run("matmul strided", func(b *Arena) { b.Matmul(q, b.Transpose(keys, -2, -1)) })
	run("matmul contiguous", func(b *Arena) { b.Matmul(q, b.Transpose(keysC, -2, -1)) })
	run("mul+sum", func(b *Arena) { b.SumDim(b.Mul(q, keys), -1, false) })
	run("pv matmul", func(b *Arena) { b.Matmul(p, keys) })
	run("pv mul+sum", func(b *Arena) { b.SumDim(b.Mul(b.Transpose(p, -2, -1), keys), 2, false) })
	run("merged view matmul", func(b *Arena) {
		// [N*H, 1, Dh] @ [N*H, Dh, L]
		b.Matmul(b.View(q, N*H, 1, Dh), b.Transpose(b.View(keysC, N*H, L, Dh), 1, 2))
	})
	B, G, P := int64(8), int64(8), int64(64)
	kp := a2.AddScalar(a2.Zeros(B, H, P, Dh), 0.1)
	qs := a2.AddScalar(a2.Zeros(N, H, 1, Dh), 0.1)
	run("shared prefix scores", func(b *Arena) {
		qb := b.Permute(b.View(qs, B, G, H, Dh), 0, 2, 1, 3)
		sp := b.Matmul(qb, b.Transpose(kp, -2, -1))
		b.Reshape(b.Permute(sp, 0, 2, 1, 3), N, H, P)
	})
	sc := a2.Narrow(cache, 2, 0, 12)
	run("suffix mul+sum t=12", func(b *Arena) { b.SumDim(b.Mul(qs, sc), -1, false) })
	run("suffix matmul t=12", func(b *Arena) { b.Matmul(qs, b.Transpose(sc, -2, -1)) })
	a2.Free()
}
