package trainer

import (
	"fmt"

	"github.com/unigrpo/unigrpo/models/policy"
)

// This file splits a step's rows into the batches its passes run over: the update's forward and
// backward M rows at a time (GRPOConfig.MicroBatch), the rollout's sampling R images at a time
// (GRPOConfig.RolloutBatch). Rows are r = b*G + g (image b, sample g); N = B*G on this rank.

// microBatch is a run of rows [lo, hi) of a step, the images [img0, img1) they belong to, and the
// rows per image the policy sees in it: G when it holds whole images, M when it holds M of one
// image's G captions.
type microBatch struct {
	lo, hi     int
	img0, img1 int
	g          int
}

// microBatches splits the N = B*G rows of B images into micro-batches of M rows: whole images
// when M is a multiple of G (the last one may hold fewer), or G/M parts of each image's group when
// M divides G. M = 0, or M >= N, gives one micro-batch of every row. GRPOConfig.Validate checks M.
func microBatches(B, G, M int) []microBatch {
	N := B * G
	if M <= 0 || M >= N {
		return []microBatch{{lo: 0, hi: N, img0: 0, img1: B, g: G}}
	}
	var out []microBatch
	if M%G == 0 {
		k := M / G
		for b := 0; b < B; b += k {
			e := min(b+k, B)
			out = append(out, microBatch{lo: b * G, hi: e * G, img0: b, img1: e, g: G})
		}
		return out
	}
	for b := range B {
		for lo := b * G; lo < (b+1)*G; lo += M {
			out = append(out, microBatch{lo: lo, hi: lo + M, img0: b, img1: b + 1, g: M})
		}
	}
	return out
}

// checkMicroBatch says whether M rows a micro-batch fit groups of G: 0 (every row at once), a
// multiple of G (whole images) or a divisor of G (part of one image's captions).
func checkMicroBatch(M, G int) error {
	if M < 0 || (M > 0 && M%G != 0 && G%M != 0) {
		return fmt.Errorf("--micro-batch %d: must be 0 (all rows at once), a multiple of --group %d (whole images) or a divisor of it (part of one image's captions)", M, G)
	}
	return nil
}

// appendRollout appends the rows of src to dst (the rollout of the next images).
func appendRollout(dst, src *policy.Rollout) {
	dst.Tokens = append(dst.Tokens, src.Tokens...)
	dst.Lengths = append(dst.Lengths, src.Lengths...)
	dst.LogProbs = append(dst.LogProbs, src.LogProbs...)
	dst.Hidden = append(dst.Hidden, src.Hidden...)
	dst.Truncated = append(dst.Truncated, src.Truncated...)
}

// hostRows copies a micro-batch's log-probs [n][T] to the host and, when entropy is not nil, adds
// its rows' entropies to *entropy one by one, in row order (the full batch's order of additions).
func hostRows(sc *policy.Scores, n int, entropy *float64) ([][]float64, error) {
	lp, err := rows(sc.LogProbs, n, sc.T)
	if err != nil || entropy == nil {
		return lp, err
	}
	ent, err := rows(sc.Entropy, n, sc.T)
	if err != nil {
		return nil, err
	}
	for _, row := range ent {
		for _, e := range row {
			*entropy += e
		}
	}
	return lp, nil
}
