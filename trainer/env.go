package trainer

import (
	"fmt"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/embed"
	"github.com/unigrpo/unigrpo/models/world"
)

// Env is the frozen reward environment of Unified-GRPO: the decoder (text-to-image) that
// reconstructs an image from a caption and the embedders whose cosine similarity scores the
// reconstruction against the source. Nothing in it is trained.
type Env struct {
	World     world.Config
	Decoder   *world.Decoder
	Embedders []embed.Embedder // the reward is the mean cosine over these
}

// NewEnv builds the environment with the reward embedders named in reward ("conv,colour,edge",
// or "all").
func NewEnv(w world.Config, reward string) (*Env, error) {
	dec, err := world.NewDecoder(w)
	if err != nil {
		return nil, err
	}
	var es []embed.Embedder
	if reward == "all" || reward == "" {
		es, err = embed.All(w)
	} else {
		es, err = embed.ByNames(w, reward)
	}
	if err != nil {
		return nil, fmt.Errorf("--reward: %w", err)
	}
	return &Env{World: w, Decoder: dec, Embedders: es}, nil
}

// Scenes returns the scenes of global indices [lo, hi) of a training step and their images.
func (e *Env) Scenes(seed uint64, step, lo, hi int) ([]world.Scene, []world.Image) {
	scenes := make([]world.Scene, hi-lo)
	images := make([]world.Image, hi-lo)
	for i := range scenes {
		scenes[i] = e.World.Sample(stream.RNG(seed, stream.Scene, step, lo+i))
		images[i] = e.World.Render(scenes[i])
	}
	return scenes, images
}

// HeldOut returns n evaluation scenes (see eval.HeldOut).
func (e *Env) HeldOut(seed uint64, n int) ([]world.Scene, []world.Image) {
	return eval.HeldOut(e.World, seed, n)
}

// Rewards reconstructs each of the N = B*G captions (row b*G+g belongs to source image b) and
// returns R = mean over embedders of cos(f(x), f(x^)). Row r's decoder draws come from the stream
// keyed by (seed, stream, step, first+r), first being the row's global index offset.
func (e *Env) Rewards(src []world.Image, G int, tokens [][]int, seed uint64, key stream.ID, step, first int) []float64 {
	out := make([]float64, len(tokens))
	srcEmb := make([][][]float32, len(src))
	for b, im := range src {
		srcEmb[b] = make([][]float32, len(e.Embedders))
		for k, emb := range e.Embedders {
			srcEmb[b][k] = emb.Embed(im)
		}
	}
	for r, toks := range tokens {
		rec := e.Decoder.Decode(toks, stream.RNG(seed, key, step, first+r))
		s := 0.0
		for k, emb := range e.Embedders {
			s += embed.Cosine(srcEmb[r/G][k], emb.Embed(rec))
		}
		out[r] = s / float64(len(e.Embedders))
	}
	return out
}
