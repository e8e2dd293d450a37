package embed

import (
	"math/rand/v2"
	"testing"

	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
)

// BenchmarkEmbed measures one embedding of a 32x32 scene per embedder.
func BenchmarkEmbed(b *testing.B) {
	cfg := world.DefaultConfig()
	es, err := All(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ims := make([]world.Image, 64)
	for i := range ims {
		ims[i] = cfg.Render(cfg.Sample(rng))
	}
	for _, e := range es {
		b.Run(e.Name(), func(b *testing.B) {
			i := 0
			for b.Loop() {
				e.Embed(ims[i%len(ims)])
				i++
			}
		})
	}
}

// BenchmarkAll measures building every embedder (rendering the prior scenes
// and measuring their mean embeddings).
func BenchmarkAll(b *testing.B) {
	cfg := world.DefaultConfig()
	for b.Loop() {
		if _, err := All(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAndReward measures one GRPO reward: decode an oracle
// caption, embed the reconstruction with every embedder, compare.
func BenchmarkDecodeAndReward(b *testing.B) {
	cfg := world.DefaultConfig()
	es, err := All(cfg)
	if err != nil {
		b.Fatal(err)
	}
	dec, err := world.NewDecoder(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	s := cfg.Sample(rng)
	src := cfg.Render(s)
	ids := world.Oracle(s)
	for b.Loop() {
		reward.MeanReward(es, src, dec.Decode(ids, rng))
	}
}
