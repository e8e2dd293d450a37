package eval

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/embed"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/models/world"
)

// SceneScore is one scene's row of the per-scene table.
type SceneScore struct {
	Scene      int                `json:"scene"`
	Caption    string             `json:"caption"`
	Length     int                `json:"length"`
	Similarity map[string]float64 `json:"similarity"`
	Overall    float64            `json:"overall"`
}

// Result is one captioner's row of Unified-Bench.
type Result struct {
	Name       string             `json:"name"`
	Embedders  map[string]float64 `json:"embedders"` // embedder name -> mean similarity
	Stats      map[string]Stat    `json:"stats"`
	Overall    float64            `json:"overall"` // mean over embedders (the Unified-Score)
	LengthMean float64            `json:"length_mean"`
	world.Understanding
	Scenes []SceneScore `json:"-"`
	// Reconstructions holds the first few regenerated images, for example grids.
	Reconstructions []world.Image `json:"-"`
}

// Score regenerates an image from each caption (the decoder's guesses keyed by seed and scene
// index, so every captioner is judged with the same draws) and measures it against its source.
// scenes holds the images' labels for the understanding metrics; nil (image files) leaves them out.
func Score(name string, dec *world.Decoder, es []embed.Embedder, scenes []world.Scene, images []world.Image, captions [][]int, seed uint64, keep int) (*Result, error) {
	if (scenes != nil && len(scenes) != len(images)) || len(captions) != len(images) {
		return nil, fmt.Errorf("eval %s: %d scenes, %d images, %d captions", name, len(scenes), len(images), len(captions))
	}
	vocab := world.NewVocab()
	r := &Result{Name: name, Embedders: map[string]float64{}}
	var us []world.Understanding // understanding needs the scenes' labels (nil for image files)
	names := make([]string, len(es))
	for j, e := range es {
		names[j] = e.Name()
	}
	acc := newSimilarities(names)
	sims := make([]float64, len(es))
	for i, caption := range captions {
		rec := dec.Decode(caption, stream.RNG(seed, stream.EvalDecode, 0, i))
		if i < keep {
			r.Reconstructions = append(r.Reconstructions, rec)
		}
		for j, e := range es {
			sims[j] = embed.Reward(e, images[i], rec)
		}
		row := SceneScore{Scene: i, Caption: vocab.Decode(caption), Length: len(caption)}
		row.Similarity, row.Overall = acc.add(sims)
		r.Scenes = append(r.Scenes, row)
		r.LengthMean += float64(len(caption)) / float64(len(images))
		if scenes != nil {
			us = append(us, world.Understand(scenes[i], caption))
		}
	}
	r.Stats, r.Overall = acc.result()
	for name, st := range r.Stats {
		r.Embedders[name] = st.Mean
	}
	if us != nil {
		r.Understanding = world.MeanUnderstanding(us)
	}
	return r, nil
}

// SampleOptions say how a checkpoint captions in evaluation: greedy by default.
type SampleOptions struct {
	Temperature float64 // > 0 samples at this temperature instead of greedy decoding
	Seed        uint64  // for sampled captions
}

// Captions captions images with a model, in chunks, without autograd. Greedy unless
// opt.Temperature > 0, in which case image i samples with the stream keyed by (Seed, i). The
// model must be used from the goroutine that owns it. EOS is stripped.
func Captions(m *policy.Model, images []world.Image, opt SampleOptions) ([][]int, error) {
	const chunk = 64
	var out [][]int
	for lo := 0; lo < len(images); lo += chunk {
		hi := min(lo+chunk, len(images))
		so := policy.SampleOptions{Greedy: opt.Temperature <= 0, Temperature: opt.Temperature}
		var rngs []*rand.Rand
		if !so.Greedy {
			for i := lo; i < hi; i++ {
				rngs = append(rngs, stream.RNG(opt.Seed, stream.Sample, 0, i))
			}
		}
		roll, err := m.Sample(images[lo:hi], 1, so, rngs)
		if err != nil {
			return nil, fmt.Errorf("captioning: %w", err)
		}
		for _, t := range roll.Tokens {
			out = append(out, StripEOS(t))
		}
	}
	return out, nil
}

// StripEOS returns a caption without its final EOS.
func StripEOS(t []int) []int {
	if n := len(t); n > 0 && t[n-1] == world.EOS {
		return t[:n-1]
	}
	return t
}
