package eval

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/pooled"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/reward"
)

// SceneScore is one image's row of the per-image table.
type SceneScore struct {
	Scene      int                `json:"scene"`
	Caption    string             `json:"caption"`
	Length     int                `json:"length"`
	Similarity map[string]float64 `json:"similarity"`
	Overall    float64            `json:"overall"`
}

// Result is one captioner's row of Unified-Bench.
type Result struct {
	Name       string             `json:"name"`
	Embedders  map[string]float64 `json:"embedders"` // embedder name -> mean similarity
	Stats      map[string]Stat    `json:"stats"`
	Overall    float64            `json:"overall"` // mean over embedders (the Unified-Score)
	LengthMean float64            `json:"length_mean"`
	// Understanding holds the judge's metrics by key (nil without labels); JSON lists them
	// beside the other fields of the row.
	Understanding map[string]float64 `json:"-"`
	Scenes        []SceneScore       `json:"-"`
	// Reconstructions holds the first few regenerated images, for example grids.
	Reconstructions []images.Planar `json:"-"`
	// Items holds each image's share of the row's metrics, by the keys of CILow ("overall",
	// "length_mean", each embedder's name, the judge's and the probes' keys): what Bootstrap
	// resamples.
	Items map[string][]Ratio `json:"-"`
	// CILow and CIHigh bound each metric's 95% bootstrap interval over the images (Bootstrap;
	// absent when it is off).
	CILow  map[string]float64 `json:"ci_low,omitempty"`
	CIHigh map[string]float64 `json:"ci_high,omitempty"`
}

// MarshalJSON writes the row with its understanding metrics as fields of their own.
func (r *Result) MarshalJSON() ([]byte, error) {
	type plain Result
	js, err := json.Marshal((*plain)(r))
	if err != nil || len(r.Understanding) == 0 {
		return js, err
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, err
	}
	for k, v := range r.Understanding {
		m[k] = v
	}
	return json.Marshal(m)
}

// Caption is one caption of an image to score: its text and its length in tokens (without the
// end token).
type Caption struct {
	Text   string
	Length int
}

// TextCaptions makes captions of texts, counting words as tokens (references, empty captions).
func TextCaptions(texts []string) []Caption {
	out := make([]Caption, len(texts))
	for i, t := range texts {
		out[i] = Caption{Text: t, Length: len(strings.Fields(t))}
	}
	return out
}

// Score regenerates an image from each caption of the set's images (the decoder's draws keyed by
// (seed, EvalDecode, 0, i), so every captioner is judged with the same draws) and measures it
// against its source under each embedder of the reward. With a judge and labels it adds the
// understanding metrics. keep reconstructions are kept when the reward can hand them back.
func Score(name string, rw reward.Reward, judge Judge, set *images.Set, caps []Caption, seed uint64, keep int) (*Result, error) {
	n := len(set.Images)
	if len(caps) != n || (set.Labels != nil && len(set.Labels) != n) {
		return nil, fmt.Errorf("eval %s: %d images, %d labels, %d captions", name, n, len(set.Labels), len(caps))
	}
	texts := captionTexts(caps)
	overall, parts, err := Rewards(rw, set.Images, texts, seed, 0)
	if err != nil {
		return nil, fmt.Errorf("eval %s: %w", name, err)
	}
	r, err := Assemble(name, rw.Embedders(), judge, set.Labels, caps, overall, parts)
	if err != nil {
		return nil, err
	}
	if rc := reward.CapabilitiesOf(rw).Reconstruct; rc != nil && keep > 0 {
		keys := stream.Keys(seed, stream.EvalDecode, 0, 0, min(keep, n))
		if r.Reconstructions, err = rc.Reconstruct(texts[:min(keep, n)], keys); err != nil {
			return nil, fmt.Errorf("eval %s: %w", name, err)
		}
	}
	return r, nil
}

func captionTexts(caps []Caption) []string {
	texts := make([]string, len(caps))
	for i, c := range caps {
		texts[i] = c.Text
	}
	return texts
}

// rewardChunk is the most images one call of the reward scores in evaluation, so that a remote
// decoder gets calls of a bounded size, each under its own deadline.
const rewardChunk = 64

// Rewards scores the captions texts of images that are the images [lo, lo+len(images)) of an
// evaluated set: each image's mean similarity and its similarity under each embedder, the
// regeneration of image i drawn from the evaluation's stream of key i (so a part of a set scores
// as it does within the whole set). The reward is called rewardChunk images at a time.
func Rewards(rw reward.Reward, imgs []images.Planar, texts []string, seed uint64, lo int) (overall []float64, parts [][]float64, err error) {
	if len(texts) != len(imgs) {
		return nil, nil, fmt.Errorf("%d captions for %d images", len(texts), len(imgs))
	}
	keys := stream.Keys(seed, stream.EvalDecode, 0, lo, len(imgs))
	for a := 0; a < len(imgs); a += rewardChunk {
		b := min(a+rewardChunk, len(imgs))
		o, p, err := rw.Rewards(imgs[a:b], 1, texts[a:b], keys[a:b])
		if err != nil {
			return nil, nil, err
		}
		overall, parts = append(overall, o...), append(parts, p...)
	}
	return overall, parts, nil
}

// Assemble builds a captioner's Result from its captions caps of a set and their rewards
// (Rewards' overall and parts, embedders naming the parts), with the judge's metrics when the set
// has labels.
func Assemble(name string, embedders []string, judge Judge, labels []any, caps []Caption, overall []float64, parts [][]float64) (*Result, error) {
	n := len(caps)
	if len(overall) != n || len(parts) != n {
		return nil, fmt.Errorf("eval %s: %d captions, %d rewards", name, n, len(overall))
	}
	r := &Result{Name: name, Embedders: map[string]float64{}, Items: map[string][]Ratio{}}
	acc := newSimilarities(embedders)
	for i, c := range caps {
		row := SceneScore{Scene: i, Caption: c.Text, Length: c.Length, Overall: overall[i]}
		row.Similarity = acc.add(parts[i])
		r.Scenes = append(r.Scenes, row)
		r.LengthMean += float64(c.Length) / float64(n)
		r.Items["overall"] = append(r.Items["overall"], pooled.Mean(overall[i]))
		r.Items["length_mean"] = append(r.Items["length_mean"], pooled.Mean(float64(c.Length)))
		for j, e := range embedders {
			r.Items[e] = append(r.Items[e], pooled.Mean(parts[i][j]))
		}
	}
	r.Stats, r.Overall = acc.result()
	for name, st := range r.Stats {
		r.Embedders[name] = st.Mean
	}
	if judge == nil || labels == nil {
		return r, nil
	}
	var err error
	if ij, ok := judge.(ItemJudge); ok {
		var items map[string][]Ratio
		if items, err = ij.JudgeItems(labels, captionTexts(caps)); err == nil {
			r.Understanding = pooled.Values(items)
			r.addItems(items)
		}
	} else {
		r.Understanding, err = judge.Judge(labels, captionTexts(caps))
	}
	if err != nil {
		return nil, fmt.Errorf("eval %s: %w", name, err)
	}
	return r, nil
}

// addItems records the items of more metrics of the row.
func (r *Result) addItems(items map[string][]Ratio) {
	if r.Items == nil {
		r.Items = map[string][]Ratio{}
	}
	for k, v := range items {
		r.Items[k] = v
	}
}

// SampleOptions say how a checkpoint captions in evaluation: greedy by default.
type SampleOptions struct {
	Temperature float64 // > 0 samples at this temperature instead of greedy decoding
	Seed        uint64  // for sampled captions
}

// Captions captions images with a policy, in chunks, without autograd. Greedy unless
// opt.Temperature > 0, in which case image i samples with the stream keyed by (Seed, i). The
// policy must be used from the goroutine that owns it.
func Captions(m Captioner, imgs []images.Planar, opt SampleOptions) ([]Caption, error) {
	const chunk = 64
	var out []Caption
	for lo := 0; lo < len(imgs); lo += chunk {
		hi := min(lo+chunk, len(imgs))
		so := policy.SampleOptions{Greedy: opt.Temperature <= 0, Temperature: opt.Temperature}
		var rngs []*rand.Rand
		if !so.Greedy {
			for i := lo; i < hi; i++ {
				rngs = append(rngs, stream.RNG(opt.Seed, stream.Sample, 0, i))
			}
		}
		roll, err := m.Sample(imgs[lo:hi], 1, so, rngs)
		if err != nil {
			return nil, fmt.Errorf("captioning: %w", err)
		}
		for r := range roll.Tokens {
			w := Words(roll, r)
			out = append(out, Caption{Text: m.Text(w), Length: len(w)})
		}
	}
	return out, nil
}
