package vit

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// BenchmarkRewardEmbed measures the reward's image embedder, images/s, batched (all the images
// in one forward pass), in passes of 9 (group9: a source and its G = 8 reconstructions, the
// passes reward.Score makes) and one image a pass (the path of the reward before batching), on a CLIP ViT-B/32 of random weights (the shape of
// openai/clip-vit-base-patch32's vision tower and projection: 88 M parameters, float32) with
// CLIP's processor, on images of 256 px (resized and cropped to 224). Settings (environment):
// UNIGRPO_BENCH_DEVICE (cpu or cuda; default cpu), UNIGRPO_BENCH_IMAGES (images per iteration,
// default 16). The peer is the same model one image at a time in the same run; compare the
// img/s of the two sub-benchmarks.
func BenchmarkRewardEmbed(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev := gotch.CPU
	switch d := os.Getenv("UNIGRPO_BENCH_DEVICE"); d {
	case "", "cpu":
	case "cuda":
		if !gotch.CUDA.IsAvailable() {
			b.Fatal("UNIGRPO_BENCH_DEVICE=cuda, but this libtorch sees no CUDA device")
		}
		dev = gotch.CudaBuilder(0)
	default:
		b.Fatalf("UNIGRPO_BENCH_DEVICE=%q: use cpu or cuda", d)
	}
	n := 16
	if s := os.Getenv("UNIGRPO_BENCH_IMAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("UNIGRPO_BENCH_IMAGES=%q: give a positive number of images", s)
		}
	}
	b.Run("clip-b32", func(b *testing.B) {
		cfg := Config{ModelType: "clip_vision_model", D: 768, F: 3072, Layers: 12, H: 12, Channels: 3,
			ImageSize: 224, Patch: 32, Proj: 512, Act: "quick_gelu", Eps: 1e-5}
		v := randomCLIP(b, cfg, dev)
		defer v.Close()
		ims := benchImages(n, 256)
		for _, side := range []struct {
			name  string
			batch int
		}{{"batched", max(n, DefaultMaxBatch)}, {"group9", 9}, {"one-image", 1}} {
			b.Run(side.name, func(b *testing.B) {
				if err := v.SetMaxBatch(side.batch); err != nil {
					b.Fatal(err)
				}
				if _, err := v.EmbedPlanar(ims); err != nil { // warm-up (CUDA kernels, allocator)
					b.Fatal(err)
				}
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					if _, err := v.EmbedPlanar(ims); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "img/s")
				b.ReportMetric(float64(n), "images")
			})
		}
	})
}

// randomCLIP is a CLIP vision tower of config cfg with normal(0, 0.02) weights (LayerNorms 1
// and 0) on dev, and CLIP's default processor at cfg's image size.
func randomCLIP(b *testing.B, cfg Config, dev gotch.Device) *Model {
	b.Helper()
	pre, _ := processorDefaults("CLIPImageProcessor")
	pre.Shortest, pre.CropH, pre.CropW = cfg.ImageSize, cfg.ImageSize, cfg.ImageSize
	v := &Model{cfg: cfg, pre: &pre, dev: dev, kind: raw.Float32, w: raw.New(dev.CInt()), names: map[string]bool{}, maxBatch: DefaultMaxBatch}
	rng := rand.New(rand.NewPCG(1, 2))
	w := func(shape ...int64) raw.Tensor {
		vals := make([]float32, hf.Numel(shape))
		for i := range vals {
			vals[i] = float32(rng.NormFloat64() * 0.02)
		}
		return v.w.FromFloat32(vals, shape...)
	}
	fill := func(x float32, shape ...int64) raw.Tensor {
		vals := make([]float32, hf.Numel(shape))
		for i := range vals {
			vals[i] = x
		}
		return v.w.FromFloat32(vals, shape...)
	}
	D, F, P, G := int64(cfg.D), int64(cfg.F), int64(cfg.Patch), int64(cfg.Grid())
	norm := func() hf.LayerNorm { return hf.LayerNorm{W: fill(1, D), B: fill(0, D)} }
	lin := func(out, in int64) hf.Linear { return hf.Linear{W: w(out, in), B: w(out)} }
	v.enc = hf.Encoder{Kind: raw.Float32, Cfg: hf.EncoderConfig{D: cfg.D, H: cfg.H, Patch: cfg.Patch, Grid: cfg.Grid(), Eps: cfg.Eps, Act: cfg.Act}}
	v.enc.PatchW = w(D, 3, P, P)
	v.enc.Cls = w(1, 1, D)
	v.enc.Pos = w(1, G*G+1, D)
	pn := norm()
	v.enc.PreNorm = &pn
	for range cfg.Layers {
		v.enc.Layers = append(v.enc.Layers, hf.EncoderLayer{LN1: norm(), Q: lin(D, D), K: lin(D, D), V: lin(D, D), O: lin(D, D),
			LN2: norm(), FC1: lin(F, D), FC2: lin(D, F)})
	}
	post := norm()
	v.postNorm = &post
	v.proj = w(int64(cfg.Proj), D)
	if err := v.w.Err(); err != nil {
		v.Close()
		b.Fatal(fmt.Errorf("random CLIP weights: %w", err))
	}
	return v
}

// benchImages returns n float images of side x side with smooth, distinct patterns.
func benchImages(n, side int) []images.Planar {
	out := make([]images.Planar, n)
	for k := range out {
		im := images.Planar{C: 3, H: side, W: side, Pix: make([]float32, 3*side*side)}
		for i := range im.Pix {
			im.Pix[i] = float32((i*(k+3)+i/side*(2*k+1))%256) / 255
		}
		out[k] = im
	}
	return out
}
