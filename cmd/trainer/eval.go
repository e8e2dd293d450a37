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
	"github.com/unigrpo/unigrpo/world"
)

// runEval is `trainer eval`: it benchmarks each checkpoint on the held-out scenes (or images).
func runEval(args []string) error {
	fs := newFlags("eval", "--ckpt PATH [--ckpt PATH ...] [--out DIR] [flags]")
	ckpts := fs.StringArray("ckpt", nil, "checkpoint to evaluate (run folder, checkpoint folder or .safetensors); repeat for several; NAME=PATH names a row")
	out := fs.String("out", "", "folder for unibench.json, unibench.md, unibench_scenes.csv and examples.png (nothing written when empty)")
	scenes := fs.Int("scenes", 100, "held-out scenes (the paper uses 100 images)")
	split := fs.String("split", "benchmark", "the world's held-out scenes to evaluate on: benchmark (the reported numbers) or validation (what trainer train evaluates on, for choosing settings)")
	seed := fs.Uint64("seed", trainer.BenchmarkSeed, fmt.Sprintf("seed of the held-out scenes (default: %d for the benchmark, %d, trainer train's --val-seed, for validation)", trainer.BenchmarkSeed, trainer.ValSeed))
	boot := fs.Int("bootstrap", eval.DefaultBootstrap, "resamples of the scenes behind each 95% interval and paired difference against the first --ckpt (0: no intervals)")
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
	if *boot < 0 {
		return usagef("eval: --bootstrap %d: use 0 (no intervals) or more resamples", *boot)
	}
	sp, err := world.ParseSplit(*split)
	if err != nil || sp == world.Train {
		return usagef("eval: --split %s: use benchmark or validation", *split)
	}
	if *imgs != "" && fs.Changed("split") {
		return usagef("eval: --split applies to the world's scenes; --images has one held-out share (--images-held-out)")
	}
	if sp == world.Validation && !fs.Changed("seed") {
		*seed = trainer.ValSeed
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
	task, err := chooseEvalTask(list, *imgs, *held, *maxPixels, *guidance, sp == world.Benchmark, dev)
	if err != nil {
		return err
	}
	splitName := ""
	if *imgs == "" {
		splitName = sp.String()
	}
	rep, err := eval.Bench(list, task, eval.Options{Scenes: *scenes, Seed: *seed, Sampling: eval.SampleOptions{Temperature: *temp, Seed: *seed},
		Examples: *examples, Out: *out, Bootstrap: *boot, Split: splitName})
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
// (the benchmark's split, or the validation's) or on imgs.
func chooseEvalTask(list []eval.Checkpoint, imgs string, held float64, maxPixels int, guidance float64, benchmark bool, dev gotch.Device) (eval.Task, error) {
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
		return unifiedEvalTask(dev, guidance, benchmark), nil
	}
	return evalTask(imgs, held, maxPixels, list, benchmark, dev)
}
