package qwenvl

import (
	"fmt"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/tokenizer"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Policy is a Qwen2.5-VL model as the captioning policy of Unified-GRPO: each image's
// captions continue a chat prompt that holds the image (one <|image_pad|>, expanded to the
// image's tokens). The vision tower is frozen (the paper's choice); the language model trains.
type Policy struct {
	Model  *Model
	Proc   *ImageProcessor
	Tok    *tokenizer.Tokenizer
	Prompt string // the chat prompt, with one <|image_pad|> where the image goes
	Stop   []int  // end tokens (the first is banned before MinLen)
	Max    int    // the most caption tokens, end token included
	Size   int    // InputSize: the side of the square images given
	dir    string
	params []policy.Param
	ckpt   bool // LogProbs checkpoints the language model's activations
}

// NewPolicy loads the Qwen2.5-VL folder dir (model, image processor, tokenizer) as a
// policy whose captions continue prompt (a chat prompt holding one <|image_pad|>), at most
// maxLen tokens each, for square images of side size; trainable says whether the language
// model's weights train. The end tokens are config.json's eos_token_id.
func NewPolicy(dir string, dev gotch.Device, kind raw.Kind, prompt string, size, maxLen int, trainable bool) (*Policy, error) {
	return newPolicy(dir, dev, kind, prompt, size, maxLen, trainable, nil)
}

// NewFrozenSharingVision loads dir as NewPolicy does, frozen, with the vision tower of from
// (whose tower is frozen too: it never trains here): the KL reference of a run then holds one
// copy of the tower, not two. Close it before from.
func NewFrozenSharingVision(dir string, dev gotch.Device, kind raw.Kind, prompt string, size, maxLen int, from *Policy) (*Policy, error) {
	return newPolicy(dir, dev, kind, prompt, size, maxLen, false, from.Model)
}

func newPolicy(dir string, dev gotch.Device, kind raw.Kind, prompt string, size, maxLen int, trainable bool, share *Model) (*Policy, error) {
	if maxLen < 1 || size < 1 {
		return nil, fmt.Errorf("hf: a Qwen2.5-VL policy needs a positive caption length and image size")
	}
	proc, err := LoadImageProcessor(dir)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	if _, err := proc.ExpandPrompt(prompt, [][3]int{{1, 2, 2}}); err != nil {
		return nil, fmt.Errorf("hf: the policy's prompt must hold exactly one %s: %w", imagePad, err)
	}
	m, err := load(dir, dev, kind, share)
	if err != nil {
		return nil, err
	}
	p := &Policy{Model: m, Proc: proc, Tok: tok, Prompt: prompt, Stop: m.cfg.Text.EOSIDs(), Max: maxLen, Size: size, dir: dir}
	if err := p.SetTrainable(trainable); err != nil {
		m.Close()
		return nil, err
	}
	return p, nil
}

// SetTrainable turns training of the language model's weights on or off; the vision tower's
// weights never train.
func (p *Policy) SetTrainable(on bool) error {
	for _, prm := range p.params {
		prm.Tensor.MustDrop()
	}
	var err error
	p.params, err = p.Model.lm.SetTrainable(on)
	return err
}

// SetCheckpointing turns activation checkpointing of LogProbs on or off: with it on, the
// language model's layers keep only their inputs, and the Scores' Finish recomputes them in the
// backward (hf.Checkpoint). The vision tower is frozen and runs without a graph either way.
func (p *Policy) SetCheckpointing(on bool) { p.ckpt = on }

// TrainableParams lists the weights that train (the language model's), in load order.
func (p *Policy) TrainableParams() []policy.Param { return p.params }

// Device is where the weights live.
func (p *Policy) Device() gotch.Device { return p.Model.lm.Device() }

// MaxLen is the most caption tokens, end token included.
func (p *Policy) MaxLen() int { return p.Max }

// InputSize is the side of the square images the policy is given.
func (p *Policy) InputSize() int { return p.Size }

// Text detokenizes a caption (special tokens left out).
func (p *Policy) Text(tokens []int) string {
	s, err := p.Tok.Decode(tokens, true)
	if err != nil {
		return ""
	}
	return s
}

// Close frees the model.
func (p *Policy) Close() {
	for _, prm := range p.params {
		prm.Tensor.MustDrop()
	}
	p.params = nil
	p.Model.Close()
}

// Save writes every weight (language model and vision tower) to path as float32 safetensors
// under the folder's Hugging Face names (model.*, lm_head.weight, visual.*), and copies the
// config, tokenizer and processor files beside it: the folder of path is a Qwen2.5-VL folder. A
// policy with LoRA adapters writes, in the folder of path and instead of its weights, the
// adapters as a PEFT adapter folder naming its base folder (SaveMerged writes the merged model).
func (p *Policy) Save(path string, meta map[string]string) error {
	m := p.Model
	if p.HasAdapters() {
		return m.SaveLoRA(filepath.Dir(path), p.dir, meta)
	}
	all := m.lm.Tensors()
	for _, n := range m.vision.names {
		all[n] = m.vision.named[n]
	}
	return hf.SaveFolder(path, m.lm.Device(), all, p.dir, meta, processorFiles())
}
