package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/unigrpo/unigrpo/launch"
	"github.com/unigrpo/unigrpo/models/hf/shape"
	"github.com/unigrpo/unigrpo/monitor"
	"github.com/unigrpo/unigrpo/plan"
	"github.com/unigrpo/unigrpo/trainer"
	"github.com/unigrpo/unigrpo/world"
)

// planKnobs are the memory knobs of a run, as `trainer plan` takes them.
type planKnobs struct {
	shard, checkpointing bool
	micro, rollout       int
}

func addPlanKnobs(fs *pflag.FlagSet) *planKnobs {
	k := &planKnobs{}
	fs.BoolVar(&k.shard, "shard-optimizer", true, "with several ranks: split the float32 masters and AdamW moments over the ranks (ZeRO-1), as train does by default")
	fs.BoolVar(&k.checkpointing, "activation-checkpointing", false, "recompute each decoder layer's activations in the backward instead of keeping them")
	fs.IntVar(&k.micro, "micro-batch", 0, "sequences per forward and backward of the update (0: all of a rank's; else a multiple of --group or a divisor of it)")
	fs.IntVar(&k.rollout, "rollout-batch", 0, "images sampled together in the rollout, each with its --group captions (0: all of a rank's)")
	return k
}

func runPlan(args []string) error {
	c := defaultTrainConfig()
	fs := newFlags("plan", "--init DIR [--np N] [the run's flags] [--budget SIZE] [--json]")
	fs.StringVar(&c.Init, "init", "", "Hugging Face model folder to size: only its config.json (and preprocessor_config.json) is read")
	np := fs.Int("np", 1, "ranks of the run (launch -np)")
	fs.IntVarP(&c.Batch, "batch", "B", c.Batch, "images per step over all ranks")
	fs.IntVarP(&c.Group, "group", "G", c.Group, "captions sampled per image")
	fs.IntVar(&c.MaxLen, "max-len", c.MaxLen, "most tokens per caption (0: the run's default)")
	fs.StringVar(&c.DType, "dtype", "float32", "float32 or bfloat16")
	fs.Float64Var(&c.Beta, "beta", c.Beta, "weight of the KL term: above 0, a frozen reference copy of the model")
	fs.IntVar(&c.ImageSize, "image-size", 0, "the side source images are fitted to (0: the run's default)")
	fs.BoolVar(&c.TrainVision, "train-vision", c.TrainVision, "a Janus model's vision tower trains too")
	addLoRAFlags(fs, &c.loraSettings)
	knobs := addPlanKnobs(fs)
	optimizer := fs.String("optimizer", "auto", "where the optimizer state lives: auto (on the GPU under CUDA), host or device")
	fs.StringVar(&c.Device, "device", c.Device, "cpu, cuda or auto (cuda when NVML sees a GPU)")
	budget := fs.String("budget", "", "memory of one GPU, such as 80GB or 79.6GiB (default: NVML's reading of GPU 0 with --device cuda)")
	hostBudget := fs.String("host-budget", "", "memory of the host, shared by its --np ranks, such as 2TB (default: this machine's MemAvailable)")
	prompt := fs.Int("prompt-tokens", plan.DefaultPromptTokens, "text tokens of the prompt around the image")
	asJSON := fs.Bool("json", false, "print the plan as JSON (rows, peaks, budget, suggestions with their plans)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.Init == "" {
		return usagef("plan: --init is required: a Hugging Face model folder (its config.json)")
	}
	m, err := shape.Read(c.Init)
	if err != nil {
		return usagef("plan: --init %s: %v", c.Init, err)
	}
	gpuBudget, gpuFrom, gpuErr := deviceBudget(*budget, 0)
	if u, ok := gpuErr.(usageError); ok {
		return u // a --budget that is not a size, whatever the device
	}
	cuda, err := planDevice(c.Device, gpuErr == nil)
	if err != nil {
		return err
	}
	in, err := planInput(c, m, *np, cuda, *optimizer, *knobs)
	if err != nil {
		return err
	}
	in.PromptTokens = *prompt
	p, err := plan.Compute(in)
	if err != nil {
		return usagef("plan: %v", err)
	}
	b, err := planBudget(cuda, gpuBudget, gpuFrom, gpuErr, *hostBudget, *np, os.Stderr)
	if err != nil {
		return err
	}
	plan.Suggest(p, b)
	if *asJSON {
		return p.JSON(os.Stdout)
	}
	return p.Write(os.Stdout)
}

// planDevice resolves --device for a plan: auto is cuda when NVML sees a GPU.
func planDevice(device string, gpu bool) (bool, error) {
	switch device {
	case "cpu", "":
		return false, nil
	case "cuda":
		return true, nil
	case "auto":
		return gpu, nil
	}
	return false, usagef("--device %q: use cpu, cuda or auto", device)
}

// planInput is the plan's view of a run: the model's shape and the settings that size its
// memory, with the run's defaults where a setting is 0 (the caption length, the image side).
func planInput(c trainConfig, m *shape.Model, ranks int, cuda bool, optimizer string, k planKnobs) (plan.Input, error) {
	in := plan.Input{Model: m, Ranks: ranks, Batch: c.Batch, Group: c.Group, MaxLen: c.MaxLen, ImageSize: c.ImageSize,
		DType: c.DType, Beta: c.Beta, TrainVision: c.TrainVision, Optimizer: optimizer, Device: "cpu",
		ShardOptimizer: k.shard, ActivationCheckpointing: k.checkpointing, MicroBatch: k.micro, RolloutBatch: k.rollout}
	lora, err := c.loraSettings.config()
	if err != nil {
		return in, err
	}
	if lora != nil {
		if m.Family != "qwen2" && m.Family != "llama" && m.Family != "qwen2_5_vl" {
			return in, usagef("--lora-rank: LoRA applies to Hugging Face language models (qwen2, llama) and Qwen2.5-VL's language model (qwen2_5_vl); --init %s is a %s model", m.Dir, m.Family)
		}
		in.LoRARank, in.LoRATargets = lora.Rank, lora.Targets
	}
	if cuda {
		in.Device = "cuda"
	}
	if in.MaxLen == 0 {
		in.MaxLen = 64 // grpoTask's default for a Hugging Face policy
		if m.Family == "janus" {
			in.MaxLen = 40 // unified.DefaultOptions
		}
	}
	if in.ImageSize, err = policyImageSize(c, m.Dir, m.Family); err != nil {
		return in, fmt.Errorf("--init %s: %w", m.Dir, err)
	}
	return in, nil
}

// deviceBudget is --budget, or the memory NVML reads of GPU ordinal (with the error when it
// cannot).
func deviceBudget(flag string, ordinal int) (int64, string, error) {
	if flag != "" {
		b, err := plan.ParseBytes(flag)
		if err != nil {
			return 0, "", usagef("--budget: %v", err)
		}
		return b, "--budget", nil
	}
	b, name, err := plan.GPUMemory(ordinal, monitor.Options{})
	if err != nil {
		return 0, "", err
	}
	return b, fmt.Sprintf("NVML: %s", name), nil
}

// planBudget is one rank's budget: its GPU's memory (cuda), and its share of the host's among
// hostRanks ranks. A budget that cannot be read is left out with a note on warn; a bad flag is a
// usage error.
func planBudget(cuda bool, gpu int64, gpuFrom string, gpuErr error, hostFlag string, hostRanks int, warn io.Writer) (plan.Budget, error) {
	var b plan.Budget
	if cuda {
		if gpuErr != nil {
			if u, ok := gpuErr.(usageError); ok {
				return b, u
			}
			fmt.Fprintf(warn, "trainer: no device budget (%v); pass --budget to check the device's memory\n", gpuErr)
		} else {
			b.Device, b.DeviceFrom = gpu, gpuFrom
		}
	}
	host, from := int64(0), ""
	if hostFlag != "" {
		v, err := plan.ParseBytes(hostFlag)
		if err != nil {
			return b, usagef("--host-budget: %v", err)
		}
		host, from = v, "--host-budget"
	} else if v, err := plan.HostAvailable("/proc/meminfo"); err == nil {
		host, from = v, "MemAvailable"
	} else {
		fmt.Fprintf(warn, "trainer: no host budget (%v)\n", err)
	}
	if host > 0 {
		hostRanks = max(hostRanks, 1)
		b.Host, b.HostFrom = host/int64(hostRanks), from
		if hostRanks > 1 {
			b.HostFrom = fmt.Sprintf("%s / %d ranks", from, hostRanks)
		}
	}
	return b, nil
}

// policyImageSize is the side of the images a Hugging Face policy in dir is given: --image-size,
// else a Qwen2.5-VL processor's default side (vlImageSize), else the world's (what grpoTask fits
// the sources to).
func policyImageSize(c trainConfig, dir, family string) (int, error) {
	if family == "qwen2_5_vl" {
		side, _, err := vlImageSize(dir, c.ImageSize)
		return side, err
	}
	if c.ImageSize > 0 {
		return c.ImageSize, nil
	}
	return world.DefaultConfig().Size, nil
}

// planCheck is how `trainer train` checks its memory plan.
type planCheck struct {
	off                *bool   // --no-plan-check
	budget, hostBudget *string // --budget, --host-budget
}

func planCheckFlags(fs *pflag.FlagSet) planCheck {
	return planCheck{
		off:        fs.Bool("no-plan-check", false, "with a Hugging Face --init: start even when the memory plan (printed at start; see trainer plan) is over the device's or the host's memory (its activation and CUDA runtime figures are estimates)"),
		budget:     fs.String("budget", "", "with a Hugging Face --init: the memory of one GPU the plan is checked against, such as 80GB (default: NVML's reading of the rank's GPU)"),
		hostBudget: fs.String("host-budget", "", "with a Hugging Face --init: the host memory its ranks share, such as 2TB (default: MemAvailable)"),
	}
}

// checkPlan prints the memory plan of an HF --init run (on rank 0) and refuses a run whose plan
// is over the budget of its device or host, before any weight is loaded. Runs of the world's own
// checkpoints (not Hugging Face folders) are tiny and not planned.
func checkPlan(c trainConfig, d *trainer.Dist, place placement, pc planCheck, out io.Writer) (*plan.Plan, error) {
	file, err := trainer.ResolveModel(c.Init)
	if err != nil {
		file = c.Init // a model folder without weights is planned; the load reports what it lacks
	}
	dir, typ := modelType(file)
	if dir == "" {
		return nil, nil
	}
	m, err := shape.Read(dir)
	if err != nil {
		return nil, fmt.Errorf("memory plan: %w", err)
	}
	dev, err := trainer.ParseDevice(c.Device, d.LocalRank, *place.shareGPUs)
	if err != nil {
		return nil, nil // reported where the run opens its device
	}
	cuda := dev.IsCuda()
	if typ == "janus" {
		c.DType = "float32" // the unified loader reads Janus in float32 (janus.OpenPolicy)
	}
	knobs := planKnobs{shard: d.Shard, checkpointing: c.ActivationCheckpointing, micro: c.MicroBatch, rollout: c.RolloutBatch}
	in, err := planInput(c, m, d.World(), cuda, *place.optimizer, knobs)
	if err != nil {
		return nil, err
	}
	p, err := plan.Compute(in)
	if err != nil {
		return nil, trainer.ConfigError{Err: fmt.Errorf("memory plan: %w", err)}
	}
	gpu, gpuFrom, gpuErr := int64(0), "", error(nil)
	if cuda {
		gpu, gpuFrom, gpuErr = deviceBudget(*pc.budget, dev.Value)
	}
	b, err := planBudget(cuda, gpu, gpuFrom, gpuErr, *pc.hostBudget, localRanks(d.World()), out)
	if err != nil {
		return nil, err
	}
	plan.Suggest(p, b)
	if d.Rank() == 0 {
		fmt.Fprint(out, p.Summary())
	}
	if p.Fits || *pc.off {
		return p, nil
	}
	return nil, trainer.ConfigError{Err: fmt.Errorf("the memory plan does not fit (%s); %s; `trainer plan --init %s` with this run's flags prints the table; --no-plan-check runs anyway",
		strings.Join(p.Over, ", "), p.Knobs(), c.Init)}
}

// localRanks is the number of ranks on this node (launch's LOCAL_WORLD_SIZE), else the world.
func localRanks(world int) int {
	if env, err := launch.FromEnv(); err == nil && env.LocalWorldSize > 0 {
		return env.LocalWorldSize
	}
	return world
}
