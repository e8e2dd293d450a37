package trainer

import (
	"fmt"
	"math"
)

// LossAgg selects how per-token losses are averaged into the objective.
type LossAgg string

const (
	// SeqMeanTokenMean averages each trajectory over its own tokens, then over trajectories:
	// the paper's Eq. 1 (TRL "grpo", verl "seq-mean-token-mean").
	SeqMeanTokenMean LossAgg = "seq-mean-token-mean"
	// TokenMean averages over every token of the global batch (TRL "bnpo"/"dapo").
	TokenMean LossAgg = "token-mean"
	// DrGRPO divides the token sum by a constant: trajectories times the maximum caption length.
	DrGRPO LossAgg = "dr-grpo"
)

// ParseLossAgg checks a --loss-agg value.
func ParseLossAgg(s string) (LossAgg, error) {
	switch a := LossAgg(s); a {
	case SeqMeanTokenMean, TokenMean, DrGRPO:
		return a, nil
	}
	return "", fmt.Errorf("unknown loss aggregation %q: use %s, %s or %s", s, SeqMeanTokenMean, TokenMean, DrGRPO)
}

// Advantages normalises rewards inside each group of G consecutive trajectories:
// A_i = (R_i - mean(R)) / (std(R) + eps), with the unbiased standard deviation. A group whose
// rewards are all equal gets advantage 0 (never NaN) and is counted in zeroStd. With scale false
// the advantages are only centred (Dr. GRPO).
func Advantages(rewards []float64, G int, eps float64, scale bool) (adv []float64, zeroStd int) {
	adv = make([]float64, len(rewards))
	for g0 := 0; g0+G <= len(rewards); g0 += G {
		r := rewards[g0 : g0+G]
		lo, hi, mean := r[0], r[0], 0.0
		for _, x := range r {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
			mean += x
		}
		if hi == lo {
			zeroStd++
			continue // adv stays 0
		}
		mean /= float64(G)
		ss := 0.0
		for _, x := range r {
			ss += (x - mean) * (x - mean)
		}
		std := math.Sqrt(ss / float64(G-1))
		for i, x := range r {
			if scale {
				adv[g0+i] = (x - mean) / (std + eps)
			} else {
				adv[g0+i] = x - mean
			}
		}
	}
	return adv, zeroStd
}

// ObjectiveOptions are the GRPO loss hyper-parameters.
type ObjectiveOptions struct {
	EpsLow, EpsHigh float64 // ratio clipped to [1-EpsLow, 1+EpsHigh]
	Beta            float64 // weight of the k3 KL to the reference policy; 0 turns it off
	Agg             LossAgg
	MaxLen          int // Dr. GRPO's constant normaliser (tokens per trajectory)
	// GlobalN and GlobalTokens are the trajectory and token counts over all ranks, and World the
	// number of ranks. Gradients are averaged over ranks, so each rank scales its share such that
	// the average equals the objective of the global batch.
	GlobalN, GlobalTokens, World int
}

// Trajectories is one rank's batch in the layout the objective needs: N rows of T token slots.
// Tokens beyond Len[i] are padding and ignored.
type Trajectories struct {
	Len  []int       // [N] tokens of each caption (EOS included)
	LogP [][]float64 // [N][T] log-probs under the current policy (at the sampling temperature)
	Old  [][]float64 // [N][T] log-probs under the policy that sampled them (detached)
	Ref  [][]float64 // [N][T] log-probs under the frozen reference; nil when Beta is 0
	Adv  []float64   // [N] group-normalised advantages
}

// ObjectiveResult is the loss value of one rank's share and its derivative.
type ObjectiveResult struct {
	Loss float64 // this rank's share of the loss (averaging it over ranks gives the global loss)
	// Coef [N][T] is dLoss/dLogP. Back-propagating sum(LogP * Coef) through the policy gives the
	// exact gradient of Loss, so the objective is computed here in float64 and libtorch only runs
	// one multiply and sum for it.
	Coef [][]float64
	// Diagnostics, averaged over this rank's tokens (reduce them over ranks as token-weighted means).
	KL, ClipLow, ClipHigh, RatioMean float64
	Tokens                           int
}

// Objective is the paper's Eq. 1-2 as a loss to minimise, for N trajectories of at most T tokens:
//
//	r_it  = exp(logp_it - old_it)
//	pg_it = max(-A_i r_it, -A_i clip(r_it, 1-epsLow, 1+epsHigh))
//	kl_it = exp(d) - d - 1, d = ref_it - logp_it             (k3 estimator, d clamped to +-20)
//	l_it  = pg_it + beta kl_it
//	loss  = sum_i w_i sum_{t<len_i} l_it
//
// where the weight w_i follows the aggregation: 1/(len_i N) for seq-mean-token-mean, 1/tokens for
// token-mean, 1/(N MaxLen) for Dr. GRPO (N and tokens counted over all ranks).
func Objective(tr Trajectories, o ObjectiveOptions) (ObjectiveResult, error) {
	var sums objectiveSums
	coef, err := sums.add(tr, o)
	if err != nil {
		return ObjectiveResult{}, err
	}
	res := sums.result()
	res.Coef = coef
	return res, nil
}

// objectiveSums accumulates the objective over batches of rows: a row's loss and coefficients
// depend only on the row and the global normalisers of ObjectiveOptions, so adding the rows of
// successive micro-batches, in order, gives the full batch's sums bit for bit (the same additions
// in the same order), and result its loss and token-averaged diagnostics.
type objectiveSums struct {
	loss, kl, ratio float64
	low, high       int
	tokens          int
}

// add adds the rows of tr and returns their coefficients dLoss/dLogP [n][T] (see Objective).
func (s *objectiveSums) add(tr Trajectories, o ObjectiveOptions) ([][]float64, error) {
	N := len(tr.Len)
	if len(tr.LogP) != N || len(tr.Old) != N || len(tr.Adv) != N || (o.Beta != 0 && len(tr.Ref) != N) {
		return nil, fmt.Errorf("grpo objective: inconsistent batch: %d lengths, %d logp, %d old, %d ref, %d advantages",
			N, len(tr.LogP), len(tr.Old), len(tr.Ref), len(tr.Adv))
	}
	world := max(o.World, 1)
	coefs := make([][]float64, N)
	for i := 0; i < N; i++ {
		L := tr.Len[i]
		if L > len(tr.LogP[i]) || L > len(tr.Old[i]) || (o.Beta != 0 && L > len(tr.Ref[i])) {
			return nil, fmt.Errorf("grpo objective: trajectory %d has %d tokens but only %d log-probs", i, L, len(tr.LogP[i]))
		}
		var w float64
		switch o.Agg {
		case SeqMeanTokenMean:
			if L > 0 {
				w = float64(world) / (float64(L) * float64(o.GlobalN))
			}
		case TokenMean:
			w = float64(world) / float64(o.GlobalTokens)
		case DrGRPO:
			w = float64(world) / (float64(o.GlobalN) * float64(o.MaxLen))
		default:
			return nil, fmt.Errorf("grpo objective: unknown aggregation %q", o.Agg)
		}
		var ref []float64
		if o.Beta != 0 {
			ref = tr.Ref[i]
		}
		coefs[i] = s.row(tr.LogP[i], tr.Old[i], ref, L, tr.Adv[i], w, o)
		s.tokens += L
	}
	return coefs, nil
}

// row adds the first L tokens of one trajectory of advantage A and weight w and returns its
// coefficients (len(logp) of them, 0 past L); ref is nil without a KL term.
func (s *objectiveSums) row(logp, old, ref []float64, L int, A, w float64, o ObjectiveOptions) []float64 {
	coef := make([]float64, len(logp))
	for t := 0; t < L; t++ {
		lp := logp[t]
		r := math.Exp(lp - old[t])
		s.ratio += r
		rc := math.Min(math.Max(r, 1-o.EpsLow), 1+o.EpsHigh)
		pg, dpg := -A*r, -A*r // unclipped branch; d(-A r)/dlogp = -A r
		if c := -A * rc; c > pg {
			pg, dpg = c, 0 // the clipped branch wins: constant in logp
		}
		if r < 1-o.EpsLow && A < 0 {
			s.low++
		}
		if r > 1+o.EpsHigh && A > 0 {
			s.high++
		}
		l, dl := pg, dpg
		if ref != nil {
			d := ref[t] - lp
			kl, dkl := 0.0, 0.0
			if d > 20 || d < -20 {
				d = math.Max(-20, math.Min(20, d))
				kl = math.Exp(d) - d - 1 // clamped: constant in logp
			} else {
				kl = math.Exp(d) - d - 1
				dkl = -math.Exp(d) + 1 // dd/dlogp = -1
			}
			s.kl += kl
			l += o.Beta * kl
			dl += o.Beta * dkl
		}
		s.loss += w * l
		coef[t] = w * dl
	}
	return coef
}

// result is the objective of the rows added so far, without coefficients.
func (s *objectiveSums) result() ObjectiveResult {
	res := ObjectiveResult{Loss: s.loss, Tokens: s.tokens}
	if s.tokens > 0 {
		n := float64(s.tokens)
		res.KL, res.ClipLow, res.ClipHigh, res.RatioMean = s.kl/n, float64(s.low)/n, float64(s.high)/n, s.ratio/n
	}
	return res
}
