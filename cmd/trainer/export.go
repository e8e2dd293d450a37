package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/lm"
	"github.com/unigrpo/unigrpo/models/hf/qwenvl"
	"github.com/unigrpo/unigrpo/trainer"
)

// runExport writes the adapters of a LoRA checkpoint as a model folder: merged into the base
// weights (--merge: a Hugging Face folder transformers loads alone) or as a PEFT adapter folder
// (PeftModel.from_pretrained over the base).
func runExport(args []string) error {
	fs := newFlags("export", "--ckpt CKPT --out DIR [--merge]")
	ckpt := fs.String("ckpt", "", "a LoRA checkpoint: a run folder of `train --lora-rank` (its newest checkpoint), a checkpoint folder or a PEFT adapter folder")
	out := fs.String("out", "", "the folder to write (created)")
	merge := fs.Bool("merge", false, "merge the adapters into the base weights (W + alpha/r B A) and write a float32 Hugging Face model folder; without it, write the PEFT adapter folder")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ckpt == "" || *out == "" {
		return usagef("export: --ckpt and --out are required")
	}
	file, err := trainer.ResolveModel(*ckpt)
	if err != nil {
		return usagef("export: --ckpt: %v", err)
	}
	dir := adapterDir(file)
	if dir == "" {
		return usagef("export: --ckpt %s holds no LoRA adapters (no %s); a full fine-tuning checkpoint is already a Hugging Face model folder", *ckpt, hf.AdapterConfigFile)
	}
	_, base, err := hf.ReadAdapterFolder(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	runtime.LockOSThread() // libtorch state is per thread
	defer runtime.UnlockOSThread()
	m, err := loadAdaptable(base)
	if err != nil {
		return fmt.Errorf("export: the base model of %s: %w", dir, err)
	}
	defer m.Close()
	if err := m.LoadAdapterFolder(dir); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	meta := map[string]string{"exported_from": dir}
	if *merge {
		err = m.SaveMerged(filepath.Join(*out, "model.safetensors"), base, meta)
	} else {
		err = m.SaveLoRA(*out, base, meta)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Printf("export: wrote %s (%s)\n", *out, map[bool]string{true: "adapters merged into " + base, false: "PEFT adapter folder over " + base}[*merge])
	return nil
}

// adaptable is a model that takes a PEFT adapter folder and writes its adapters merged or alone:
// a Hugging Face language model (lm.Model) or a Qwen2.5-VL model (qwenvl.Model, whose merged
// folder keeps its vision tower as loaded).
type adaptable interface {
	LoadAdapterFolder(dir string) error
	SaveMerged(path, src string, meta map[string]string) error
	SaveLoRA(dir, base string, meta map[string]string) error
	Close()
}

// loadAdaptable loads the base folder of an adapter folder on the CPU in float32, as the model of
// its family.
func loadAdaptable(base string) (adaptable, error) {
	if _, typ := modelType(base); typ == "qwen2_5_vl" {
		m, err := qwenvl.Load(base, gotch.CPU, raw.Float32)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	m, err := lm.Load(base, gotch.CPU, raw.Float32)
	if err != nil {
		return nil, err
	}
	return m, nil
}
