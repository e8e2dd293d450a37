package lm

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/policy"
)

// TextPolicy is a causal language model as the captioning policy of Unified-GRPO, with a
// text-only prompt: every image's captions continue the same prompt, so the model does not see
// the image (a vision-language family does). It is the trainer's Policy for the LM families, used
// to run and time GRPO on them.
type TextPolicy struct {
	LM     *Model
	Prompt []int              // the prompt's token ids
	Stop   []int              // end tokens (the first is banned before MinLen)
	Detok  func([]int) string // a caption's text
	Max    int                // the most caption tokens, end token included
	dir    string             // the folder the model came from (its config and tokenizer files)
	params []policy.Param
	ckpt   bool // LogProbs checkpoints the decoder's activations
}

// NewTextPolicy loads the LM of dir as a policy whose captions continue prompt, at most maxLen
// tokens each; trainable says whether its weights train.
func NewTextPolicy(dir string, dev gotch.Device, kind raw.Kind, prompt, stop []int, detok func([]int) string, maxLen int, trainable bool) (*TextPolicy, error) {
	if len(prompt) == 0 || maxLen < 1 {
		return nil, fmt.Errorf("hf: a text policy needs a prompt of at least one token and a positive caption length")
	}
	lm, err := Load(dir, dev, kind)
	if err != nil {
		return nil, err
	}
	p := &TextPolicy{LM: lm, Prompt: prompt, Stop: stop, Detok: detok, Max: maxLen, dir: dir}
	if err := p.SetTrainable(trainable); err != nil {
		lm.Close()
		return nil, err
	}
	return p, nil
}

// SetTrainable turns training of every weight on or off.
func (p *TextPolicy) SetTrainable(on bool) error {
	for _, prm := range p.params {
		prm.Tensor.MustDrop()
	}
	var err error
	p.params, err = p.LM.SetTrainable(on)
	return err
}

// SetCheckpointing turns activation checkpointing of LogProbs on or off: with it on, the
// decoder's layers keep only their inputs, and the Scores' Finish recomputes them in the
// backward (hf.Checkpoint).
func (p *TextPolicy) SetCheckpointing(on bool) { p.ckpt = on }

// TrainableParams lists the weights that train, in load order.
func (p *TextPolicy) TrainableParams() []policy.Param { return p.params }

// Device is where the weights live.
func (p *TextPolicy) Device() gotch.Device { return p.LM.Device() }

// MaxLen is the most caption tokens, end token included.
func (p *TextPolicy) MaxLen() int { return p.Max }

// InputSize is 0: a text-only policy reads no image.
func (p *TextPolicy) InputSize() int { return 0 }

// Text detokenizes a caption.
func (p *TextPolicy) Text(tokens []int) string { return p.Detok(tokens) }

// Close frees the model.
func (p *TextPolicy) Close() {
	for _, prm := range p.params {
		prm.Tensor.MustDrop()
	}
	p.params = nil
	p.LM.Close()
}

// Sample draws G captions per image, continuing the prompt, one token per step with a key/value
// cache; row b*G+g draws with rngs[b*G+g] (nil with opt.Greedy). The prompt, the same for every
// row, is prefilled once and its cache expanded to the N rows.
func (p *TextPolicy) Sample(imgs []images.Planar, G int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	N := len(imgs) * G
	s, err := hf.NewSampler(N, p.Max, opt, rngs, p.Stop)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	m := p.LM
	P := len(p.Prompt)
	in := hf.Batch{IDs: [][]int{p.Prompt}, Pos: [][]int{make([]int, P)}, Mask: [][]int{make([]int, P)}}
	for t := range P {
		in.Pos[0][t], in.Mask[0][t] = t, 1
	}
	expand := make([]int, N) // every row continues the one prefilled prompt
	// The last token sampled is never fed: the cache holds the prompt and MaxLen-1 tokens.
	dec := m.NewStepper(P + s.MaxLen() - 1)
	defer dec.Close()
	feed := make([]int, N)
	next := hf.Batch{IDs: make([][]int, N), Pos: make([][]int, N), Mask: make([][]int, N)}
	for t := 0; t < s.MaxLen(); t++ {
		if t == 0 {
			in.Last = true
			err = dec.RunWith(1, expand, func(a *raw.Arena, cache *hf.KVCache) ([]raw.Tensor, raw.Tensor, error) {
				return m.Forward(a, in, cache)
			})
		} else {
			err = dec.Step(next)
		}
		if err != nil {
			return nil, fmt.Errorf("hf: sample step %d: %w", t, err)
		}
		active, err := s.Next(t, dec, feed)
		if err != nil {
			return nil, err
		}
		if !active {
			break
		}
		for r := range N {
			next.IDs[r] = []int{feed[r]}
			next.Pos[r] = []int{P + t}
			if t == 0 {
				next.Mask[r] = append([]int(nil), in.Mask[0]...)
			}
			next.Mask[r] = append(next.Mask[r], 1)
		}
	}
	return s.Rollout(), nil
}

// LogProbs scores given captions by teacher forcing over [prompt ; caption] (right-padded to the
// longest caption): log softmax(logits / temperature) of each caption token [N, T], 0 at padding,
// with an autograd graph when the weights train. Image b's G captions are rows b*G..b*G+G-1.
func (p *TextPolicy) LogProbs(imgs []images.Planar, G int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error) {
	N := len(tokens)
	if N != len(imgs)*G || N == 0 {
		return nil, fmt.Errorf("hf: log-probs: %d captions for %d images x G=%d", N, len(imgs), G)
	}
	if !(temperature > 0) {
		return nil, fmt.Errorf("hf: log-probs: temperature %v must be positive", temperature)
	}
	m := p.LM
	in, T := p.scoreBatch(tokens)
	if p.ckpt {
		in.Checkpoint = m.NewCheckpoint()
	}
	a := raw.New(m.Device().CInt())
	defer a.Free()
	_, lg, err := m.Forward(a, in, nil)
	if err != nil {
		in.Checkpoint.Free()
		return nil, fmt.Errorf("hf: log-probs: %w", err)
	}
	return in.Checkpoint.Attach(hf.CaptionScores(a, lg, T, tokens, temperature, withEntropy))
}

// scoreBatch is the teacher-forced batch of captions tokens: rows of [prompt ; caption]
// right-padded to the longest caption, T tokens, with the head asked for the T positions that
// predict the caption only (not the prompt's P).
func (p *TextPolicy) scoreBatch(tokens [][]int) (in hf.Batch, T int) {
	N, P := len(tokens), len(p.Prompt)
	T = 1
	for _, c := range tokens {
		T = max(T, len(c))
	}
	in = hf.Batch{IDs: make([][]int, N), Pos: make([][]int, N), Mask: make([][]int, N), Logits: hf.ScoredSpan(P, T)}
	for r, c := range tokens {
		ids := append(append([]int(nil), p.Prompt...), c...)
		for len(ids) < P+T {
			ids = append(ids, 0) // padding after the caption: no real position attends to it
		}
		in.IDs[r] = ids
		in.Pos[r] = make([]int, P+T)
		in.Mask[r] = make([]int, P+T)
		for t := range P + T {
			in.Pos[r][t], in.Mask[r][t] = t, 1
		}
	}
	return in, T
}

// Save writes the weights to path as safetensors, in float32, under their Hugging Face names,
// and copies the model folder's config and tokenizer files beside it, so that the folder of path
// is itself a Hugging Face model folder (loadable here and by transformers). A policy with LoRA
// adapters writes, in the folder of path and instead of its weights, the adapters as a PEFT
// adapter folder naming its base folder (SaveMerged writes the merged model).
func (p *TextPolicy) Save(path string, meta map[string]string) error {
	if p.HasAdapters() {
		return p.LM.SaveLoRA(filepath.Dir(path), p.dir, meta)
	}
	return hf.SaveFolder(path, p.LM.Device(), p.LM.Tensors(), p.dir, meta, nil)
}
