package unified

import (
	"fmt"

	"github.com/unigrpo/unigrpo/images"
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
//   - generation: prompts written by the world (full and partial descriptions of fresh scenes,
//     world.WorldPrompts with this seed, as many as the set has scenes), drawn greedily with
//     guidance and read back by the judge: the share of asked attributes (and objects) drawn.
func (p *Policy) Probe(set *images.Set, seed uint64) (map[string]float64, error) {
	if len(set.Labels) != len(set.Images) {
		return nil, fmt.Errorf("unified: probe: %d images but %d labels", len(set.Images), len(set.Labels))
	}
	if p.o.Stage == StageVQ {
		return p.probeVQ(set)
	}
	var qas []world.QA
	var imgs []images.Planar
	for i, l := range set.Labels {
		s, ok := l.(world.Scene)
		if !ok {
			return nil, fmt.Errorf("unified: probe: label %d is a %T, not a world scene", i, l)
		}
		for _, qa := range world.Questions(s, questionsPerScene, stream.RNG(seed, stream.Eval, 1, i)) {
			qas = append(qas, qa)
			imgs = append(imgs, set.Images[i])
		}
	}
	answers, err := p.Answer(imgs, qas)
	if err != nil {
		return nil, err
	}
	vqa := world.ScoreAnswers(qas, answers)
	prompts, _ := world.WorldPrompts(p.world, len(set.Images), seed)
	drawn, err := p.Draw(prompts, 0, nil)
	if err != nil {
		return nil, err
	}
	var gen world.GenScore
	for i, im := range drawn {
		g, err := p.reader.JudgeGeneration(prompts[i], im)
		if err != nil {
			return nil, fmt.Errorf("unified: probe: drawing %d: %w", i, err)
		}
		gen = gen.Add(g)
	}
	return map[string]float64{
		"vqa_accuracy": vqa.Accuracy(), "vqa_small_accuracy": vqa.SmallAccuracy(),
		"generation_accuracy": gen.Accuracy(), "generation_object_accuracy": gen.ObjectAccuracy(),
	}, nil
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

// probeVQ measures the image tokenizer on held-out scenes: the mean squared error of the
// reconstructions (pixels in [0, 1]), the share of the codebook the scenes use, and how much of
// each scene the judge reads back from its reconstruction (the share of its attributes found,
// reading the full description as the prompt).
func (p *Policy) probeVQ(set *images.Set) (map[string]float64, error) {
	used := map[int]bool{}
	var gen world.GenScore
	mse, n := 0.0, 0
	for lo := 0; lo < len(set.Images); lo += 64 {
		hi := min(lo+64, len(set.Images))
		rec, codes, err := p.J.Reconstruct(set.Images[lo:hi])
		if err != nil {
			return nil, err
		}
		for i, im := range rec {
			src := set.Images[lo+i]
			for k, v := range im.Pix {
				d := float64(v - src.Pix[k])
				mse += d * d
				n++
			}
			for _, c := range codes[i] {
				used[c] = true
			}
			s, ok := set.Labels[lo+i].(world.Scene)
			if !ok {
				return nil, fmt.Errorf("unified: probe: label %d is a %T, not a world scene", lo+i, set.Labels[lo+i])
			}
			g, err := p.reader.JudgeGeneration(world.Oracle(s), im)
			if err != nil {
				return nil, fmt.Errorf("unified: probe: reconstruction %d: %w", lo+i, err)
			}
			gen = gen.Add(g)
		}
	}
	return map[string]float64{"vq_mse": mse / float64(max(n, 1)), "codebook_use": float64(len(used)) / float64(p.J.Model.Config().VQ.NumEmbeddings),
		"vq_read_accuracy": gen.Accuracy(), "vq_read_object_accuracy": gen.ObjectAccuracy()}, nil
}
