package hf

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// TextPolicy is a causal language model as the captioning policy of Unified-GRPO, with a
// text-only prompt: every image's captions continue the same prompt, so the model does not see
// the image (a vision-language family does). It is the trainer's Policy for the LM families, used
// to run and time GRPO on them.
type TextPolicy struct {
	LM     *LM
	Prompt []int              // the prompt's token ids
	Stop   []int              // end tokens (the first is banned before MinLen)
	Detok  func([]int) string // a caption's text
	Max    int                // the most caption tokens, end token included
	dir    string             // the folder the model came from (its config and tokenizer files)
	params []policy.Param
}

// NewTextPolicy loads the LM of dir as a policy whose captions continue prompt, at most maxLen
// tokens each; trainable says whether its weights train.
func NewTextPolicy(dir string, dev gotch.Device, kind raw.Kind, prompt, stop []int, detok func([]int) string, maxLen int, trainable bool) (*TextPolicy, error) {
	if len(prompt) == 0 || maxLen < 1 {
		return nil, fmt.Errorf("hf: a text policy needs a prompt of at least one token and a positive caption length")
	}
	lm, err := LoadLM(dir, dev, kind)
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
	p.params = nil
	m := p.LM
	for _, name := range m.order {
		h, ok := m.names[name]
		if !ok {
			continue
		}
		if err := raw.SetRequiresGrad(h, on); err != nil {
			return fmt.Errorf("hf: %s: %w", name, err)
		}
		if on {
			shape := m.w.Shape(h)
			p.params = append(p.params, policy.Param{Name: name, Decay: len(shape) >= 2, Shape: shape, Tensor: m.w.Keep(h)})
		}
	}
	return m.w.Err()
}

// TrainableParams lists the weights that train, in load order.
func (p *TextPolicy) TrainableParams() []policy.Param { return p.params }

// Device is where the weights live.
func (p *TextPolicy) Device() gotch.Device { return p.LM.dev }

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
// cache; row b*G+g draws with rngs[b*G+g] (nil with opt.Greedy).
func (p *TextPolicy) Sample(imgs []images.Planar, G int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	N := len(imgs) * G
	s, err := newSampler(N, p.Max, opt, rngs, p.Stop)
	if err != nil {
		return nil, err
	}
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	m := p.LM
	P := len(p.Prompt)
	in := Batch{IDs: make([][]int, N), Pos: make([][]int, N), Mask: make([][]int, N)}
	for r := range N {
		in.IDs[r] = append([]int(nil), p.Prompt...)
		in.Pos[r] = make([]int, P)
		in.Mask[r] = make([]int, P)
		for t := range P {
			in.Pos[r][t], in.Mask[r][t] = t, 1
		}
	}
	dec := m.newDecoder()
	defer dec.close()
	feed := make([]int, N)
	for t := 0; t < s.maxLen; t++ {
		if err := dec.step(in); err != nil {
			return nil, fmt.Errorf("hf: sample step %d: %w", t, err)
		}
		if !s.next(t, dec.logits, dec.hidden, m.cfg.Vocab, m.cfg.D, feed) {
			break
		}
		for r := range N {
			in.IDs[r] = []int{feed[r]}
			in.Pos[r] = []int{P + t}
			in.Mask[r] = append(in.Mask[r], 1)
		}
	}
	return s.rollout(), nil
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
	P, T := len(p.Prompt), 1
	for _, c := range tokens {
		T = max(T, len(c))
	}
	in := Batch{IDs: make([][]int, N), Pos: make([][]int, N), Mask: make([][]int, N)}
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
	a := raw.New(m.dev.CInt())
	defer a.Free()
	_, lg, err := m.forward(a, in, nil)
	if err != nil {
		return nil, fmt.Errorf("hf: log-probs: %w", err)
	}
	return captionScores(a, lg, P, T, tokens, temperature, withEntropy)
}

// captionScores turns the logits [N, P+T, V] of [prompt ; caption] rows (prompts of P positions,
// captions right-padded to T) into the Scores of the captions: position P-1+t predicts caption
// token t; log softmax(logits / temperature) of each token, 0 at padding, its entropy when asked.
// The tensors are kept out of the arena a for the caller.
func captionScores(a *raw.Arena, lg raw.Tensor, P, T int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error) {
	N := len(tokens)
	target := make([]int64, N*T)
	mask := make([]float32, N*T)
	count := 0
	for r, c := range tokens {
		for t, id := range c {
			target[r*T+t] = int64(id)
			mask[r*T+t] = 1
			count++
		}
	}
	logp := a.LogSoftmax(a.MulScalar(a.Narrow(lg, 1, int64(P-1), int64(T)), 1/temperature), -1) // [N, T, V]
	msk := a.FromFloat32(mask, int64(N), int64(T))
	idx := a.Unsqueeze(a.FromInt64(target, int64(N), int64(T)), 2)
	lp := a.Mul(a.View(a.Gather(logp, 2, idx), int64(N), int64(T)), msk)
	sc := &policy.Scores{Tokens: count, T: T}
	if withEntropy {
		ent := a.Neg(a.SumDim(a.Mul(a.Exp(logp), logp), -1, false))
		sc.Entropy = a.Keep(a.Detach(a.Mul(ent, msk)))
	}
	sc.LogProbs = a.Keep(lp)
	sc.Mask = a.Keep(msk)
	if err := a.Err(); err != nil {
		sc.Drop()
		return nil, fmt.Errorf("hf: log-probs: %w", err)
	}
	return sc, nil
}

// Save writes the weights to path as safetensors, in float32, under their Hugging Face names,
// and copies the model folder's config and tokenizer files beside it, so that the folder of path
// is itself a Hugging Face model folder (loadable here and by transformers).
func (p *TextPolicy) Save(path string, meta map[string]string) error {
	return saveFolder(path, p.LM.dev, p.LM.names, p.dir, meta, nil)
}

// lmFiles are the files of a language model's folder besides its weights.
var lmFiles = []string{"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"}

// saveFolder writes tensors (Hugging Face names) to path as a float32 safetensors file, with meta
// in its metadata, and copies the files of the model folder src that describe them (lmFiles and
// extra) beside it; config.json is marked float32. Every file is written atomically.
func saveFolder(path string, dev gotch.Device, tensors map[string]raw.Tensor, src string, meta map[string]string, extra []string) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	type entry struct {
		DType   string  `json:"dtype"`
		Shape   []int64 `json:"shape"`
		Offsets [2]int  `json:"data_offsets"`
	}
	head := map[string]any{}
	md := map[string]string{"format": "pt"}
	for k, v := range meta {
		md[k] = v
	}
	head["__metadata__"] = md
	a := raw.New(dev.CInt())
	defer a.Free()
	off := 0
	for _, n := range names {
		shape := a.Shape(tensors[n])
		head[n] = entry{DType: "F32", Shape: shape, Offsets: [2]int{off, off + 4*numel(shape)}}
		off += 4 * numel(shape)
	}
	if err := a.Err(); err != nil {
		return fmt.Errorf("hf: save %s: %w", path, err)
	}
	js, err := json.Marshal(head)
	if err != nil {
		return err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	// One tensor at a time: saving holds one float32 copy of the largest tensor, not of the model.
	err = atomicfile.WriteFunc(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
		if _, err := w.Write(append(n[:], js...)); err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<20)
		for _, name := range names {
			t := raw.New(dev.CInt())
			h := tensors[name]
			vals := make([]float32, numel(t.Shape(h)))
			t.CopyToFloat32(t.Contiguous(t.To(t.Detach(h), raw.Float32)), vals)
			if err := t.Free(); err != nil {
				return fmt.Errorf("reading %s: %w", name, err)
			}
			for _, v := range vals {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if len(buf) >= 1<<20 {
					if _, err := w.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
		}
		_, err := w.Write(buf)
		return err
	})
	if err != nil {
		return fmt.Errorf("hf: save: %w", err)
	}
	for _, f := range append(append([]string(nil), lmFiles...), extra...) {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			continue // optional files
		}
		if f == "config.json" {
			data = float32Config(data)
		}
		if err := atomicfile.Write(filepath.Join(filepath.Dir(path), f), data); err != nil {
			return fmt.Errorf("hf: save: %w", err)
		}
	}
	return nil
}

// float32Config records in config.json that the saved weights are float32.
func float32Config(js []byte) []byte {
	var c map[string]any
	if json.Unmarshal(js, &c) != nil {
		return js
	}
	c["dtype"] = "float32"
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return js
	}
	return append(out, '\n')
}

func numel(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}
