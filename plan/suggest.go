package plan

import (
	"fmt"
	"strings"
)

// Suggestion is one change of the run's knobs and the plan it gives.
type Suggestion struct {
	Knob  string `json:"knob"`  // shard, checkpointing, micro-batch, rollout-batch, ranks, optimizer-host, beta, lora, together
	Flags string `json:"flags"` // the change, as flags of trainer train
	Fits  bool   `json:"fits"`
	Note  string `json:"note,omitempty"`
	Plan  *Plan  `json:"plan"` // the plan with the change (without suggestions of its own)
}

// knob is a change to try: apply returns the changed input and its flags, or ok false when the
// knob does not apply (already set, or nothing to change).
type knob struct {
	name, note string
	apply      func(in Input, p *Plan, b Budget) (out Input, flags string, ok bool)
}

// knobs are the changes Suggest tries, in the order it lists them.
var knobs = []knob{
	{"shard", "masters and moments split over the ranks", func(in Input, _ *Plan, _ Budget) (Input, string, bool) {
		ok := in.Ranks > 1 && !in.ShardOptimizer
		in.ShardOptimizer = true
		return in, "--shard-optimizer", ok
	}},
	{"checkpointing", "recompute each layer's activations in the backward", func(in Input, _ *Plan, _ Budget) (Input, string, bool) {
		was := in.ActivationCheckpointing
		in.ActivationCheckpointing = true
		return in, "--activation-checkpointing", !was
	}},
	{"micro-batch", "fewer sequences per forward and backward", func(in Input, p *Plan, b Budget) (Input, string, bool) {
		return search(in, b, smallerMicros(p.MicroBatch, in.Group), func(x *Input, v int) { x.MicroBatch = v }, "--micro-batch %d")
	}},
	{"rollout-batch", "fewer images sampled together", func(in Input, p *Plan, b Budget) (Input, string, bool) {
		var imgs []int
		for v := p.RolloutBatch/in.Group - 1; v >= 1; v-- {
			imgs = append(imgs, v)
		}
		return search(in, b, imgs, func(x *Input, v int) { x.RolloutBatch = v }, "--rollout-batch %d")
	}},
	{"ranks", "more ranks: fewer sequences each (--batch unchanged), and a smaller shard", moreRanks},
	{"optimizer-host", "the optimizer state in host memory", func(in Input, _ *Plan, _ Budget) (Input, string, bool) {
		ok := in.Device == "cuda" && in.Optimizer != "host"
		in.Optimizer = "host"
		return in, "--optimizer host", ok
	}},
	{"beta", "no KL term, so no frozen reference (changes the objective)", func(in Input, _ *Plan, _ Budget) (Input, string, bool) {
		ok := in.Beta > 0 && in.LoRARank == 0 // a LoRA run has no reference copy to drop
		in.Beta = 0
		return in, "--beta 0", ok
	}},
	{"lora", "rank-16 LoRA adapters on the attention projections: only they train, and no reference copy (changes what trains)", func(in Input, _ *Plan, _ Budget) (Input, string, bool) {
		ok := in.LoRARank == 0 && (in.Model.Family == "qwen2" || in.Model.Family == "llama")
		in.LoRARank, in.LoRATargets = 16, []string{"q_proj", "k_proj", "v_proj", "o_proj"}
		return in, "--lora-rank 16", ok
	}},
}

// Suggest lists, for a plan over budget b, the knobs that bring it under (each alone, with its
// plan) and, when none does alone, the knobs together. A plan that fits gets none.
func Suggest(p *Plan, b Budget) {
	p.Check(b)
	p.Suggestions = nil
	if p.Fits {
		return
	}
	anyFits := false
	for _, k := range knobs {
		in, fl, ok := k.apply(p.Input, p, b)
		if !ok {
			continue
		}
		q, err := Compute(in)
		if err != nil {
			continue
		}
		q.Check(b)
		if !lowers(p, q) {
			continue // the knob does not touch what is over budget
		}
		anyFits = anyFits || q.Fits
		p.Suggestions = append(p.Suggestions, Suggestion{Knob: k.name, Flags: fl, Fits: q.Fits, Note: k.note, Plan: q})
	}
	if !anyFits {
		if s, ok := together(p, b); ok {
			p.Suggestions = append(p.Suggestions, s)
		}
	}
}

// lowers reports whether q's peaks are below p's where p is over budget.
func lowers(p, q *Plan) bool {
	b := p.Budget
	devOver := b.Device > 0 && p.Peak.Device > b.Device
	hostOver := b.Host > 0 && p.Peak.Host > b.Host
	return (devOver && q.Peak.Device < p.Peak.Device) || (hostOver && q.Peak.Host < p.Peak.Host)
}

// together applies the knobs one after the other, in the order of knobs (sharding,
// checkpointing, the largest micro-batch and rollout batch that fit, more ranks, the optimizer on
// the host, no reference), each only when it lowers what is over budget, until the plan fits or
// none is left.
func together(p *Plan, b Budget) (Suggestion, bool) {
	q := p
	var fs []string
	for _, k := range knobs {
		out, fl, ok := k.apply(q.Input, q, b)
		if !ok {
			continue
		}
		next, err := Compute(out)
		if err != nil {
			continue
		}
		next.Check(b)
		if !lowers(q, next) {
			continue
		}
		q = next
		fs = append(fs, fl)
		if q.Fits {
			break
		}
	}
	if len(fs) < 2 {
		return Suggestion{}, false
	}
	note := "the knobs together"
	if !q.Fits {
		note = "the knobs together, still over budget: a larger device, more ranks with a larger --batch, or a smaller model"
	}
	return Suggestion{Knob: "together", Flags: strings.Join(fs, " "), Fits: q.Fits, Note: note, Plan: q}, true
}

// search tries the values cands (largest first) of a count (micro-batch or rollout batch) and
// returns the first whose plan fits, or the last when none does; not ok without candidates.
func search(in Input, b Budget, cands []int, set func(*Input, int), format string) (Input, string, bool) {
	if len(cands) == 0 {
		return in, "", false
	}
	var v int
	for _, v = range cands {
		x := in
		set(&x, v)
		if q, err := Compute(x); err == nil {
			if q.Check(b); q.Fits {
				break
			}
		}
	}
	set(&in, v)
	return in, fmt.Sprintf(format, v), true
}

// moreRanks returns the fewest ranks above the run's (dividing --batch) whose plan fits, or the
// most when none does; not ok when --batch allows no more ranks, or for a CPU run (its ranks
// share one host's memory, which more ranks do not enlarge). A GPU run's new ranks are taken to
// bring their own GPU and share of host memory.
func moreRanks(in Input, _ *Plan, b Budget) (Input, string, bool) {
	if in.Device != "cuda" {
		return in, "", false
	}
	var cands []int
	for n := in.Ranks + 1; n <= in.Batch; n++ {
		if in.Batch%n == 0 {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return in, "", false
	}
	best := in
	for _, n := range cands {
		best.Ranks = n
		if q, err := Compute(best); err == nil {
			q.Check(b)
			if q.Fits {
				break
			}
		}
	}
	return best, fmt.Sprintf("--np %d", best.Ranks), true
}
