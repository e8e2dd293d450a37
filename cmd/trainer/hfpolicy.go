package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/lm"
	"github.com/unigrpo/unigrpo/models/hf/qwenvl"
	"github.com/unigrpo/unigrpo/models/hf/tokenizer"
	"github.com/unigrpo/unigrpo/trainer"
)

// modelDir returns the folder of a checkpoint when it is a Hugging Face model folder (its
// config.json names a model_type), else "".
func modelDir(path string) string {
	dir, _ := modelType(path)
	return dir
}

// modelType returns a Hugging Face checkpoint's folder and model_type ("" when it is not one).
func modelType(path string) (dir, typ string) {
	dir, typ, _ = readModelType(path)
	return dir, typ
}

// readModelType is modelType with the reason a folder is not a Hugging Face model folder: its
// config.json is missing, cannot be read, is not JSON, or names no model_type.
func readModelType(path string) (dir, typ string, why error) {
	dir = path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	file := filepath.Join(dir, "config.json")
	js, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("it has no config.json")
	}
	if err != nil {
		return "", "", fmt.Errorf("its config.json cannot be read: %w", err)
	}
	var c struct {
		ModelType string `json:"model_type"`
	}
	if err := json.Unmarshal(js, &c); err != nil {
		return "", "", damaged{fmt.Errorf("%s cannot be parsed: %v", file, err)}
	}
	if c.ModelType == "" {
		return "", "", fmt.Errorf("%s names no model_type", file)
	}
	return dir, c.ModelType, nil
}

// notModelFolder says why path is not a Hugging Face model folder.
func notModelFolder(path string) error {
	_, _, why := readModelType(path)
	return fmt.Errorf("%s is not a Hugging Face model folder: %v", path, why)
}

// damaged marks a config.json that is there but cannot be parsed.
type damaged struct{ error }

// damagedConfig returns the parse error of path's config.json when it has one that cannot be
// parsed (a Hugging Face folder or a run folder with a damaged file), else nil.
func damagedConfig(path string) error {
	_, _, why := readModelType(path)
	var d damaged
	if errors.As(why, &d) {
		return why
	}
	return nil
}

// parseDType reads --dtype.
func parseDType(s string) (raw.Kind, error) {
	switch s {
	case "float32", "fp32", "":
		return raw.Float32, nil
	case "bfloat16", "bf16":
		return raw.BFloat16, nil
	}
	return 0, usagef("--dtype %q: use float32 or bfloat16", s)
}

// hfText is what a Hugging Face language model needs besides its weights to caption: its
// tokenizer, the prompt's ids and its end tokens.
type hfText struct {
	tok    *tokenizer.Tokenizer
	prompt []int
	stop   []int
}

// openHFText reads dir's tokenizer and encodes the prompt (the family's chat template when chat).
func openHFText(dir, prompt string, chat bool) (*hfText, error) {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := hf.ReadLMConfig(dir)
	if err != nil {
		return nil, err
	}
	text := prompt
	if chat {
		if text, err = hf.ChatPrompt(cfg.ModelType, prompt); err != nil {
			return nil, usagef("--chat: %v", err)
		}
	}
	ids, err := tok.Encode(text, !chat)
	if err != nil {
		return nil, fmt.Errorf("--prompt: %w", err)
	}
	if len(ids) == 0 {
		return nil, usagef("--prompt: the prompt encodes to no token")
	}
	h := &hfText{tok: tok, prompt: ids, stop: cfg.EOSIDs()}
	if id, ok := tok.EOS(); ok && !contains(h.stop, id) {
		h.stop = append(h.stop, id)
	}
	if chat {
		if id, ok := tok.TokenID(hf.ChatEnd(cfg.ModelType)); ok && !contains(h.stop, id) {
			h.stop = append(h.stop, id)
		}
	}
	return h, nil
}

// text detokenizes a caption, special tokens left out, and ids the tokenizer does not know as
// well (a model's embedding table is often padded past the tokenizer's vocabulary, and a sampled
// caption may hold such an id), as transformers' decode does.
func (h *hfText) text(ids []int) string {
	known := make([]int, 0, len(ids))
	for _, id := range ids {
		if _, ok := h.tok.Token(id); ok {
			known = append(known, id)
		}
	}
	s, err := h.tok.Decode(known, true)
	if err != nil {
		return ""
	}
	return s
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// hfPolicyLoader loads Hugging Face language models as text-prompted policies of at most maxLen
// caption tokens. With lora, a policy that trains gets fresh adapters of it (drawn from seed); a
// LoRA checkpoint (a PEFT adapter folder) loads its base model and its adapters.
func hfPolicyLoader(h *hfText, kind raw.Kind, maxLen int, lora *hf.LoRAConfig, seed uint64) func(string, gotch.Device, trainer.LoadOptions) (trainer.Policy, error) {
	return func(path string, dev gotch.Device, o trainer.LoadOptions) (trainer.Policy, error) {
		if ad := adapterDir(path); ad != "" {
			p, err := lm.NewAdaptedTextPolicy(ad, dev, kind, h.prompt, h.stop, h.text, maxLen, !o.Frozen)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
		dir := modelDir(path)
		if dir == "" {
			return nil, notModelFolder(path)
		}
		p, err := lm.NewTextPolicy(dir, dev, kind, h.prompt, h.stop, h.text, maxLen, !o.Frozen)
		if err != nil {
			return nil, err
		}
		if lora != nil && !o.Frozen {
			if err := p.AddLoRA(*lora, seed); err != nil {
				p.Close()
				return nil, err
			}
		}
		return p, nil
	}
}

// qwenVLLoader loads Qwen2.5-VL folders as policies that caption square images of side size
// (vision tower frozen, language model trained), at most maxLen tokens per caption. With lora, a
// policy that trains gets fresh adapters of it on its language model (drawn from seed) and is
// its own KL reference; a LoRA checkpoint (a PEFT adapter folder) loads its base model and its
// adapters.
func qwenVLLoader(prompt string, kind raw.Kind, size, maxLen int, lora *hf.LoRAConfig, seed uint64) func(string, gotch.Device, trainer.LoadOptions) (trainer.Policy, error) {
	return func(path string, dev gotch.Device, o trainer.LoadOptions) (trainer.Policy, error) {
		chat, err := hf.ImageChatPrompt("qwen2_5_vl", prompt)
		if err != nil {
			return nil, err
		}
		if ad := adapterDir(path); ad != "" {
			p, err := qwenvl.NewAdaptedPolicy(ad, dev, kind, chat, size, maxLen, !o.Frozen)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
		dir := modelDir(path)
		if dir == "" {
			return nil, notModelFolder(path)
		}
		if from, ok := o.Share.(*qwenvl.Policy); ok && o.Frozen {
			p, err := qwenvl.NewFrozenSharingVision(dir, dev, kind, chat, size, maxLen, from)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
		p, err := qwenvl.NewPolicy(dir, dev, kind, chat, size, maxLen, !o.Frozen)
		if err != nil {
			return nil, err
		}
		if lora != nil && !o.Frozen {
			if err := p.AddLoRA(*lora, seed); err != nil {
				p.Close()
				return nil, err
			}
		}
		return p, nil
	}
}

// vlImageSize is the side a Qwen2.5-VL policy's source images are fitted to, and where it came
// from (for the run's log): --image-size when given (flag > 0), else the side its processor reads
// at qwenvl.DefaultTokens image tokens (the folder's preprocessor_config.json: 448 px for
// Qwen2.5-VL's). The world's 32 px would leave the policy 4 image tokens.
func vlImageSize(dir string, flag int) (int, string, error) {
	if flag > 0 {
		return flag, "--image-size", nil
	}
	proc, err := qwenvl.LoadImageProcessor(dir)
	if err != nil {
		return 0, "", err
	}
	side := proc.DefaultSide()
	n, err := proc.Tokens(side, side)
	if err != nil {
		return 0, "", err
	}
	return side, fmt.Sprintf("the default of %s: %d image tokens; --image-size sets another", filepath.Join(dir, hf.PreprocessorFile), n), nil
}
