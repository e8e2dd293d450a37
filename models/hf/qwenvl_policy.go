package hf

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/tokenizer"
	"github.com/unigrpo/unigrpo/models/policy"
)

// qwenVLDecoder is the language model's decoder with the vision tower in front of its first step.
type qwenVLDecoder struct {
	*decoder
	m *QwenVL
}

func (m *QwenVL) newDecoder() qwenVLDecoder { return qwenVLDecoder{m.lm.newDecoder(), m} }

// step runs a batch (the prompt first, with its images' features [M, D] made by images(a), then
// one token per row with images nil) and reads the logits and hidden state of its last position.
func (d qwenVLDecoder) step(in QwenVLBatch, images func(a *raw.Arena) (raw.Tensor, error)) error {
	in.Last = true
	return d.run(len(in.IDs), func(a *raw.Arena, cache *kvCache) ([]raw.Tensor, raw.Tensor, error) {
		var feats raw.Tensor
		if images != nil {
			var err error
			if feats, err = images(a); err != nil {
				return nil, nil, err
			}
		}
		return d.m.forward(a, in, feats, cache)
	})
}

// QwenVLPolicy is a Qwen2.5-VL model as the captioning policy of Unified-GRPO: each image's
// captions continue a chat prompt that holds the image (one <|image_pad|>, expanded to the
// image's tokens). The vision tower is frozen (the paper's choice); the language model trains.
type QwenVLPolicy struct {
	Model  *QwenVL
	Proc   *QwenVLImageProcessor
	Tok    *tokenizer.Tokenizer
	Prompt string // the chat prompt, with one <|image_pad|> where the image goes
	Stop   []int  // end tokens (the first is banned before MinLen)
	Max    int    // the most caption tokens, end token included
	Size   int    // InputSize: the side of the square images given
	dir    string
	params []policy.Param
}

// NewQwenVLPolicy loads the Qwen2.5-VL folder dir (model, image processor, tokenizer) as a
// policy whose captions continue prompt (a chat prompt holding one <|image_pad|>), at most
// maxLen tokens each, for square images of side size; trainable says whether the language
// model's weights train. The end tokens are config.json's eos_token_id.
func NewQwenVLPolicy(dir string, dev gotch.Device, kind raw.Kind, prompt string, size, maxLen int, trainable bool) (*QwenVLPolicy, error) {
	if maxLen < 1 || size < 1 {
		return nil, fmt.Errorf("hf: a Qwen2.5-VL policy needs a positive caption length and image size")
	}
	proc, err := LoadQwenVLImageProcessor(dir)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	if _, err := proc.ExpandPrompt(prompt, [][3]int{{1, 2, 2}}); err != nil {
		return nil, fmt.Errorf("hf: the policy's prompt must hold exactly one %s: %w", qwenVLImagePad, err)
	}
	m, err := LoadQwenVL(dir, dev, kind)
	if err != nil {
		return nil, err
	}
	p := &QwenVLPolicy{Model: m, Proc: proc, Tok: tok, Prompt: prompt, Stop: m.cfg.Text.EOSIDs(), Max: maxLen, Size: size, dir: dir}
	if err := p.SetTrainable(trainable); err != nil {
		m.Close()
		return nil, err
	}
	return p, nil
}

// SetTrainable turns training of the language model's weights on or off; the vision tower's
// weights never train.
func (p *QwenVLPolicy) SetTrainable(on bool) error {
	for _, prm := range p.params {
		prm.Tensor.MustDrop()
	}
	p.params = nil
	lm := p.Model.lm
	for _, name := range lm.order {
		h, ok := lm.names[name]
		if !ok {
			continue
		}
		if err := raw.SetRequiresGrad(h, on); err != nil {
			return fmt.Errorf("hf: %s: %w", name, err)
		}
		if on {
			shape := lm.w.Shape(h)
			p.params = append(p.params, policy.Param{Name: name, Decay: len(shape) >= 2, Shape: shape, Tensor: lm.w.Keep(h)})
		}
	}
	return lm.w.Err()
}

// TrainableParams lists the weights that train (the language model's), in load order.
func (p *QwenVLPolicy) TrainableParams() []policy.Param { return p.params }

// Device is where the weights live.
func (p *QwenVLPolicy) Device() gotch.Device { return p.Model.lm.dev }

// MaxLen is the most caption tokens, end token included.
func (p *QwenVLPolicy) MaxLen() int { return p.Max }

// InputSize is the side of the square images the policy is given.
func (p *QwenVLPolicy) InputSize() int { return p.Size }

// Text detokenizes a caption (special tokens left out).
func (p *QwenVLPolicy) Text(tokens []int) string {
	s, err := p.Tok.Decode(tokens, true)
	if err != nil {
		return ""
	}
	return s
}

// Close frees the model.
func (p *QwenVLPolicy) Close() {
	for _, prm := range p.params {
		prm.Tensor.MustDrop()
	}
	p.params = nil
	p.Model.Close()
}

// qwenVLRows is the prompt side of a batch of N = len(imgs)*G rows: the left-padded prompt ids
// and mask [N, T], their M-RoPE positions, each row's next position offset, and the images'
// pixel rows and grids.
type qwenVLRows struct {
	ids, mask [][]int
	pos       MRoPE
	delta     []int
	pixels    []float32
	grids     [][3]int // one per image
	rowGrids  [][3]int // one per row
	tokens    []int    // merged tokens per image
}

func (p *QwenVLPolicy) rows(imgs []images.Planar, G int) (*qwenVLRows, error) {
	r := &qwenVLRows{}
	var prompts [][]int
	for i, im := range imgs {
		if !im.Valid() || im.C != 3 {
			return nil, fmt.Errorf("hf: image %d is not a valid RGB image", i)
		}
		n := im.H * im.W
		rgb := make([]uint8, 3*n)
		for j := range n {
			for c := range 3 {
				rgb[3*j+c] = uint8(math.Round(float64(min(max(im.Pix[c*n+j], 0), 1)) * 255))
			}
		}
		px, grid, err := p.Proc.Preprocess(im.W, im.H, rgb)
		if err != nil {
			return nil, fmt.Errorf("hf: image %d: %w", i, err)
		}
		text, err := p.Proc.ExpandPrompt(p.Prompt, [][3]int{grid})
		if err != nil {
			return nil, err
		}
		ids, err := p.Tok.Encode(text, true)
		if err != nil {
			return nil, fmt.Errorf("hf: %w", err)
		}
		r.pixels = append(r.pixels, px...)
		r.grids = append(r.grids, grid)
		r.tokens = append(r.tokens, grid[0]*grid[1]*grid[2]/(p.Proc.Merge*p.Proc.Merge))
		prompts = append(prompts, ids)
	}
	T := 0
	for _, ids := range prompts {
		T = max(T, len(ids))
	}
	for b, ids := range prompts {
		for range G {
			pad := T - len(ids)
			row := append(make([]int, pad), ids...)
			mask := make([]int, T)
			for t := pad; t < T; t++ {
				mask[t] = 1
			}
			r.ids = append(r.ids, row)
			r.mask = append(r.mask, mask)
			r.rowGrids = append(r.rowGrids, r.grids[b])
		}
	}
	var err error
	r.pos, r.delta, err = p.Model.cfg.RopeIndex(r.ids, r.mask, r.rowGrids)
	return r, err
}

// features runs the frozen vision tower (grad off) on the images once and returns the features
// of every row's image tokens [sum over rows, D], image b's repeated for its G rows; detached.
func (p *QwenVLPolicy) features(a *raw.Arena, r *qwenVLRows, G int) (raw.Tensor, error) {
	prev := raw.SetGradEnabled(false)
	row := p.Model.cfg.Vision.Channels * p.Model.cfg.Vision.TemporalPatch * p.Model.cfg.Vision.Patch * p.Model.cfg.Vision.Patch
	f, err := p.Model.vision.encode(a, a.FromFloat32(r.pixels, int64(len(r.pixels)/row), int64(row)), r.grids)
	raw.SetGradEnabled(prev)
	if err != nil {
		return nil, err
	}
	var idx []int64
	off := 0
	for _, n := range r.tokens {
		for range G {
			for k := range n {
				idx = append(idx, int64(off+k))
			}
		}
		off += n
	}
	return a.Embedding(a.Detach(f), a.FromInt64(idx, int64(len(idx)))), a.Err()
}

// Sample draws G captions per image, continuing the image's prompt, one token per step with a
// key/value cache; row b*G+g draws with rngs[b*G+g] (nil with opt.Greedy).
func (p *QwenVLPolicy) Sample(imgs []images.Planar, G int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	N := len(imgs) * G
	s, err := newSampler(N, p.Max, opt, rngs, p.Stop)
	if err != nil {
		return nil, err
	}
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	r, err := p.rows(imgs, G)
	if err != nil {
		return nil, err
	}
	T := len(r.ids[0])
	in := QwenVLBatch{IDs: r.ids, Pos: r.pos, Mask: r.mask}
	dec := p.Model.newDecoder()
	defer dec.close()
	lm := p.Model.lm
	feed := make([]int, N)
	images := func(a *raw.Arena) (raw.Tensor, error) { return p.features(a, r, G) }
	for t := 0; t < s.maxLen; t++ {
		if err := dec.step(in, images); err != nil {
			return nil, fmt.Errorf("hf: sample step %d: %w", t, err)
		}
		images = nil
		if !s.next(t, dec.logits, dec.hidden, lm.cfg.Vocab, lm.cfg.D, feed) {
			break
		}
		for i := range N {
			in.IDs[i] = []int{feed[i]}
			for ax := range in.Pos {
				in.Pos[ax][i] = []int{T + r.delta[i] + t}
			}
			in.Mask[i] = append(in.Mask[i], 1)
		}
	}
	return s.rollout(), nil
}

// LogProbs scores given captions by teacher forcing over [image prompt ; caption] (prompts
// left-padded, captions right-padded to the longest): log softmax(logits / temperature) of each
// caption token [N, T], 0 at padding, with an autograd graph through the language model when it
// trains (the vision tower's features are computed without one). Image b's G captions are rows
// b*G..b*G+G-1.
func (p *QwenVLPolicy) LogProbs(imgs []images.Planar, G int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error) {
	N := len(tokens)
	if N != len(imgs)*G || N == 0 {
		return nil, fmt.Errorf("hf: log-probs: %d captions for %d images x G=%d", N, len(imgs), G)
	}
	if !(temperature > 0) {
		return nil, fmt.Errorf("hf: log-probs: temperature %v must be positive", temperature)
	}
	r, err := p.rows(imgs, G)
	if err != nil {
		return nil, err
	}
	P, T := len(r.ids[0]), 1
	for _, c := range tokens {
		T = max(T, len(c))
	}
	in := QwenVLBatch{IDs: make([][]int, N), Mask: make([][]int, N), Prompt: P}
	for ax := range in.Pos {
		in.Pos[ax] = make([][]int, N)
	}
	for i, c := range tokens {
		ids := append(append([]int(nil), r.ids[i]...), c...)
		for len(ids) < P+T {
			ids = append(ids, 0) // padding after the caption: no real position attends to it
		}
		in.IDs[i] = ids
		in.Mask[i] = append(append([]int(nil), r.mask[i]...), make([]int, T)...)
		for ax := range in.Pos {
			in.Pos[ax][i] = append(append([]int(nil), r.pos[ax][i]...), make([]int, T)...)
		}
		for t := range T {
			in.Mask[i][P+t] = 1
			for ax := range in.Pos {
				in.Pos[ax][i][P+t] = P + r.delta[i] + t
			}
		}
	}
	a := raw.New(p.Model.lm.dev.CInt())
	defer a.Free()
	feats, err := p.features(a, r, G)
	if err != nil {
		return nil, fmt.Errorf("hf: log-probs: %w", err)
	}
	_, lg, err := p.Model.forward(a, in, feats, nil)
	if err != nil {
		return nil, fmt.Errorf("hf: log-probs: %w", err)
	}
	return captionScores(a, lg, P, T, tokens, temperature, withEntropy)
}

// Save writes every weight (language model and vision tower) to path as float32 safetensors
// under the folder's Hugging Face names (model.*, lm_head.weight, visual.*), and copies the
// config, tokenizer and processor files beside it: the folder of path is a Qwen2.5-VL folder.
func (p *QwenVLPolicy) Save(path string, meta map[string]string) error {
	m := p.Model
	all := map[string]raw.Tensor{}
	for n, h := range m.lm.names {
		all[n] = h
	}
	for _, n := range m.vision.names {
		all[n] = m.vision.named[n]
	}
	return saveFolder(path, m.lm.dev, all, p.dir, meta, []string{"preprocessor_config.json", "processor_config.json", "chat_template.jinja", "chat_template.json"})
}
