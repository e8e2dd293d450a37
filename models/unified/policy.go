package unified

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/models/hf/janus"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

// Stage says what a supervised run of the unified model trains.
type Stage string

const (
	// StageVQ trains the image tokenizer (the VQ-VAE) on the world's renders, nothing else.
	StageVQ Stage = "vq"
	// StageModel trains everything but the image tokenizer on the three tasks of Data; GRPO
	// trains the same parts but the vision tower.
	StageModel Stage = "model"
)

// Options configure a unified policy in the world.
type Options struct {
	Stage    Stage
	MaxLen   int     // caption tokens, end token included
	Guidance float64 // classifier-free guidance scale of its drawings (1: none)
	// DrawTemperature samples image codes at this temperature in the reward's drawings (0, the
	// default everywhere: greedy, so a caption's reward depends on the caption alone); the
	// probes' drawings are always greedy.
	DrawTemperature float64
	Frozen          bool   // nothing trains (a KL reference, an evaluated checkpoint)
	TrainVision     bool   // the vision tower trains in StageModel's GRPO (the paper keeps it frozen)
	SFT             bool   // StageModel's supervised run: the vision tower trains too (it starts random)
	Reward          string // the world's embedders of its reward, as the world task's NewReward names them
}

// DefaultOptions returns the settings of the world's demo.
func DefaultOptions() Options {
	return Options{Stage: StageModel, MaxLen: 40, Guidance: 3, Reward: "all"}
}

// Policy is the unified model in the world (the paper's UMM-2, Janus architecture): it captions
// images (the trainer's policy), answers questions about them, and draws images from captions,
// which regenerate the images of its own reward (reward.SelfDecoder) and are judged by reading them
// back (eval.Prober).
type Policy struct {
	J      *janus.Policy
	o      Options
	P      int // image placeholders per understanding image
	reward *task.Reward
	reader *world.Reader
	world  world.Config
	tmp    string // a folder the policy made for itself (New), removed by Close
}

// Open loads a unified model folder (a Janus layout whose text vocabulary is this package's).
func Open(dir string, dev gotch.Device, o Options) (*Policy, error) {
	var parts []string
	switch {
	case o.Frozen:
	case o.Stage == StageVQ:
		parts = []string{"vq"}
	case o.SFT || o.TrainVision:
		parts = []string{"vision", "aligner", "lm", "gen"}
	default:
		parts = []string{"aligner", "lm", "gen"}
	}
	// The folder's config decides before its weights load (a Janus-Pro folder is gigabytes).
	cfg, err := janus.ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	w := world.DefaultConfig()
	if v := cfg.Text.Vocab; v < V {
		return nil, fmt.Errorf("unified: %s has a text vocabulary of %d tokens, the world's unified model needs %d", dir, v, V)
	}
	if s := cfg.Vision.ImageSize; s != w.Size {
		return nil, fmt.Errorf("unified: %s reads %dx%d images, the world's are %dx%d: only the world's unified model (trainer sft --unified) trains here, not a Janus-Pro checkpoint", dir, s, s, w.Size, w.Size)
	}
	j, err := janus.OpenPolicy(dir, dev, parts...)
	if err != nil {
		return nil, err
	}
	rd, err := world.NewReader(w)
	if err != nil {
		j.Close()
		return nil, err
	}
	rw, err := task.NewReward(w, o.Reward)
	if err != nil {
		j.Close()
		return nil, err
	}
	return &Policy{J: j, o: o, P: j.Placeholders(), reward: rw, reader: rd, world: w}, nil
}

// Sample draws G captions per image.
func (p *Policy) Sample(imgs []images.Planar, G int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	return p.J.SampleText(imgs, G, CaptionPrompt(p.P), p.o.MaxLen, []int{world.EOS}, opt, rngs)
}

// Text is a caption's words.
func (p *Policy) Text(tokens []int) string { return Text(tokens) }

// LogProbs scores captions by teacher forcing.
func (p *Policy) LogProbs(imgs []images.Planar, G int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error) {
	return p.J.ScoreText(imgs, G, CaptionPrompt(p.P), tokens, temperature, withEntropy)
}

// SetCheckpointing turns activation checkpointing of LogProbs on or off (janus.Policy's).
func (p *Policy) SetCheckpointing(on bool) { p.J.SetCheckpointing(on) }

// TrainableParams lists the parameters that train.
func (p *Policy) TrainableParams() []policy.Param { return p.J.TrainableParams() }

// Device is where the model lives.
func (p *Policy) Device() gotch.Device { return p.J.Device() }

// MaxLen is the most caption tokens, end token included.
func (p *Policy) MaxLen() int { return p.o.MaxLen }

// InputSize is the side of the images the model reads.
func (p *Policy) InputSize() int { return p.J.ImageSize() }

// Save writes the model folder (Janus layout) at the folder of path.
func (p *Policy) Save(path string, meta map[string]string) error { return p.J.Save(path, meta) }

// Close frees the model.
func (p *Policy) Close() {
	p.J.Close()
	p.reward.Close()
	if p.tmp != "" {
		os.RemoveAll(p.tmp)
	}
}

// Loss is the supervised loss of the stage, averaged over its units, and their number: in
// StageVQ the VQ-VAE's loss over the images; in StageModel each example's mean token
// cross-entropy, averaged over the examples (so that a drawing's 64 codes and a one-word answer
// weigh the same, and the average over ranks is that of the global batch).
func (p *Policy) Loss(imgs []images.Planar, rows [][]int) (*ts.Tensor, int, error) {
	if p.o.Stage == StageVQ {
		loss, err := p.J.VQLoss(imgs)
		return loss, len(imgs), err
	}
	if len(imgs) == 0 || len(rows)%len(imgs) != 0 {
		return nil, 0, fmt.Errorf("unified: loss: %d examples for %d images", len(rows), len(imgs))
	}
	k := len(rows) / len(imgs)
	var codes [][]int
	seq := make([]janus.Row, len(rows))
	for r, row := range rows {
		ex, err := ParseExample(row)
		if err != nil {
			return nil, 0, err
		}
		b := r / k
		switch ex.Task {
		case TaskCaption:
			seq[r] = janus.Row{Image: b, Prompt: CaptionPrompt(p.P), Text: slices.Concat(ex.Caption, []int{world.EOS})}
		case TaskQuestion:
			seq[r] = janus.Row{Image: b, Prompt: QuestionPrompt(p.P, ex.Question), Text: slices.Concat(ex.Answer, []int{world.EOS})}
		case TaskDraw:
			if codes == nil {
				if codes, err = p.J.EncodeImages(imgs); err != nil {
					return nil, 0, err
				}
			}
			prompt := DrawPrompt(ex.Caption)
			if len(ex.Caption) == 0 {
				prompt = p.J.Unconditional(DrawPrompt(make([]int, emptyLength(codes[b], r%k))))
			}
			seq[r] = janus.Row{Image: -1, Prompt: prompt, Codes: codes[b]}
		}
	}
	loss, err := p.J.SequenceLoss(imgs, seq)
	return loss, len(rows), err
}

// emptyLength is the length (1 to 16) of the padding of an empty drawing prompt: the
// unconditional branch of guidance pads a caption's place, so empty prompts are trained at lengths
// captions have. It is a hash of the example (its image's codes and its place j among the image's
// examples), not of its place in a rank's batch, so that the loss of the global batch does not
// depend on the number of ranks.
func emptyLength(codes []int, j int) int {
	h := uint64(j)
	for _, c := range codes {
		h = (h ^ uint64(c)) * 0x100000001b3 // FNV-1a over the codes
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd // a 64-bit finaliser, so that every bit of h reaches the low ones
	h ^= h >> 33
	return 1 + int(h%16)
}
