package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Write prints the plan as a table, its peaks against the budget and the suggestions.
func (p *Plan) Write(w io.Writer) error {
	in := p.Input
	fmt.Fprintf(w, "memory plan: %s, per rank of %s, %s on %s\n", p.Model, ranks(in.Ranks), dtypeName(dtypeBytes(in.DType)), in.Device)
	fmt.Fprintf(w, "  parameters %s (%s); trained %s (%s)\n", count(p.Params.Total), p.parts(), count(p.Params.Trainable), strings.Join(p.Params.Train, ", "))
	fmt.Fprintf(w, "  sequences per rank %d (--batch %d / %d ranks x --group %d); update micro-batch %d; rollout batch %d\n",
		p.RowsPerRank, in.Batch, in.Ranks, in.Group, p.MicroBatch, p.RolloutBatch)
	fmt.Fprintf(w, "  tokens per sequence %d = %d prompt + %d image + %d caption", p.Tokens.Sequence, p.Tokens.Prompt, p.Tokens.Image, p.Tokens.Caption)
	if k := flags(in); k != "" {
		fmt.Fprintf(w, "; knobs: %s", k)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  item\twhere\tphase\tbytes\tbasis\thow")
	for _, r := range p.Rows {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Where, r.Phase, Human(r.Bytes), r.Basis, r.How)
	}
	p.writePeaks(tw)
	if err := tw.Flush(); err != nil {
		return err
	}
	return p.writeSuggestions(w)
}

// writePeaks adds the peaks, each against its budget, to the table.
func (p *Plan) writePeaks(tw io.Writer) {
	first := "  peak per rank"
	row := func(loc, phase string, b, budget int64, from string) {
		verdict := "no budget to check"
		if budget > 0 {
			verdict = fmt.Sprintf("of %s (%s): %s", Human(budget), from, fitsWord(b <= budget))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\t%s\n", first, loc, phase, Human(b), verdict)
		first = ""
	}
	var b Budget
	if p.Budget != nil {
		b = *p.Budget
	}
	if p.Input.Device == "cuda" {
		row(Device, p.Peak.DevicePhase, p.Peak.Device, b.Device, b.DeviceFrom)
	}
	row(Host, p.Peak.HostPhase, p.Peak.Host, b.Host, b.HostFrom)
}

func fitsWord(ok bool) string {
	if ok {
		return "fits"
	}
	return "OVER"
}

// writeSuggestions prints the knobs of a plan over budget.
func (p *Plan) writeSuggestions(w io.Writer) error {
	if p.Fits {
		return nil
	}
	fmt.Fprintf(w, "\nover budget (%s). Knobs, each with its plan's peaks:\n", strings.Join(p.Over, ", "))
	if len(p.Suggestions) == 0 {
		fmt.Fprintln(w, "  none of the knobs lowers it: a larger device or a smaller model")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range p.Suggestions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.Flags, s.Plan.peaks(), fitsWord(s.Fits), s.Note)
	}
	return tw.Flush()
}

// Summary is the plan in a few lines, for the start of `trainer train`.
func (p *Plan) Summary() string {
	var b strings.Builder
	in := p.Input
	fmt.Fprintf(&b, "memory plan per rank (%s parameters, %s on %s, %s", count(p.Params.Total), dtypeName(dtypeBytes(in.DType)), in.Device, ranks(in.Ranks))
	if k := flags(in); k != "" {
		fmt.Fprintf(&b, ", %s", k)
	}
	b.WriteString("):\n")
	for _, loc := range []string{Device, Host} {
		var items []string
		for _, r := range p.Rows {
			if r.Where == loc && r.Bytes > 0 {
				items = append(items, fmt.Sprintf("%s %s", r.Name, Human(r.Bytes)))
			}
		}
		if len(items) == 0 {
			continue
		}
		pk, phase, budget := p.Peak.Host, p.Peak.HostPhase, int64(0)
		if loc == Device {
			pk, phase = p.Peak.Device, p.Peak.DevicePhase
		}
		if p.Budget != nil {
			budget = p.Budget.Host
			if loc == Device {
				budget = p.Budget.Device
			}
		}
		fmt.Fprintf(&b, "  %s peak %s (at %s)", loc, Human(pk), phase)
		if budget > 0 {
			fmt.Fprintf(&b, " of %s: %s", Human(budget), fitsWord(pk <= budget))
		}
		fmt.Fprintf(&b, "; %s\n", strings.Join(items, ", "))
	}
	return b.String()
}

// Knobs names the suggestions that bring the plan under budget, for an error message; when
// none does, the knobs that lower it, with the peaks they reach.
func (p *Plan) Knobs() string {
	var fit, lower []string
	for _, s := range p.Suggestions {
		if s.Fits {
			fit = append(fit, s.Flags)
		} else {
			lower = append(lower, fmt.Sprintf("%s (%s)", s.Flags, s.Plan.peaks()))
		}
	}
	switch {
	case len(fit) > 0:
		return "these bring it under: " + strings.Join(fit, " | ")
	case len(lower) > 0:
		return "no knob brings it under; these lower it: " + strings.Join(lower, " | ")
	}
	return "no knob lowers it"
}

// peaks writes the plan's peaks, the device's for a CUDA run.
func (p *Plan) peaks() string {
	s := fmt.Sprintf("host %s", Human(p.Peak.Host))
	if p.Input.Device == "cuda" {
		s = fmt.Sprintf("device %s, %s", Human(p.Peak.Device), s)
	}
	return s
}

// JSON writes the plan as indented JSON.
func (p *Plan) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// parts lists the parameter counts by part, largest first.
func (p *Plan) parts() string {
	type kv struct {
		k string
		v int64
	}
	var xs []kv
	for k, v := range p.Params.Parts {
		xs = append(xs, kv{k, v})
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].v > xs[j].v })
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.k + " " + count(x.v)
	}
	return strings.Join(out, ", ")
}

// ranks writes a number of ranks.
func ranks(n int) string {
	if n == 1 {
		return "1 rank"
	}
	return fmt.Sprintf("%d ranks", n)
}

// dtypeBytes is the width of a --dtype value (4 for anything but bfloat16).
func dtypeBytes(s string) int64 {
	if s == "bfloat16" || s == "bf16" {
		return 2
	}
	return 4
}

// ExplainOOM adds the plan's figures and the knobs not yet used to an out-of-memory error of the
// run it planned (CUDA's "out of memory", the host's "cannot allocate memory"); other errors and
// a nil plan pass err unchanged.
func (p *Plan) ExplainOOM(err error) error {
	if err == nil || p == nil {
		return err
	}
	msg := strings.ToLower(err.Error())
	if !strings.Contains(msg, "out of memory") && !strings.Contains(msg, "cannot allocate memory") {
		return err
	}
	in := p.Input
	var knobs []string
	if in.Ranks > 1 && !in.ShardOptimizer {
		knobs = append(knobs, "--shard-optimizer")
	}
	if !in.ActivationCheckpointing {
		knobs = append(knobs, "--activation-checkpointing")
	}
	if m := smallerMicros(p.MicroBatch, in.Group); len(m) > 0 {
		knobs = append(knobs, fmt.Sprintf("--micro-batch %d", m[0]))
	}
	if imgs := p.RolloutBatch / in.Group; imgs > 1 {
		knobs = append(knobs, fmt.Sprintf("--rollout-batch %d", imgs/2))
	}
	knobs = append(knobs, "more ranks (launch -np) at the same --batch")
	phase := p.Peak.HostPhase
	if in.Device == "cuda" {
		phase = p.Peak.DevicePhase
	}
	return fmt.Errorf("%w\nthe memory plan of this run put its peak at %s (the %s phase; activations are an estimate); knobs that lower it: %s (`trainer plan` with this run's flags shows what each saves)",
		err, p.peaks(), phase, strings.Join(knobs, ", "))
}
