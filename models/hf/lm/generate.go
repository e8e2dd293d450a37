package lm

import (
	"fmt"

	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Generate continues each prompt (rows of any length, left-padded into one batch) greedily, one
// token per step with a key/value cache, and returns each row's new tokens. Ties go to the lowest
// id, as torch.argmax does.
func (m *Model) Generate(prompts [][]int, o hf.GenerateOptions) ([][]int, error) {
	B := len(prompts)
	if B == 0 || o.MaxNew < 1 {
		return nil, fmt.Errorf("hf: generate: %d prompts, %d new tokens", B, o.MaxNew)
	}
	T := 0
	for _, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("hf: generate: an empty prompt (give at least a start token)")
		}
		T = max(T, len(p))
	}
	// Left padding: row b's prompt ends at position T-1 for every row.
	in := hf.Batch{IDs: make([][]int, B), Pos: make([][]int, B), Mask: make([][]int, B)}
	next := make([]int, B) // each row's next position
	for b, p := range prompts {
		pad := T - len(p)
		in.IDs[b] = append(make([]int, pad), p...)
		in.Mask[b] = make([]int, T)
		in.Pos[b] = make([]int, T)
		for t := range T {
			if t >= pad {
				in.Mask[b][t] = 1
				in.Pos[b][t] = t - pad
			} else {
				in.Pos[b][t] = 1 // unused; transformers puts 1 there
			}
		}
		next[b] = len(p)
	}
	dec := m.NewStepper(T + o.MaxNew - 1)
	defer dec.Close()
	s, err := hf.NewSampler(B, o.MaxNew, policy.SampleOptions{Greedy: true}, nil, o.Stop)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	feed := make([]int, B)
	for step := 0; step < o.MaxNew; step++ {
		if err := dec.Step(in); err != nil {
			return nil, fmt.Errorf("hf: generate step %d: %w", step, err)
		}
		active, err := s.Next(step, dec, feed)
		if err != nil {
			return nil, err
		}
		if !active {
			break
		}
		for b := range B {
			in.IDs[b] = []int{feed[b]}
			in.Pos[b] = []int{next[b]}
			in.Mask[b] = append(in.Mask[b], 1)
			next[b]++
		}
	}
	return s.Rollout().Tokens, nil
}
