package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/unigrpo/unigrpo/models/hf"
)

// loraSettings are the LoRA flags of `trainer train`, as config.json records them.
type loraSettings struct {
	LoRARank    int     `json:"lora_rank,omitempty"`    // adapter rank (0: full fine-tuning)
	LoRAAlpha   float64 `json:"lora_alpha,omitempty"`   // scale numerator (0: 2 x rank)
	LoRATargets string  `json:"lora_targets,omitempty"` // projections adapted, comma-separated
}

// addLoRAFlags registers --lora-rank, --lora-alpha and --lora-targets.
func addLoRAFlags(fs *pflag.FlagSet, s *loraSettings) {
	fs.IntVar(&s.LoRARank, "lora-rank", 0, "with a Hugging Face language model (qwen2, llama) or Qwen2.5-VL (its language model; the vision tower stays frozen): train rank-R LoRA adapters on --lora-targets instead of every weight (0: full fine-tuning); the base weights stay frozen and the KL reference is the model with its adapters off")
	fs.Float64Var(&s.LoRAAlpha, "lora-alpha", 0, "LoRA scale numerator: the adapters add (alpha/rank) B A x (0: 2 x --lora-rank)")
	fs.StringVar(&s.LoRATargets, "lora-targets", strings.Join(hf.DefaultLoRATargets(), ","), "projections that get adapters, comma-separated: "+strings.Join(hf.LoRATargets(), ","))
}

// config is the LoRA of the settings, nil with rank 0; an impossible setting is a usage error
// naming the flag.
func (s loraSettings) config() (*hf.LoRAConfig, error) {
	if s.LoRARank < 0 {
		return nil, usagef("--lora-rank %d: use 0 (full fine-tuning) or a positive rank", s.LoRARank)
	}
	if s.LoRARank == 0 {
		return nil, nil
	}
	c := hf.LoRAConfig{Rank: s.LoRARank, Alpha: s.LoRAAlpha, Targets: strings.Split(s.LoRATargets, ",")}
	if c.Alpha == 0 {
		c.Alpha = float64(2 * c.Rank)
	}
	for i, t := range c.Targets {
		c.Targets[i] = strings.TrimSpace(t)
	}
	if err := c.Check(); err != nil {
		return nil, usagef("--lora-rank/--lora-alpha/--lora-targets: %v", err)
	}
	return &c, nil
}

// adapterDir returns the folder of a LoRA checkpoint or PEFT adapter folder that path names (the
// folder, or a file in it, such as the adapter_model.safetensors a resumed run loads), else "".
func adapterDir(path string) string {
	for _, dir := range []string{path, filepath.Dir(path)} {
		if st, err := os.Stat(dir); err == nil && st.IsDir() && hf.IsAdapterFolder(dir) {
			return dir
		}
	}
	return ""
}
