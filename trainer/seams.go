package trainer

import (
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/reward"
)

// Policy is the captioner being trained (image-to-text): the world's tiny captioner, or a Hugging
// Face vision-language model. All calls happen on the loop's goroutine, locked to its OS thread.
type Policy interface {
	// Sample draws G captions per image (eval.Captioner), and Text detokenizes one for the reward.
	eval.Captioner
	// LogProbs scores given captions by teacher forcing (row b*G+g belongs to image b; tokens as
	// Sample returned them), recording an autograd graph through the trainable parameters.
	LogProbs(imgs []images.Planar, G int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error)
	// TrainableParams lists the parameters that train, in a fixed order, each saying whether
	// weight decay applies.
	TrainableParams() []policy.Param
	// Device is where the parameters live.
	Device() gotch.Device
	// MaxLen is the most tokens a caption may have, end token included.
	MaxLen() int
	// InputSize is the side of the square images the policy reads (its preprocessor's crop).
	InputSize() int
	// Save writes the weights (and what is needed to load them) to a model file, atomically.
	Save(path string, meta map[string]string) error
	// Close frees the policy's tensors.
	Close()
}

// Drawer is a policy that draws its own reward's images (a unified model, UMM-2). With
// GRPOConfig.Joint the objective also covers the image codes it drew for each caption, so that
// the drawing direction learns from the reward directly and not only through shared weights.
type Drawer interface {
	// DrawRewards draws the image of each caption (row r belongs to image r/G, its draws keyed by
	// keys[r]) as the policy's own reward does, and returns the rewards, each embedder's part
	// and the codes drawn [N][n].
	DrawRewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, [][]int, error)
	// CodeLogProbs scores codes drawn for captions by teacher forcing under the distribution
	// they were drawn from ([N, n] Scores), recording an autograd graph.
	CodeLogProbs(captions []string, codes [][]int, withEntropy bool) (*policy.Scores, error)
}

// Checkpointer is a Policy whose LogProbs can checkpoint its activations: with it on, the layers
// keep only their inputs and the Scores' Finish recomputes them in the backward, with the same
// gradients (GRPOConfig.ActivationCheckpointing).
type Checkpointer interface {
	SetCheckpointing(on bool)
}

// SupervisedPolicy is a Policy that can also be trained on reference captions (SFT).
type SupervisedPolicy interface {
	Policy
	// Loss is the teacher-forced cross-entropy of the captions (one per image, in the policy's
	// token ids, without the end token) averaged over their tokens, and that token count.
	Loss(imgs []images.Planar, captions [][]int) (*ts.Tensor, int, error)
}

// Source gives a run its images: training images keyed by (seed, step, global index), so that
// rank r's share [lo, hi) of a step is the same images whatever the number of ranks, and a fixed
// held-out set for evaluation. The world's scenes and a folder of files are sources.
type Source interface {
	Images(seed uint64, step, lo, hi int) ([]images.Planar, error)
	HeldOut(seed uint64, n int) (*images.Set, error)
}

// SkipCounter is a Source that may skip unreadable images instead of stopping (a folder with
// --skip-bad-images); the run reports how many it skipped.
type SkipCounter interface {
	// TakeSkipped returns how many images were skipped since the last call.
	TakeSkipped() int
}

// LoadOptions say which parts of a loaded policy train.
type LoadOptions struct {
	Frozen      bool // nothing trains (the KL reference)
	TrainVision bool // the vision encoder trains too (the paper keeps it frozen)
	// Share, when set, is a loaded policy whose frozen parts (a vision tower) a frozen policy of
	// the same family may use instead of loading its own copy; it is closed after this one.
	Share Policy
}

// Task is what a GRPO run trains on, wired by the main: the source images, the frozen reward,
// the judge of understanding on held-out images with labels (nil: none) and how a checkpoint
// becomes a policy on a device.
type Task struct {
	Source Source
	Reward reward.Reward
	Judge  eval.Judge
	Load   func(path string, dev gotch.Device, o LoadOptions) (Policy, error)
	// About describes the source in the run's log ("world scenes", a folder).
	About string
	// Config is the run's whole configuration as config.json and the checkpoints record it (the
	// GRPOConfig with the command's own settings: images, reward, model family); nil records the
	// GRPOConfig. ReadRunConfig reads it back for --resume.
	Config any
	// Files are written into a new run's folder (name to contents) once the run has claimed it,
	// beside config.json: e.g. the command's flags as a file it can be repeated from.
	Files map[string][]byte
}

// Supervised is the data of supervised fine-tuning: images with reference captions.
type Supervised interface {
	// Pairs returns the images of global indices [lo, hi) of a step and k captions of each (row
	// i*k+j), in the policy's token ids, drawn from streams keyed like the images.
	Pairs(seed uint64, step, lo, hi, k int) ([]images.Planar, [][]int, error)
	HeldOut(seed uint64, n int) (*images.Set, error)
}

// SFTTask is what a supervised run trains on, wired by the main.
type SFTTask struct {
	Data   Supervised
	Reward reward.Reward
	Judge  eval.Judge
	// New builds the initial policy on a device from the run's seed.
	New func(dev gotch.Device, seed uint64) (SupervisedPolicy, error)
	// Config is the run's whole configuration as config.json and the checkpoints record it (the
	// SFTConfig with the task's own settings, such as the model's shape); nil records the SFTConfig.
	Config any
	// Files are written into the new run's folder once it is claimed, as Task.Files.
	Files map[string][]byte
}
