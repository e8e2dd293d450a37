package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/trainer"
)

// runEval is `trainer eval`: it benchmarks each checkpoint on the held-out scenes (or images).
func runEval(args []string) error {
	fs := newFlags("eval", "--ckpt PATH [--ckpt PATH ...] [--out DIR] [flags]")
	ckpts := fs.StringArray("ckpt", nil, "checkpoint to evaluate (run folder, checkpoint folder or .safetensors); repeat for several; NAME=PATH names a row")
	out := fs.String("out", "", "folder for unibench.json, unibench.md, unibench_scenes.csv and examples.png (nothing written when empty)")
	scenes := fs.Int("scenes", 100, "held-out scenes (the paper uses 100 images)")
	seed := fs.Uint64("seed", trainer.DefaultGRPOConfig().EvalSeed, "seed of the held-out scenes, disjoint from training scenes")
	temp := fs.Float64("temperature", 0, "sample captions at this temperature (0: greedy)")
	examples := fs.Int("examples", 6, "scenes drawn in examples.png")
	device := fs.String("device", "cpu", "cpu, cuda or auto")
	place := placementFlags(fs, "libtorch threads")
	imgs := fs.String("images", "", "evaluate on these image files instead of the world's scenes: a folder or JSONL manifest (its held-out split, the first --scenes files; no understanding metrics)")
	held := fs.Float64("images-held-out", defaultTrainConfig().ImagesHeld, "the held-out share of --images, as in trainer train (0: every file)")
	maxPixels := fs.Int("max-image-pixels", images.DefaultMaxPixels, "refuse an --images file whose header claims more pixels than this")
	guidance := fs.Float64("guidance", defaultTrainConfig().Guidance, "unified-model runs: classifier-free guidance scale of their drawings")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(*ckpts) == 0 {
		return usagef("eval: give at least one --ckpt")
	}
	if *scenes < 1 || *temp < 0 || *examples < 0 {
		return usagef("eval: --scenes must be positive, --temperature and --examples not negative")
	}
	if !(*held >= 0 && *held < 1) {
		return usagef("eval: --images-held-out %v: must be in [0, 1)", *held)
	}
	if *imgs != "" {
		if _, err := os.Stat(*imgs); err != nil {
			return usagef("eval: --images %s: no such folder or manifest", *imgs)
		}
	}
	list, err := evalCheckpoints(*ckpts)
	if err != nil {
		return err
	}
	d, cleanup, err := connect(place, *device)
	if err != nil {
		return err
	}
	defer cleanup()
	dev, err := trainer.ParseDevice(*device, d.LocalRank, d.ShareGPUs)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	task, err := chooseEvalTask(list, *imgs, *held, *maxPixels, *guidance, dev)
	if err != nil {
		return err
	}
	rep, err := eval.Bench(list, task, eval.Options{Scenes: *scenes, Seed: *seed, Sampling: eval.SampleOptions{Temperature: *temp, Seed: *seed},
		Examples: *examples, Out: *out})
	if err != nil {
		return err
	}
	fmt.Print(rep.Markdown())
	if *out != "" {
		fmt.Printf("\nwrote %s, %s, %s and %s\n", filepath.Join(*out, "unibench.json"), filepath.Join(*out, "unibench.md"),
			filepath.Join(*out, "unibench_scenes.csv"), filepath.Join(*out, "examples.png"))
	}
	return nil
}

// evalCheckpoints resolves each --ckpt (PATH or NAME=PATH) to its weights file, named by its
// folder when no name is given.
func evalCheckpoints(ckpts []string) ([]eval.Checkpoint, error) {
	var list []eval.Checkpoint
	for _, c := range ckpts {
		name, path := "", c
		if i := strings.Index(c, "="); i > 0 {
			name, path = c[:i], c[i+1:]
		}
		file, err := trainer.ResolveModel(path)
		if err != nil {
			return nil, usagef("eval: --ckpt %s: %v", path, err)
		}
		if name == "" {
			name = filepath.Base(filepath.Clean(path))
		}
		list = append(list, eval.Checkpoint{Name: name, Path: file})
	}
	return list, nil
}

// chooseEvalTask returns the task the checkpoints are benchmarked on: the unified model's for
// unified-model runs (which take no --images), otherwise the captioner's on the world's scenes
// or on imgs.
func chooseEvalTask(list []eval.Checkpoint, imgs string, held float64, maxPixels int, guidance float64, dev gotch.Device) (eval.Task, error) {
	var paths []string
	for _, ck := range list {
		paths = append(paths, ck.Path)
	}
	isUni, err := checkUnifiedMix(paths)
	if err != nil {
		return eval.Task{}, err
	}
	switch {
	case isUni && imgs != "":
		return eval.Task{}, usagef("eval: unified-model runs are benchmarked on the world's scenes; drop --images")
	case isUni:
		return unifiedEvalTask(dev, guidance), nil
	}
	return evalTask(imgs, held, maxPixels, list, dev)
}
