package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/spf13/pflag"

	"github.com/unigrpo/unigrpo/internal/progress"
	"github.com/unigrpo/unigrpo/launch"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/trainer"
)

// trainFlags are the flags of `trainer train`: those bound to a trainConfig (recorded in
// config.json) and the ones that are not.
type trainFlags struct {
	fs      *pflag.FlagSet
	resume  *string
	agg     *string
	timeout *time.Duration
	hidden  *bool
	place   placement
	pc      planCheck
	tb      *string
}

// newTrainFlags declares the flags onto c, its values as the defaults.
func newTrainFlags(c *trainConfig) trainFlags {
	fs := newFlags("train", "--init CKPT --out DIR [flags]  |  --resume DIR [--steps N]")
	resume := fs.String("resume", "", "continue the run in this folder from its newest checkpoint (its config.json is used)")
	fs.StringVar(&c.Init, "init", c.Init, "checkpoint to start from: a .safetensors file, a checkpoint folder or a run folder (its newest)")
	addRunFlags(fs, &c.RunConfig, "GRPO steps (with --resume: run on to this step)")
	fs.IntVarP(&c.Group, "group", "G", c.Group, "captions sampled per scene (paper: 4)")
	fs.Float64Var(&c.Beta, "beta", c.Beta, "weight of the k3 KL to the initial policy (paper: 1e-6; 0 turns it off)")
	fs.Float64Var(&c.Temperature, "temperature", c.Temperature, "sampling temperature (paper: 1.0)")
	fs.IntVar(&c.TopK, "top-k", c.TopK, "sample among the k most likely tokens (0: all)")
	fs.Float64Var(&c.TopP, "top-p", c.TopP, "nucleus sampling: among the fewest most likely tokens whose probability (after --temperature and --top-k) reaches this, in (0, 1] (0 or 1: all)")
	fs.IntVar(&c.MaxLen, "max-len", c.MaxLen, "most tokens per caption, EOS included (0: the model's limit)")
	fs.IntVar(&c.MinLen, "min-len", c.MinLen, "EOS is not sampled before a caption has this many tokens (0: off; --min-len = --max-len gives fixed-length rollouts for benchmarks)")
	fs.Float64Var(&c.EpsLow, "eps-low", c.EpsLow, "ratio clip below: 1 - eps-low")
	fs.Float64Var(&c.EpsHigh, "eps-high", c.EpsHigh, "ratio clip above: 1 + eps-high (DAPO uses 0.28)")
	agg := fs.String("loss-agg", string(c.LossAgg), "seq-mean-token-mean (paper Eq. 1), token-mean or dr-grpo")
	fs.BoolVar(&c.ScaleStd, "scale-std", c.ScaleStd, "divide advantages by the group's std (false: Dr. GRPO)")
	fs.IntVar(&c.Mu, "mu", c.Mu, "policy updates per rollout")
	fs.IntVar(&c.MicroBatch, "micro-batch", c.MicroBatch, "sequences per forward and backward of the update, gradients accumulated before one optimizer step (the same step, less activation memory): 0 (all of the rank's B*G at once), a multiple of --group or a divisor of it")
	fs.IntVar(&c.RolloutBatch, "rollout-batch", c.RolloutBatch, "images sampled at a time in the rollout, each with its --group captions (0: all of the rank's images at once); the captions do not depend on it")
	fs.BoolVar(&c.RewardOverlap, "reward-overlap", c.RewardOverlap, "with --reward-url and --rollout-batch: ask the services for each rollout chunk's rewards as soon as it is sampled, while the next chunk is sampled (the update still waits for every reward)")
	fs.StringVar(&c.Reward, "reward", c.Reward, "reward embedders, comma-separated: the world's (conv, colour, edge, or all) and Hugging Face vision encoders as NAME=DIR or hf:DIR (CLIP, DINOv2, SigLIP); the reward is their mean cosine")
	fs.StringVar(&c.Unstated, "reward-unstated", c.Unstated, "how the world's in-process decoder draws an object a caption states in part: prior (its missing size, colour, shape or position at random, as a generator fills in detail) or omit (left out: only objects stated in full are drawn; for studying what the prior rewards)")
	fs.BoolVar(&c.TrainVision, "train-vision", c.TrainVision, "train the vision encoder too (the paper keeps it frozen)")
	fs.StringVar(&c.Images, "images", c.Images, "train on these source images instead of the world's scenes: a folder of PNG/JPEG/WebP files or a JSONL manifest ({\"image\": path})")
	fs.Float64Var(&c.ImagesHeld, "images-held-out", c.ImagesHeld, "share of --images held out of training, by a hash of each file name (evaluated every --eval-every steps)")
	fs.BoolVar(&c.SkipBad, "skip-bad-images", c.SkipBad, "skip an unreadable --images file, or one over --max-image-pixels (counted in metrics as images_skipped), instead of stopping")
	fs.IntVar(&c.MaxPixels, "max-image-pixels", c.MaxPixels, "refuse an --images file whose header claims more pixels than this (read before decoding: a small file may claim gigapixels)")
	fs.StringArrayVar((*[]string)(&c.RewardURL), "reward-url", nil, "use the reward service at this address (http://HOST:PORT or unix:///PATH; see trainer serve-reward) instead of the in-process world reward; --reward is then the service's choice. Give it several times, or name a file listing addresses one a line, for a pool: each rank spreads its captions over the services and drops one that dies")
	rewardDeviceFlags(fs, &c.RewardDevice, &c.RewardBatch, "default: the rank's --device")
	timeout := fs.Duration("reward-timeout", 2*time.Minute, "deadline of each call to the reward service, retries included")
	hidden := fs.Bool("reward-hidden", false, "send each caption's last hidden state to the reward service (for a decoder conditioned on it, UMM-1 in the paper)")
	fs.StringVar(&c.Prompt, "prompt", c.Prompt, "with a Hugging Face model as --init: the prompt every caption continues (a Qwen2.5-VL model sees the image before it; a language model only the text)")
	fs.BoolVar(&c.Chat, "chat", c.Chat, "with a Hugging Face language model: wrap --prompt in the family's chat format")
	fs.StringVar(&c.DType, "dtype", c.DType, "with a Hugging Face model: float32 or bfloat16")
	fs.IntVar(&c.ImageSize, "image-size", c.ImageSize, "with a Qwen2.5-VL policy: the side --images files are fitted to before its processor (0: the processor's default, the side of 256 image tokens within its pixel bounds: 448 for Qwen2.5-VL's preprocessor_config.json)")
	fs.Float64Var(&c.Guidance, "guidance", c.Guidance, "with a unified model as --init: classifier-free guidance scale of the images it draws from its captions (1: none)")
	fs.Float64Var(&c.DrawTemperature, "draw-temperature", c.DrawTemperature, "with a unified model as --init: temperature of the image codes it draws for the reward (0: greedy, so the reward depends on the caption alone)")
	fs.BoolVar(&c.Joint, "joint", c.Joint, "with a unified model as --init: optimise the drawing direction too, the GRPO objective covering the image codes drawn for each caption as well as the caption (needs --draw-temperature > 0)")
	fs.IntVar(&c.DrawSamples, "draw-samples", c.DrawSamples, "with --joint: K drawings per caption; a caption's reward is the mean of its K and each drawing's advantage is normalised within its caption's K (0 or 1: one drawing, whose advantage is its caption's: the default)")
	fs.BoolVar(&c.ActivationCheckpointing, "activation-checkpointing", c.ActivationCheckpointing, "with a Hugging Face or unified model: recompute each decoder layer's activations in the update's backward instead of keeping them (one more forward of the layers; the peak holds one layer's activations and each layer's input)")
	addLoRAFlags(fs, &c.loraSettings)
	place := placementFlags(fs, "libtorch threads per process (1 is fastest for this small model)")
	pc := planCheckFlags(fs)
	tb := tensorboardFlag(fs)
	return trainFlags{fs: fs, resume: resume, agg: agg, timeout: timeout, hidden: hidden, place: place, pc: pc, tb: tb}
}

func runTrain(args []string) error {
	runtime.LockOSThread() // the reward's Hugging Face encoders are built here, on libtorch
	defer runtime.UnlockOSThread()
	c := defaultTrainConfig()
	tf := newTrainFlags(&c)
	fs, resume, timeout, hidden, place, pc, tb := tf.fs, tf.resume, tf.timeout, tf.hidden, tf.place, tf.pc, tf.tb
	if err := parse(fs, args); err != nil {
		return err
	}
	c.LossAgg = trainer.LossAgg(*tf.agg)
	if *timeout <= 0 {
		return usagef("train: --reward-timeout %v: must be positive (it bounds each call to the reward service)", *timeout)
	}
	if *resume == "" && c.Out != "" && os.Getenv(launch.EnvRestartCount) != "" && os.Getenv(launch.EnvRestartCount) != "0" {
		// Restarted by launch --max-restarts: go on from the run's newest checkpoint if it has one,
		// else start again over the files of the attempt that failed (moved aside, not deleted).
		if cks, err := trainer.Checkpoints(c.Out); err == nil && len(cks) > 0 {
			fmt.Fprintf(os.Stderr, "trainer: restart %s: resuming %s from its newest checkpoint\n", os.Getenv(launch.EnvRestartCount), c.Out)
			*resume = c.Out
		} else {
			c.Force = true
		}
	}
	if *resume != "" {
		saved := defaultTrainConfig()
		if err := trainer.ReadRunConfig(*resume, &saved); err != nil {
			return err
		}
		// The run's own settings hold; only --steps (how far to go) may change.
		if err := sameSettings(saved, fs); err != nil {
			return err
		}
		steps := saved.Steps
		if fs.Changed("steps") {
			steps = c.Steps
		}
		c, c.Steps, c.Out = saved, steps, *resume
	} else if c.Init == "" || c.Out == "" {
		return usagef("train: --init and --out are required (or --resume DIR)")
	}
	d, cleanup, err := connect(place, c.Device)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := c.validate(d.World()); err != nil {
		return err // before the task opens --init and --images
	}
	pl, err := checkPlan(c, d, place, pc, os.Stdout)
	if err != nil {
		return err // before any weight is loaded
	}
	enc, err := rewardEncoders(c, d)
	if err != nil {
		return err
	}
	task, err := grpoTask(c, *timeout, *hidden, d.Rank(), enc)
	if err != nil {
		return err
	}
	if cl, ok := task.Reward.(interface{ Close() }); ok {
		defer cl.Close()
	}
	if *resume == "" {
		if task.Files, err = runConfig(fs); err != nil {
			return err
		}
	}
	keys := []string{"reward_mean", "length_mean", "kl", "eval_reward"}
	if p, ok := task.Reward.(*reward.Pool); ok {
		keys = append(keys, poolKeys(p.Size())...)
	}
	obs, closeTB, err := withTensorBoard(progress.New(os.Stdout, c.LogEvery, keys...), tensorboardDir(*tb, c.Out), d.Rank())
	if err != nil {
		return err
	}
	task.Config = c
	err = pl.ExplainOOM(trainer.Train(c.GRPOConfig, task, *resume != "", d, obs))
	if cerr := closeTB(); err == nil {
		err = cerr
	}
	return err
}
