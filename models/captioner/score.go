package captioner

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/world"
)

// LogProbs scores given captions of the images by teacher forcing: tokens holds B*G captions
// (row b*G+g belongs to image b), each without BOS and ending with EOS if it was emitted
// (Rollout.Tokens as it is). The image prefix is computed once per image and shared by its G
// rows. Logits are divided by temperature before the log-softmax, as in sampling.
func (m *Model) LogProbs(images []world.Image, G int, tokens [][]int, temperature float64, withEntropy bool) (*Scores, error) {
	if !(temperature > 0) {
		return nil, fmt.Errorf("policy: log-probs: temperature must be positive, got %g", temperature)
	}
	if G < 1 {
		return nil, fmt.Errorf("policy: log-probs: G must be at least 1, got %d", G)
	}
	if len(tokens) != len(images)*G {
		return nil, fmt.Errorf("policy: log-probs: %d captions for %d images x %d samples; give one per row", len(tokens), len(images), G)
	}
	if err := m.checkCaptions(tokens, false); err != nil {
		return nil, fmt.Errorf("policy: log-probs: %w", err)
	}
	a := m.a
	defer a.Free()
	tf, err := m.teacherForce(a, images, G, tokens, temperature)
	if err != nil {
		return nil, fmt.Errorf("policy: log-probs: %w", err)
	}
	out := &Scores{Tokens: tf.count, T: int(tf.T)}
	out.LogProbs = a.Keep(tf.tokLogp)
	if withEntropy {
		p := a.Exp(tf.logp)
		ent := a.Neg(a.SumDim(a.Mul(p, tf.logp), -1, false))
		out.Entropy = a.Keep(a.Mul(ent, tf.mask))
	}
	out.Mask = a.Keep(tf.mask)
	if err := a.Free(); err != nil {
		out.Drop()
		return nil, fmt.Errorf("policy: log-probs: %w", err)
	}
	return out, nil
}

// Loss returns the teacher-forced mean token cross-entropy of captions given their images and
// the number of tokens it averages over. captions holds G captions per image, G =
// len(captions)/len(images), caption b*G+g describing image b: several captions of one image
// share its image prefix, which is most of the model's work, so G > 1 makes a step much
// cheaper per caption. A caption is the token ids without BOS; EOS is appended unless it is
// already last, so the model learns to stop. Free the loss with MustDrop after Backward.
func (m *Model) Loss(images []world.Image, captions [][]int) (*ts.Tensor, int, error) {
	if len(images) == 0 || len(captions) == 0 || len(captions)%len(images) != 0 {
		return nil, 0, fmt.Errorf("policy: loss: %d captions for %d images; give the same number of captions (at least one) for every image", len(captions), len(images))
	}
	G := len(captions) / len(images)
	targets := make([][]int, len(captions))
	for i, c := range captions {
		if len(c) > 0 && c[len(c)-1] == m.cfg.EOS {
			targets[i] = c
			continue
		}
		targets[i] = append(append(make([]int, 0, len(c)+1), c...), m.cfg.EOS)
	}
	if err := m.checkCaptions(targets, true); err != nil {
		return nil, 0, fmt.Errorf("policy: loss: %w", err)
	}
	a := m.a
	defer a.Free()
	tf, err := m.teacherForce(a, images, G, targets, 1)
	if err != nil {
		return nil, 0, fmt.Errorf("policy: loss: %w", err)
	}
	loss := a.Keep(a.MulScalar(a.Sum(tf.tokLogp), -1/float64(tf.count)))
	if err := a.Free(); err != nil {
		if loss != nil {
			loss.MustDrop()
		}
		return nil, 0, fmt.Errorf("policy: loss: %w", err)
	}
	return loss, tf.count, nil
}

// forced holds the raw results of a teacher-forced pass.
type forced struct {
	logp    raw.Tensor // [N, T, V] log-softmax of the tempered logits
	tokLogp raw.Tensor // [N, T] log-prob of each caption token, 0 at padding
	mask    raw.Tensor // [N, T] float32
	T       int64
	count   int
}

// teacherForce runs the model on images and captions (checked by the caller) in arena a.
func (m *Model) teacherForce(a *raw.Arena, images []world.Image, G int, tokens [][]int, temperature float64) (*forced, error) {
	N := len(tokens)
	T := 0
	count := 0
	for _, c := range tokens {
		T = max(T, len(c))
		count += len(c)
	}
	if count == 0 {
		return nil, errors.New("every caption is empty")
	}
	in := make([]int64, N*T)  // inputs: BOS, then the caption shifted right
	tgt := make([]int64, N*T) // targets: the caption, PAD after it
	mask := make([]float32, N*T)
	for r, c := range tokens {
		row := r * T
		for t := range T {
			in[row+t], tgt[row+t] = int64(m.cfg.PAD), int64(m.cfg.PAD)
		}
		in[row] = int64(m.cfg.BOS)
		for t, id := range c {
			tgt[row+t] = int64(id)
			mask[row+t] = 1
			if t+1 < T {
				in[row+t+1] = int64(id)
			}
		}
	}
	z, err := m.encodeImages(a, images)
	if err != nil {
		return nil, err
	}
	n, t := int64(N), int64(T)
	ks, vs := m.prefix(a, z, int64(len(images)))
	_, logits := m.captions(a, ks, vs, a.FromInt64(in, n, t), n, t, int64(G))
	if temperature != 1 {
		logits = a.MulScalar(logits, 1/temperature)
	}
	f := &forced{T: t, count: count}
	f.logp = a.LogSoftmax(logits, -1)
	f.mask = a.FromFloat32(mask, n, t)
	tok := a.View(a.Gather(f.logp, 2, a.FromInt64(tgt, n, t, 1)), n, t)
	f.tokLogp = a.Mul(tok, f.mask)
	if err := a.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// checkCaptions reports the first caption that the model cannot read: a token outside the
// vocabulary, a PAD or BOS token, an EOS before the end, or more than MaxLen tokens.
// wantEOS requires every caption to end with EOS.
func (m *Model) checkCaptions(tokens [][]int, wantEOS bool) error {
	c := m.cfg
	for r, cap := range tokens {
		if len(cap) > c.MaxLen {
			return fmt.Errorf("caption %d has %d tokens, more than the model's MaxLen %d", r, len(cap), c.MaxLen)
		}
		for t, id := range cap {
			switch {
			case id < 0 || id >= c.Vocab:
				return fmt.Errorf("caption %d token %d is id %d, outside the vocabulary [0, %d)", r, t, id, c.Vocab)
			case id == c.PAD || id == c.BOS:
				return fmt.Errorf("caption %d token %d is PAD or BOS (id %d); captions hold words and a final EOS only", r, t, id)
			case id == c.EOS && t != len(cap)-1:
				return fmt.Errorf("caption %d has EOS at token %d before its end (length %d)", r, t, len(cap))
			}
		}
		if wantEOS && (len(cap) == 0 || cap[len(cap)-1] != c.EOS) {
			return fmt.Errorf("caption %d does not end with EOS", r)
		}
	}
	return nil
}
