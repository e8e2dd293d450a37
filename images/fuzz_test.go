package images

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoders through Decode, as a file or a service's
// upload would: no input may panic or take memory past the pixel budget. The seed corpus
// (testdata/fuzz/FuzzDecode: the PNG and WebP fixtures, the 68-byte bomb, truncations) runs
// with every `go test`; `go test -fuzz FuzzDecode ./images` searches further. Oracle: the budget
// (an image that decodes is within it) and the absence of a panic.
func FuzzDecode(f *testing.F) {
	const budget = 1 << 16 // small, so that the fuzzer cannot make a run take memory
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := Decode(bytes.NewReader(data), "fuzz", budget)
		if err != nil {
			return
		}
		if b := img.Bounds(); b.Dx() < 0 || b.Dy() < 0 || b.Dx()*b.Dy() > budget {
			t.Fatalf("decoded %v, over the budget of %d pixels", b, budget)
		}
		if b := img.Bounds(); b.Dx() > 0 && b.Dy() > 0 {
			Fit(img, 4)
		}
	})
}
