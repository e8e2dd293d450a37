package vit

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

// The batched embedders (per-layer arenas, up to MaxBatch images a pass) equal the one-image
// path within 1e-5: each image alone through Forward, which keeps every hidden state in one
// arena and is checked against transformers' hidden states and pooled outputs by
// TestViTForward (oracle: transformers on the fixtures), its feature L2-normalised here.
func TestViTBatchedEqualsOneImage(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, family := range vitFamilies {
		t.Run(family, func(t *testing.T) {
			m, err := Load(hftest.Open(t, family).Dir, gotch.CPU, raw.Float32)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.MaxBatch() != DefaultMaxBatch {
				t.Errorf("MaxBatch %d, want the default %d", m.MaxBatch(), DefaultMaxBatch)
			}
			var sqs []images.Square
			for k := range 5 {
				side := m.Size()
				sq := images.Square{Size: side, RGB: make([]uint8, 3*side*side)}
				for j := range sq.RGB {
					sq.RGB[j] = uint8((j*(5+3*k) + j/(3*side)*(11+k)) % 253)
				}
				sqs = append(sqs, sq)
			}
			want := make([][]float32, len(sqs))
			for k, sq := range sqs {
				px, h, _, err := m.Processor().Preprocess(sq.Size, sq.Size, sq.RGB)
				if err != nil {
					t.Fatal(err)
				}
				out, err := m.Forward(px, 1)
				if err != nil {
					t.Fatal(err)
				}
				f := out.Pooled
				if out.Embeds != nil {
					f = out.Embeds
				}
				if len(f) != m.Dim() {
					t.Fatalf("image %d of side %d: a feature of %d values, want %d", k, h, len(f), m.Dim())
				}
				want[k] = normalize(f)
			}
			for _, n := range []int{DefaultMaxBatch, 2, 1} { // one pass; passes of 2, 2, 1; one image a pass
				if err := m.SetMaxBatch(n); err != nil {
					t.Fatal(err)
				}
				got, err := m.EmbedBatch(sqs)
				if err != nil {
					t.Fatal(err)
				}
				for k := range sqs {
					if worst, _ := vitMaxDiff(t, "embed", got[k], want[k]); worst > 1e-5 {
						t.Errorf("max batch %d, image %d: batched and one-image features differ by %.3g", n, k, worst)
					}
				}
			}
			if err := m.SetMaxBatch(0); err == nil {
				t.Error("SetMaxBatch(0) was accepted")
			}
		})
	}
}
