package plan

import (
	"fmt"

	"github.com/unigrpo/unigrpo/models/hf/shape"
)

// DefaultPromptTokens is the prompt's text tokens around the image when the caller does not
// count them: Qwen2.5-VL's chat prompt around "Describe this image in detail." is about 30.
const DefaultPromptTokens = 32

// Input is a run as the plan sees it: the model and the settings of `trainer train` that size
// its memory. The flag of each field is in its comment.
type Input struct {
	Model        *shape.Model `json:"-"`
	Ranks        int          `json:"ranks"`         // --np (launch -np): the world size
	Batch        int          `json:"batch"`         // --batch: images per step over all ranks
	Group        int          `json:"group"`         // --group: captions per image
	MaxLen       int          `json:"max_len"`       // --max-len: caption tokens
	PromptTokens int          `json:"prompt_tokens"` // text tokens of the prompt (0: DefaultPromptTokens)
	ImageSize    int          `json:"image_size"`    // --image-size: the side of the images the policy is given
	DType        string       `json:"dtype"`         // --dtype: float32 or bfloat16
	Beta         float64      `json:"beta"`          // --beta: a frozen reference when above 0
	TrainVision  bool         `json:"train_vision"`  // --train-vision (Janus: its vision tower trains too)
	// --lora-rank and --lora-targets: only rank-LoRARank adapters on these projections of the
	// language model train (0: every weight); the KL reference is the policy with its adapters
	// off, so no reference copy.
	LoRARank    int      `json:"lora_rank,omitempty"`
	LoRATargets []string `json:"lora_targets,omitempty"`
	// The knobs.
	ShardOptimizer          bool   `json:"shard_optimizer"`          // --shard-optimizer: masters and moments split over the ranks (ZeRO-1)
	ActivationCheckpointing bool   `json:"activation_checkpointing"` // --activation-checkpointing
	MicroBatch              int    `json:"micro_batch"`              // --micro-batch: sequences per forward and backward of the update (0: all of a rank's)
	RolloutBatch            int    `json:"rollout_batch"`            // --rollout-batch: images sampled together, each with --group captions (0: all of a rank's)
	Optimizer               string `json:"optimizer"`                // --optimizer: auto, host or device
	Device                  string `json:"device"`                   // --device: cpu or cuda
}

// derived are the sizes every row uses.
type derived struct {
	e          int64 // bytes of a value in the run's dtype
	rows       int   // sequences per rank and step
	micro      int   // sequences per update micro-batch
	rollout    int   // sequences per rollout batch
	prefill    int   // rows of the rollout's prefill: one per image of the batch (every row for Janus)
	image      int   // image tokens per prompt
	prompt     int   // text tokens of the prompt
	seq        int64 // prompt + image + caption tokens
	trainable  []string
	nTrain     int64 // trainable values
	trainBytes int64 // trainable bytes in their own dtypes (the parameters' .grad)
	mixed      bool  // some trainable tensor is narrower than float32: float32 masters
	gpu        bool
	onDevice   bool  // the optimizer's state lives with the model (deviceOptimizer)
	nccl       bool  // gradients averaged by NCCL on a fused device buffer
	shard      int64 // the optimizer state's divisor: the ranks when sharded, else 1
}

// derive checks in and computes its sizes; an error names the setting.
func (in Input) derive() (derived, error) {
	var d derived
	if in.Model == nil {
		return d, fmt.Errorf("plan: no model")
	}
	switch in.DType {
	case "float32", "fp32", "":
		d.e = 4
	case "bfloat16", "bf16":
		d.e = 2
	default:
		return d, fmt.Errorf("--dtype %q: use float32 or bfloat16", in.DType)
	}
	switch {
	case in.Ranks < 1:
		return d, fmt.Errorf("--np %d: must be at least 1", in.Ranks)
	case in.Batch < 1 || in.Batch%in.Ranks != 0:
		return d, fmt.Errorf("--batch %d: must be a positive multiple of the %d ranks", in.Batch, in.Ranks)
	case in.Group < 1 || in.MaxLen < 1:
		return d, fmt.Errorf("--group %d and --max-len %d must be positive", in.Group, in.MaxLen)
	case in.MicroBatch < 0 || in.RolloutBatch < 0 || in.PromptTokens < 0:
		return d, fmt.Errorf("--micro-batch %d, --rollout-batch %d and the prompt's %d tokens must not be negative", in.MicroBatch, in.RolloutBatch, in.PromptTokens)
	case !validMicro(in.MicroBatch, in.Group):
		return d, fmt.Errorf("--micro-batch %d: must be 0, a multiple of --group %d or a divisor of it", in.MicroBatch, in.Group)
	}
	switch in.Device {
	case "cpu":
	case "cuda":
		d.gpu = true
	default:
		return d, fmt.Errorf("--device %q: the plan needs cpu or cuda", in.Device)
	}
	switch in.Optimizer {
	case "", "auto":
		d.onDevice = d.gpu
	case "device":
		d.onDevice = true
	case "host":
	default:
		return d, fmt.Errorf("--optimizer %q: want auto, host or device", in.Optimizer)
	}
	var err error
	if d.image, err = in.Model.ImageTokens(in.ImageSize); err != nil {
		return d, fmt.Errorf("--image-size: %w", err)
	}
	d.rows = in.Batch / in.Ranks * in.Group
	d.micro, d.rollout = clampRows(in.MicroBatch, d.rows), clampRows(in.RolloutBatch*in.Group, d.rows)
	d.prefill = (d.rollout + in.Group - 1) / max(in.Group, 1)
	if in.Model.Family == "janus" { // its text policy prefills every row (models/hf/janus continueText)
		d.prefill = d.rollout
	}
	d.prompt = in.PromptTokens
	if d.prompt == 0 {
		d.prompt = DefaultPromptTokens
	}
	d.seq = int64(d.prompt + d.image + in.MaxLen)
	d.trainable = in.Model.TrainableParts(in.TrainVision)
	d.nTrain = in.Model.Count(d.trainable...)
	d.trainBytes = in.Model.Bytes(int(d.e), d.trainable...)
	if in.LoRARank < 0 {
		return d, fmt.Errorf("--lora-rank %d: must not be negative", in.LoRARank)
	}
	if in.LoRARank > 0 {
		if d.nTrain, err = loraValues(in.Model, in.LoRARank, in.LoRATargets); err != nil {
			return d, err
		}
		d.trainable = []string{"lora adapters"}
		d.trainBytes = d.e * d.nTrain // the adapters are in the run's dtype
	}
	d.mixed = d.trainBytes < 4*d.nTrain
	d.nccl = d.gpu && in.Ranks > 1
	d.shard = 1
	if in.ShardOptimizer && in.Ranks > 1 {
		d.shard = int64(in.Ranks)
	}
	return d, nil
}

// clampRows is n sequences, at most all of the rank's (0: all of them).
// validMicro says whether a micro-batch of m sequences is one trainer train takes with groups of
// g: 0 (every row at once), whole images (a multiple of g) or part of one image's (a divisor).
func validMicro(m, g int) bool { return m == 0 || m%g == 0 || g%m == 0 }

// smallerMicros lists, largest first, the valid micro-batches below cur sequences.
func smallerMicros(cur, g int) []int {
	var out []int
	for m := cur - 1; m >= 1; m-- {
		if validMicro(m, g) {
			out = append(out, m)
		}
	}
	return out
}

func clampRows(n, rows int) int {
	if n == 0 || n > rows {
		return rows
	}
	return n
}
