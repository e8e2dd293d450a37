// Package task plugs the synthetic world into the trainer's and the benchmark's seams: the
// scenes as an image source (with their labels and full descriptions held out for evaluation),
// the renderer and the embedders as the reward, the object matching as the judge of
// understanding, and the partial captions of the supervised baseline. The mains wire these
// pieces; trainer and eval know them only through their interfaces.
package task

import (
	"fmt"
	"strings"
	"sync"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/hf/vit"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/embed"
)

// Source serves the world's scenes: training scenes keyed by (seed, Scene, step, index) from the
// training split of the descriptions (world.SplitOf), held-out scenes keyed by (seed, Eval, 0,
// index) from the validation split, or from the benchmark split when Benchmark is set. The three
// never share a description, whatever the seeds.
type Source struct {
	World world.Config
	// Benchmark makes HeldOut serve the benchmark's scenes (trainer eval) instead of the
	// validation's (evaluation during training).
	Benchmark bool
}

// HeldOutSplit is the split HeldOut draws from.
func (s Source) HeldOutSplit() world.Split {
	if s.Benchmark {
		return world.Benchmark
	}
	return world.Validation
}

// Scene returns the training scene of global index i of a step, without rendering it.
func (s Source) Scene(seed uint64, step, i int) world.Scene {
	return s.World.SampleIn(stream.RNG(seed, stream.Scene, step, i), world.Train)
}

// HeldOutScene returns held-out scene i of the seed, without rendering it.
func (s Source) HeldOutScene(seed uint64, i int) world.Scene {
	return s.World.SampleIn(stream.RNG(seed, stream.Eval, 0, i), s.HeldOutSplit())
}

// Images renders the scenes of global indices [lo, hi) of a training step.
func (s Source) Images(seed uint64, step, lo, hi int) ([]images.Planar, error) {
	_, imgs := s.Scenes(seed, step, lo, hi)
	return imgs, nil
}

// Scenes returns the scenes of global indices [lo, hi) of a training step and their images.
func (s Source) Scenes(seed uint64, step, lo, hi int) ([]world.Scene, []world.Image) {
	scenes := make([]world.Scene, hi-lo)
	imgs := make([]world.Image, hi-lo)
	for i := range scenes {
		scenes[i] = s.Scene(seed, step, lo+i)
		imgs[i] = s.World.Render(scenes[i])
	}
	return scenes, imgs
}

// HeldOut returns n evaluation scenes of the held-out split (validation, or the benchmark's):
// their images, the scenes as labels and their full descriptions (the oracle captions) as
// references. The same for every run with the same seed and split.
func (s Source) HeldOut(seed uint64, n int) (*images.Set, error) {
	set := &images.Set{}
	vocab := world.NewVocab()
	for i := range n {
		sc := s.HeldOutScene(seed, i)
		set.Names = append(set.Names, fmt.Sprintf("scene%04d", i))
		set.Images = append(set.Images, s.World.Render(sc))
		set.Labels = append(set.Labels, sc)
		set.Captions = append(set.Captions, vocab.Decode(world.Oracle(sc)))
	}
	return set, nil
}

// Partial is the supervised baseline's data: k deliberately incomplete captions of each scene.
type Partial struct {
	Source
	Options world.PartialOptions
}

// Pairs returns the images of global indices [lo, hi) of a step and k partial captions of each
// (row i*k+j), in the captioner's token ids, each from the stream (seed, Caption, step, i*k+j).
func (p Partial) Pairs(seed uint64, step, lo, hi, k int) ([]images.Planar, [][]int, error) {
	scenes, imgs := p.Scenes(seed, step, lo, hi)
	caps := make([][]int, len(scenes)*k)
	for i, s := range scenes {
		for j := range k {
			caps[i*k+j] = world.Partial(s, p.Options, stream.RNG(seed, stream.Caption, step, (lo+i)*k+j))
		}
	}
	return imgs, caps, nil
}

// The world's reward hands back its reconstructions (example sheets).
var _ reward.Reconstructor = (*Reward)(nil)

// Reward is the world's frozen reward module: the renderer regenerates a scene from each caption
// (sampling what the caption leaves out from the row's keyed stream) and the embedders compare
// it with the source. It is safe for concurrent use.
type Reward struct {
	dec   *world.Decoder
	es    []reward.Embedder
	vits  []*vit.Model // the Hugging Face encoders among es, which run on libtorch: use the reward from one goroutine locked to its OS thread
	vocab *world.Vocab
	mu    sync.Mutex // the decoder is not documented as safe for concurrent use
}

// NewReward builds the reward with the embedders named in names: the world's ("conv,colour,edge";
// "" or "all" for every one) and Hugging Face vision encoders given as NAME=DIR (named NAME) or
// hf:DIR (named for its family: clip, dinov2, siglip): CLIP, DINOv2 or SigLIP folders, run in
// float32 on the CPU; their features are L2-normalised, not centred on the world's scenes as the
// world's are. Close frees the encoders.
func NewReward(w world.Config, names string) (*Reward, error) {
	return NewRewardWith(w, names, vit.EmbedderOptions{})
}

// NewRewardWith is NewReward with the Hugging Face encoders on o.Device, o.MaxBatch images a
// forward pass; each step's images are embedded in batches (reward.Score). Their libtorch calls
// belong on one goroutine locked to its OS thread: build, use and close the reward there.
func NewRewardWith(w world.Config, names string, o vit.EmbedderOptions) (*Reward, error) {
	dec, err := world.NewDecoder(w)
	if err != nil {
		return nil, err
	}
	r := &Reward{dec: dec, vocab: world.NewVocab()}
	for _, item := range rewardItems(names) {
		name, dir, isHF := encoderItem(item)
		if !isHF {
			e, err := embed.New(w, item)
			if err != nil {
				r.Close()
				return nil, err
			}
			r.es = append(r.es, e)
			continue
		}
		v, err := vit.LoadEmbedderWith(dir, o)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("embedder %s: %w", item, err)
		}
		r.vits = append(r.vits, v)
		var e reward.Embedder = vit.Planar{V: v}
		if name != "" {
			e = renamed{e.(reward.BatchEmbedder), name}
		}
		r.es = append(r.es, e)
	}
	return r, nil
}

// SetUnstated makes the reward's decoder treat partly stated objects as u says (world.LeaveOut:
// draw only objects stated in full). Call it before the reward's first use.
func (r *Reward) SetUnstated(u world.Unstated) { r.dec = r.dec.WithUnstated(u) }

// HasEncoders reports whether names (NewReward's) lists a Hugging Face encoder, which runs on
// libtorch.
func HasEncoders(names string) bool {
	for _, item := range rewardItems(names) {
		if _, _, isHF := encoderItem(item); isHF {
			return true
		}
	}
	return false
}

// rewardItems splits NewReward's names into items; "" and "all" are every world embedder.
func rewardItems(names string) []string {
	if names == "" || names == "all" {
		names = strings.Join(embed.Names(), ",")
	}
	items := strings.Split(names, ",")
	for i, it := range items {
		items[i] = strings.TrimSpace(it)
	}
	return items
}

// encoderItem reads an item naming a Hugging Face encoder: hf:DIR (no name of its own: the
// family's is used) or NAME=DIR.
func encoderItem(item string) (name, dir string, isHF bool) {
	if d, ok := strings.CutPrefix(item, "hf:"); ok {
		return "", d, true
	}
	return strings.Cut(item, "=")
}

// renamed gives an embedder the name the user chose for it.
type renamed struct {
	reward.BatchEmbedder
	name string
}

func (r renamed) Name() string { return r.name }

// Close frees the Hugging Face encoders of the reward (the world's need nothing).
func (r *Reward) Close() {
	for _, v := range r.vits {
		v.Close()
	}
	r.vits = nil
}

// Embedders names the reward's embedders, in order.
func (r *Reward) Embedders() []string {
	out := make([]string, len(r.es))
	for i, e := range r.es {
		out[i] = e.Name()
	}
	return out
}

// Rewards regenerates each caption's image and returns its mean similarity over the embedders
// and each embedder's similarity. Row r belongs to source image r/G.
func (r *Reward) Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, error) {
	if G < 1 || len(captions) != len(src)*G || len(keys) != len(captions) {
		return nil, nil, fmt.Errorf("world reward: %d images x G=%d but %d captions and %d keys", len(src), G, len(captions), len(keys))
	}
	for b, im := range src {
		if !im.Valid() || im.C != 3 {
			return nil, nil, fmt.Errorf("world reward: source image %d is not a 3-channel image", b)
		}
	}
	recs, err := r.Reconstruct(captions, keys)
	if err != nil {
		return nil, nil, err
	}
	return reward.Score(r.es, src, G, recs)
}

// Compare scores reconstructions against their sources under the reward's embedders
// (reward.Compare): a decoder other than the renderer (a unified model's own generation direction)
// is scored with it.
func (r *Reward) Compare(src []images.Planar, G int, recs []images.Planar) (rewards []float64, parts [][]float64) {
	return reward.Compare(r.es, src, G, recs)
}

// Reconstruct regenerates an image from each caption with the draws of its key.
func (r *Reward) Reconstruct(captions []string, keys []stream.Key) ([]images.Planar, error) {
	if len(keys) != len(captions) {
		return nil, fmt.Errorf("world reward: %d captions but %d keys", len(captions), len(keys))
	}
	out := make([]images.Planar, len(captions))
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, c := range captions {
		out[i] = r.dec.Decode(r.tokens(c), keys[i].RNG())
	}
	return out, nil
}

// tokens reads a caption in the world's language; a word outside it becomes PAD, which the
// parser counts as unparsed (the decoder ignores it).
func (r *Reward) tokens(caption string) []int {
	fields := strings.Fields(caption)
	ids := make([]int, len(fields))
	for i, f := range fields {
		if id, ok := r.vocab.ID(f); ok {
			ids[i] = id
		} else {
			ids[i] = world.PAD
		}
	}
	return ids
}
