package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"github.com/unigrpo/unigrpo/internal/raw"
)

// The files of an adapter folder, as PEFT's save_pretrained writes them and from_pretrained
// reads them.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
)

// adapterConfig is the part of PEFT's LoraConfig that adapter_config.json records here: the
// fields LoRA's math depends on, and the defaults PEFT would write for the rest, so that PEFT
// reads the folder as the adapter this project trained (no dropout at inference, no bias, plain
// LoRA: neither rsLoRA nor DoRA).
type adapterConfig struct {
	PeftType        string   `json:"peft_type"`
	TaskType        string   `json:"task_type"`
	Base            string   `json:"base_model_name_or_path"`
	R               int      `json:"r"`
	Alpha           float64  `json:"lora_alpha"`
	Targets         []string `json:"target_modules"`
	Dropout         float64  `json:"lora_dropout"`
	Bias            string   `json:"bias"`
	FanInFanOut     bool     `json:"fan_in_fan_out"`
	InferenceMode   bool     `json:"inference_mode"`
	InitLoraWeights bool     `json:"init_lora_weights"`
	UseRSLoRA       bool     `json:"use_rslora"`
	UseDoRA         bool     `json:"use_dora"`
	ModulesToSave   []string `json:"modules_to_save"`
	// ExcludeModules keeps PEFT's suffix match of Targets off modules outside the decoder (a
	// regular expression; Decoder.SetPEFTModule). Read back, it is not needed: the decoder alone
	// has adapters here.
	ExcludeModules any `json:"exclude_modules,omitempty"`
}

// SaveLoRA writes the decoder's adapters to dir as a PEFT adapter folder: adapter_config.json
// (base: the base model's folder, recorded as an absolute path) and adapter_model.safetensors
// (float32, PEFT's tensor names, meta in its metadata), each atomically.
func (m *Decoder) SaveLoRA(dir, base string, meta map[string]string) error {
	if m.lora == nil {
		return fmt.Errorf("hf: save adapters: the decoder has no LoRA adapters")
	}
	abs, err := filepath.Abs(base)
	if err != nil {
		return fmt.Errorf("hf: save adapters: %w", err)
	}
	c := m.lora.cfg
	js, err := json.MarshalIndent(adapterConfig{PeftType: "LORA", TaskType: "CAUSAL_LM", Base: abs,
		R: c.Rank, Alpha: c.Alpha, Targets: c.Targets, Bias: "none", InferenceMode: true, InitLoraWeights: true, ExcludeModules: excludeModules(m.peftExclude)}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeSafetensors(filepath.Join(dir, AdapterWeightsFile), m.dev, m.LoRATensors(), meta); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, AdapterConfigFile), append(js, '\n')); err != nil {
		return fmt.Errorf("hf: save adapters: %w", err)
	}
	return nil
}

// IsAdapterFolder reports whether dir holds a PEFT adapter (its adapter_config.json).
func IsAdapterFolder(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, AdapterConfigFile))
	return err == nil
}

// AdapterBase returns the base model's folder an adapter folder names (ReadAdapterFolder's base),
// or an error when it names none: the adapters cannot be loaded without it.
func AdapterBase(dir string) (string, error) {
	_, base, err := ReadAdapterFolder(dir)
	if err != nil {
		return "", err
	}
	if base == "" {
		return "", fmt.Errorf("hf: %s names no base model (base_model_name_or_path)", filepath.Join(dir, AdapterConfigFile))
	}
	return base, nil
}

// ReadAdapterFolder reads the adapter_config.json of a LoRA adapter folder: the adapters' config
// and the base model's folder (relative paths are taken from dir).
func ReadAdapterFolder(dir string) (cfg LoRAConfig, base string, err error) {
	js, err := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
	if err != nil {
		return cfg, "", fmt.Errorf("hf: adapter folder: %w", err)
	}
	var ac adapterConfig
	if err := json.Unmarshal(js, &ac); err != nil {
		return cfg, "", fmt.Errorf("hf: %s is damaged: %w", filepath.Join(dir, AdapterConfigFile), err)
	}
	if ac.PeftType != "LORA" || ac.UseDoRA || ac.UseRSLoRA || ac.FanInFanOut {
		return cfg, "", fmt.Errorf("hf: %s: only plain LoRA adapters are read (peft_type LORA, without DoRA, rsLoRA or fan_in_fan_out)", filepath.Join(dir, AdapterConfigFile))
	}
	cfg = LoRAConfig{Rank: ac.R, Alpha: ac.Alpha, Targets: ac.Targets}
	if err := cfg.Check(); err != nil {
		return cfg, "", fmt.Errorf("hf: %s: %w", filepath.Join(dir, AdapterConfigFile), err)
	}
	base = ac.Base
	if base != "" && !filepath.IsAbs(base) {
		base = filepath.Join(dir, base)
	}
	return cfg, base, nil
}

// LoadAdapterFolder gives the decoder the adapters of a PEFT adapter folder (ReadAdapterFolder's
// config, adapter_model.safetensors's weights).
func (m *Decoder) LoadAdapterFolder(dir string) error {
	cfg, _, err := ReadAdapterFolder(dir)
	if err != nil {
		return err
	}
	ws, err := OpenSafetensors(filepath.Join(dir, AdapterWeightsFile))
	if err != nil {
		return err
	}
	defer ws.Close()
	return m.LoadLoRA(cfg, ws)
}

// SaveMerged writes the decoder with its adapters merged (MergedTensors) as a float32 Hugging
// Face model folder at path (a model.safetensors), with the config and tokenizer files of the
// base folder src (SaveFolder).
func (m *Decoder) SaveMerged(path, src string, meta map[string]string) error {
	a := raw.New(m.dev.CInt())
	defer a.Free()
	ts, err := m.MergedTensors(a)
	if err != nil {
		return fmt.Errorf("hf: merge adapters: %w", err)
	}
	return SaveFolder(path, m.dev, ts, src, meta, nil)
}

// excludeModules is adapter_config.json's exclude_modules for the regular expression re: nil
// (left out) when empty.
func excludeModules(re string) any {
	if re == "" {
		return nil
	}
	return re
}
