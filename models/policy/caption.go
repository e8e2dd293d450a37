// Package policy holds what a captioning policy (image-to-text) hands to the trainer, whatever
// its architecture: the options and result of sampling (Rollout), the teacher-forced scores
// (Scores) and the named trainable parameters (Param). The tiny world captioner (models/captioner)
// and the Hugging Face families return these types; the trainer asks for them through its
// Policy interface.
//
// Shapes: B images, G samples per image (row r = b*G + g), N = B*G rows, T caption tokens.
package policy

import "github.com/sugarme/gotch/ts"

// SampleOptions controls Sample.
type SampleOptions struct {
	// Temperature divides the logits before the softmax (1 samples the model's distribution).
	// It must be positive unless Greedy is set; with Greedy, 0 means 1 for the reported
	// log-probabilities.
	Temperature float64
	// TopK, when positive, samples among the TopK most likely tokens only (renormalised).
	// The reported log-probabilities are still those of the full tempered distribution, the
	// ones LogProbs computes.
	TopK int
	// TopP, when in (0, 1), samples among the smallest set of most likely tokens whose
	// probability (after Temperature and TopK, renormalised) reaches TopP: nucleus sampling.
	// 0 and 1 turn it off; other values are refused (CheckTopP). As with TopK, the reported
	// log-probabilities are those of the full tempered distribution, the ones LogProbs computes.
	TopP float64
	// MaxLen is the most tokens a caption may have, EOS included; 0 means the model's MaxLen,
	// which is also the upper limit.
	MaxLen int
	// Greedy takes the most likely token at every step (ties: the lowest id) and needs no
	// random generators.
	Greedy bool
	// MinLen, when positive, keeps EOS from being picked before a caption has MinLen tokens
	// (EOS included); with MinLen = MaxLen every caption has exactly MaxLen tokens. The reported
	// log-probabilities stay the model's. For benchmarks that need equal work on both sides.
	MinLen int
}

// Rollout is the result of Sample for N = B*G rows, row b*G+g being sample g of image b.
type Rollout struct {
	// Tokens holds each row's caption: without BOS, ending with EOS when one was emitted.
	Tokens [][]int
	// Lengths holds len(Tokens[r]): the tokens that count in a loss, EOS included.
	Lengths []int
	// LogProbs holds the log-probability of each token of Tokens under the tempered
	// distribution softmax(logits / Temperature).
	LogProbs [][]float32
	// Hidden holds, per row, the final (normalised) hidden state [D] of the position that
	// predicted the caption's last token: the state that has read the whole caption (the
	// condition of a hidden-state decoder, UMM-1 in the paper).
	Hidden [][]float32
	// Truncated reports rows that reached MaxLen without emitting EOS.
	Truncated []bool
}

// Scores holds teacher-forced per-token results for N = B*G captions padded to T tokens.
// The tensors are owned by the caller: free them with Drop.
type Scores struct {
	// LogProbs [N, T] holds log softmax(logits / temperature) of each caption token, 0 at
	// padding. It records an autograd graph when trainable parameters took part.
	LogProbs *ts.Tensor
	// Entropy [N, T] holds the entropy of the tempered next-token distribution at each caption
	// position, 0 at padding; nil unless asked for.
	Entropy *ts.Tensor
	// Mask [N, T] (float32) is 1 at caption tokens and 0 at padding.
	Mask *ts.Tensor
	// Tokens is the number of caption tokens (the sum of Mask).
	Tokens int
	// T is the padded caption length.
	T int
	// Finish, when not nil, completes a backward through LogProbs: call it once, after the
	// backward of a function of LogProbs has run, to bring the gradients to every trainable
	// parameter (activation checkpointing: the graph of LogProbs starts at the last decoder
	// layer's output, and Finish recomputes the layers to back-propagate through them). Nil: the
	// backward reaches the parameters by itself.
	Finish func() error
	// Release, when not nil, frees what Finish needs (whether or not it ran); Drop calls it.
	Release func()
}

// Drop frees the tensors, and what Finish needs.
func (s *Scores) Drop() {
	for _, t := range []*ts.Tensor{s.LogProbs, s.Entropy, s.Mask} {
		if t != nil {
			t.MustDrop()
		}
	}
	if s.Release != nil {
		s.Release()
	}
	s.LogProbs, s.Entropy, s.Mask, s.Finish, s.Release = nil, nil, nil, nil, nil
}

// Param is a named parameter tensor of a policy. The tensor is owned by the policy: use it (read
// its gradient, update it in place under no-grad) but do not free it.
type Param struct {
	// Name is the parameter's name, also its name in checkpoints ("lm.layer0.attn.qkv.weight").
	Name string
	// Decay says whether AdamW's decoupled weight decay applies (matrices; not norms, biases or
	// position tables), as the policy's authors would set it.
	Decay bool
	// Shape is the tensor's shape.
	Shape []int64
	// Tensor is the parameter (float32, on the model's device).
	Tensor *ts.Tensor
}
