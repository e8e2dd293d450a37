package unified

import (
	"fmt"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/pooled"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/world"
)

// Probes are the unified model's metrics beside its captions (eval.Prober), keys as in
// unibench.json and metrics.jsonl (eval_ prefixed there).
func (p *Policy) Probes() []struct{ Key, Title string } {
	if p.o.Stage == StageVQ {
		return []struct{ Key, Title string }{
			{"vq_mse", "VQ reconstruction MSE"}, {"codebook_use", "codebook use"},
			{"vq_read_accuracy", "reconstructions read right"}, {"vq_read_object_accuracy", ""},
		}
	}
	return []struct{ Key, Title string }{
		{"vqa_accuracy", "VQA accuracy"}, {"vqa_small_accuracy", "VQA small objects"},
		{"generation_accuracy", "generation accuracy"}, {"generation_object_accuracy", ""},
	}
}

// questionsPerScene is how many questions each held-out scene gets.
const questionsPerScene = 4

// Probe measures, on the held-out scenes of set (their labels):
//   - understanding by questions: questionsPerScene questions per scene (kinds balanced, drawn
//     from the stream (seed, Eval, 1, scene)), answered greedily; exact-match accuracy overall
//     and on questions whose answer depends on a small object;
//   - generation: a prompt written by the world from each held-out scene (world.PromptsFor with
//     this seed: full and partial descriptions, so the prompts belong to the set's split), drawn
//     greedily with guidance and read back by the judge: the share of asked attributes (and
//     objects) drawn.
//
// It is ProbeItems' first result.
func (p *Policy) Probe(set *images.Set, seed uint64) (map[string]float64, error) {
	values, _, err := p.ProbeItems(set, seed)
	return values, err
}

// ProbeItems is Probe with each scene's share of the probes (eval.ItemProber): item i of the
// question metrics is scene i's questions, of the generation metrics the drawing of the prompt
// written from scene i, of the VQ stage's the reconstruction of scene i (its pixels' squared
// error, what the judge reads back). The share of the codebook used has no items.
func (p *Policy) ProbeItems(set *images.Set, seed uint64) (map[string]float64, map[string][]pooled.Ratio, error) {
	if len(set.Labels) != len(set.Images) {
		return nil, nil, fmt.Errorf("unified: probe: %d images but %d labels", len(set.Images), len(set.Labels))
	}
	scenes := make([]world.Scene, len(set.Labels))
	for i, l := range set.Labels {
		s, ok := l.(world.Scene)
		if !ok {
			return nil, nil, fmt.Errorf("unified: probe: label %d is a %T, not a world scene", i, l)
		}
		scenes[i] = s
	}
	items := map[string][]pooled.Ratio{}
	add := func(rs map[string]pooled.Ratio) {
		for k, r := range rs {
			items[k] = append(items[k], r)
		}
	}
	if p.o.Stage == StageVQ {
		use, err := p.probeVQ(set, scenes, add)
		if err != nil {
			return nil, nil, err
		}
		values := pooled.Values(items)
		values["codebook_use"] = use
		return values, items, nil
	}
	var qas []world.QA
	var imgs []images.Planar
	var owner []int // the scene of each question
	for i, s := range scenes {
		for _, qa := range world.Questions(s, questionsPerScene, stream.RNG(seed, stream.Eval, 1, i)) {
			qas = append(qas, qa)
			imgs = append(imgs, set.Images[i])
			owner = append(owner, i)
		}
	}
	answers, err := p.Answer(imgs, qas)
	if err != nil {
		return nil, nil, err
	}
	perScene := make([]world.VQAScore, len(scenes))
	for q := range qas {
		i := owner[q]
		perScene[i] = perScene[i].Add(world.ScoreAnswers(qas[q:q+1], answers[q:q+1]))
	}
	for _, v := range perScene {
		add(v.Ratios())
	}
	prompts := world.PromptsFor(scenes, seed)
	drawn, err := p.Draw(prompts, 0, nil)
	if err != nil {
		return nil, nil, err
	}
	for i, im := range drawn {
		g, err := p.reader.JudgeGeneration(prompts[i], im)
		if err != nil {
			return nil, nil, fmt.Errorf("unified: probe: drawing %d: %w", i, err)
		}
		add(g.Ratios())
	}
	return pooled.Values(items), items, nil
}

// Answer answers each question about its image greedily (imgs[i] goes with qas[i]).
func (p *Policy) Answer(imgs []images.Planar, qas []world.QA) ([][]int, error) {
	const chunk = 64
	out := make([][]int, 0, len(qas))
	for lo := 0; lo < len(qas); lo += chunk {
		hi := min(lo+chunk, len(qas))
		prompts := make([][]int, hi-lo)
		for i, qa := range qas[lo:hi] {
			prompts[i] = QuestionPrompt(p.P, qa.Question)
		}
		roll, err := p.J.Continue(imgs[lo:hi], prompts, 3, []int{world.EOS}, policy.SampleOptions{Greedy: true}, nil)
		if err != nil {
			return nil, fmt.Errorf("unified: answering: %w", err)
		}
		out = append(out, roll.Tokens...)
	}
	return out, nil
}

// probeVQ measures the image tokenizer on held-out scenes, adding each scene's items: the mean
// squared error of the reconstructions (pixels in [0, 1]) and how much of each scene the judge
// reads back from its reconstruction (the share of its attributes found, reading the full
// description as the prompt); it returns the share of the codebook the scenes use.
func (p *Policy) probeVQ(set *images.Set, scenes []world.Scene, add func(map[string]pooled.Ratio)) (float64, error) {
	used := map[int]bool{}
	for lo := 0; lo < len(set.Images); lo += 64 {
		hi := min(lo+64, len(set.Images))
		rec, codes, err := p.J.Reconstruct(set.Images[lo:hi])
		if err != nil {
			return 0, err
		}
		for i, im := range rec {
			src := set.Images[lo+i]
			sq := 0.0
			for k, v := range im.Pix {
				d := float64(v - src.Pix[k])
				sq += d * d
			}
			for _, c := range codes[i] {
				used[c] = true
			}
			g, err := p.reader.JudgeGeneration(world.Oracle(scenes[lo+i]), im)
			if err != nil {
				return 0, fmt.Errorf("unified: probe: reconstruction %d: %w", lo+i, err)
			}
			r := g.Ratios()
			add(map[string]pooled.Ratio{"vq_mse": {Num: sq, Den: float64(len(im.Pix))},
				"vq_read_accuracy": r["generation_accuracy"], "vq_read_object_accuracy": r["generation_object_accuracy"]})
		}
	}
	return float64(len(used)) / float64(p.J.Model.Config().VQ.NumEmbeddings), nil
}
