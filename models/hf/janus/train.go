package janus

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
)

// Row is one teacher-forced example of a Janus model: a prompt, then a target that is either
// text (predicted by lm_head) or the codes of an image (predicted by generation_head).
type Row struct {
	Image  int   // the image whose placeholders the prompt holds (-1: none)
	Prompt []int // token ids
	Text   []int // text target, end token included; or
	Codes  []int // image-code target (n codes)
}

// SequenceLoss is the mean over rows of each row's mean cross-entropy of its target given its
// prompt (so that a drawing's n codes and a one-word answer weigh the same), with an autograd
// graph through the weights that train. imgs are the images rows refer to. Text rows and code
// rows run as two batches, right-padded.
func (p *Policy) SequenceLoss(imgs []images.Planar, rows []Row) (*ts.Tensor, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("hf: janus loss: no rows")
	}
	m := p.Model
	a := raw.New(m.lm.Device().CInt())
	defer a.Free()
	var all raw.Tensor
	var total raw.Tensor
	for _, codes := range []bool{false, true} {
		var group []Row
		for i, r := range rows {
			switch {
			case (len(r.Codes) > 0) != codes:
			case r.Image >= len(imgs):
				return nil, fmt.Errorf("hf: janus loss: row %d shows image %d of %d", i, r.Image, len(imgs))
			case len(r.Text) == 0 && len(r.Codes) == 0:
				return nil, fmt.Errorf("hf: janus loss: row %d has no target", i)
			default:
				group = append(group, r)
			}
		}
		if len(group) == 0 {
			continue
		}
		if !codes && all == nil && len(imgs) > 0 {
			var err error
			if all, err = p.features(a, imgs); err != nil {
				return nil, fmt.Errorf("hf: janus loss: %w", err)
			}
		}
		sum, err := p.groupLoss(a, all, group, codes)
		if err != nil {
			return nil, fmt.Errorf("hf: janus loss: %w", err)
		}
		if total == nil {
			total = sum
		} else {
			total = a.Add(total, sum)
		}
	}
	loss := a.Keep(a.MulScalar(total, 1/float64(len(rows))))
	if err := a.Free(); err != nil {
		if loss != nil {
			loss.MustDrop()
		}
		return nil, fmt.Errorf("hf: janus loss: %w", err)
	}
	return loss, nil
}

// groupLoss is the sum over rows of each row's mean target cross-entropy, for rows whose targets
// are all text or all codes: [prompt ; target] right-padded to T, position len(prompt)-1+t
// predicting target token t.
func (p *Policy) groupLoss(a *raw.Arena, feats raw.Tensor, rows []Row, codes bool) (raw.Tensor, error) {
	m := p.Model
	N, T := len(rows), 0
	for _, r := range rows {
		T = max(T, len(r.Prompt)+len(r.Text)+len(r.Codes))
	}
	in := Batch{IDs: make([][]int, N)}
	if codes {
		in.Codes = make([][]int, N)
	}
	target := make([]int64, N*T)
	weight := make([]float32, N*T)
	var of []int
	for i, r := range rows {
		ids := make([]int, T)
		pad := max(m.cfg.PAD, 0)
		for t := range ids {
			ids[t] = pad
		}
		copy(ids, r.Prompt)
		tgt := r.Text
		if codes {
			tgt = r.Codes
			in.Codes[i] = make([]int, T)
			for t := range in.Codes[i] {
				in.Codes[i][t] = -1
			}
			copy(in.Codes[i][len(r.Prompt):], r.Codes)
			for t := len(r.Prompt); t < len(r.Prompt)+len(r.Codes); t++ {
				ids[t] = 0
			}
		} else {
			copy(ids[len(r.Prompt):], r.Text)
		}
		in.IDs[i] = ids
		for t, id := range tgt {
			k := i*T + len(r.Prompt) - 1 + t
			target[k], weight[k] = int64(id), 1/float32(len(tgt))
		}
		if !codes {
			of = append(of, r.Image)
		}
	}
	var rf raw.Tensor
	if feats != nil {
		rf = p.rowFeatures(a, feats, of)
	}
	h, err := m.forward(a, in, rf, nil)
	if err != nil {
		return nil, err
	}
	var lg raw.Tensor
	if codes {
		lg = m.imageLogits(a, h)
	} else {
		lg = m.textLogits(a, h)
	}
	logp := a.LogSoftmax(lg, -1) // [N, T, V or K]
	idx := a.Unsqueeze(a.FromInt64(target, int64(N), int64(T)), 2)
	picked := a.View(a.Gather(logp, 2, idx), int64(N), int64(T))
	return a.Neg(a.Sum(a.Mul(picked, a.FromFloat32(weight, int64(N), int64(T))))), a.Err()
}
