package reward

import (
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
)

// Reward is the frozen reward module of Unified-GRPO: a text-to-image decoder that regenerates an
// image from each caption and the embedders that compare it with its source. The world's renderer
// and embedders are one; a unified model's own drawing (UMM-2) is another; a remote service running
// the user's diffusion model (Client) is a third.
type Reward interface {
	// Embedders names the embedders whose similarities make up the reward, in order.
	Embedders() []string
	// Rewards regenerates an image from each of the N = B*G captions (row b*G+g belongs to source
	// image b; captions are text, since the decoder's tokenizer is not the policy's), its random
	// draws keyed by keys[r], and returns per row the reward (the mean over embedders of the
	// cosine similarity with the source) and the similarities under each embedder [N][K].
	Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) (reward []float64, parts [][]float64, err error)
}

// HiddenReward is a Reward whose decoder can also read each caption's last hidden state [N][D]
// (the paper's UMM-1 conditions its decoder on a projection of it).
type HiddenReward interface {
	RewardsWithHidden(src []images.Planar, G int, captions []string, hidden [][]float32, keys []stream.Key) (reward []float64, parts [][]float64, err error)
}

// Reconstructor is a Reward that can also hand back its reconstructions, for example sheets.
type Reconstructor interface {
	Reconstruct(captions []string, keys []stream.Key) ([]images.Planar, error)
}

// SelfDecoder is a model that is its own reward's decoder (a unified model, the paper's UMM-2):
// its generation direction regenerates the images, so the reward follows the weights being
// trained and each checkpoint is scored with its own reconstructions.
type SelfDecoder interface {
	// Decoder is the reward that regenerates with this model and compares under the task's
	// embedders. It lives as long as the model.
	Decoder() Reward
}

// Capabilities are the optional abilities of a Reward beyond Rewards, found once where a run is
// wired so that the loops ask a field instead of the reward's type.
type Capabilities struct {
	// Hidden reads each caption's last hidden state too; nil when the decoder reads text only.
	Hidden HiddenReward
	// Reconstruct hands back the reconstructions; nil when the reward cannot.
	Reconstruct Reconstructor
}

// CapabilitiesOf lists what r can do beyond Rewards.
func CapabilitiesOf(r Reward) Capabilities {
	var c Capabilities
	c.Hidden, _ = r.(HiddenReward)
	c.Reconstruct, _ = r.(Reconstructor)
	return c
}
