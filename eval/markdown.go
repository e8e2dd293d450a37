package eval

import (
	"fmt"
	"strings"
)

// Markdown renders the tables: similarity per embedder with Overall (the paper's Tables 2-3),
// understanding (the paper's Table 8) and, with intervals (Bootstrap), each row's paired
// difference against the first. With intervals a cell reads "0.691 [0.66, 0.72]": the value over
// all scenes and its 95% bootstrap interval; without them the similarity cells show the range
// over scenes, "0.691 (0.41-0.93)".
func (r *Report) Markdown() string {
	var b strings.Builder
	where := fmt.Sprintf("%d held-out scenes (seed %d)", r.Scenes, r.Seed)
	if r.Split != "" {
		where = fmt.Sprintf("%d held-out scenes of the %s split (seed %d)", r.Scenes, r.Split, r.Seed)
	}
	if !r.Labels {
		where = fmt.Sprintf("%d held-out images of %s (decoder seed %d)", r.Scenes, r.Source, r.Seed)
	}
	fmt.Fprintf(&b, "Unified-Bench, protocol 1: %s; similarity of the regenerated image to the source", where)
	if r.Resamples > 0 {
		fmt.Fprintf(&b, "; [95%% bootstrap interval over scenes, %d resamples]", r.Resamples)
	}
	b.WriteString("\n\n| model |")
	for _, e := range r.Embedders {
		if r.Resamples > 0 {
			fmt.Fprintf(&b, " %s |", e)
		} else {
			fmt.Fprintf(&b, " %s (min-max) |", e)
		}
	}
	b.WriteString(" Overall | caption length |\n|---|")
	for range r.Embedders {
		b.WriteString("---|")
	}
	b.WriteString("---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s |", row.Name)
		for _, e := range r.Embedders {
			if r.Resamples > 0 {
				fmt.Fprintf(&b, " %s |", level(row, e, row.Stats[e].Mean, "%.3f", "%.2f"))
			} else {
				st := row.Stats[e]
				fmt.Fprintf(&b, " %.3f (%.2f-%.2f) |", st.Mean, st.Min, st.Max)
			}
		}
		fmt.Fprintf(&b, " %s | %s |\n", level(row, "overall", row.Overall, "**%.3f**", "%.2f"),
			level(row, "length_mean", row.LengthMean, "%.1f", "%.1f"))
	}
	var cols []Metric
	if r.Labels {
		b.WriteString("\nUnderstanding of the captions\n\n| model |")
		for _, m := range r.metrics {
			if m.Title != "" {
				cols = append(cols, m)
				fmt.Fprintf(&b, " %s |", m.Title)
			}
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
		for _, row := range r.Rows {
			fmt.Fprintf(&b, "| %s |", row.Name)
			for _, m := range cols {
				fmt.Fprintf(&b, " %s |", level(row, m.Key, row.Understanding[m.Key], "%.3f", "%.2f"))
			}
			b.WriteString("\n")
		}
	}
	if len(r.Deltas) == 0 {
		return b.String()
	}
	cols = append([]Metric{{Key: "overall", Title: "Overall"}, {Key: "length_mean", Title: "caption length"}}, cols...)
	fmt.Fprintf(&b, "\nPaired differences against %s (the same scenes judge both; 95%% bootstrap interval)\n\n| model |", r.Deltas[0].Base)
	for _, m := range cols {
		fmt.Fprintf(&b, " %s |", m.Title)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	for _, d := range r.Deltas {
		fmt.Fprintf(&b, "| %s |", d.Name)
		for _, m := range cols {
			if _, ok := d.Delta[m.Key]; !ok {
				b.WriteString(" - |")
				continue
			}
			fmt.Fprintf(&b, " %+.3f [%+.3f, %+.3f] |", d.Delta[m.Key], d.CILow[m.Key], d.CIHigh[m.Key])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// level formats a row's value of metric key, followed by its interval where the row has one.
func level(row *Result, key string, v float64, valFmt, ciFmt string) string {
	s := fmt.Sprintf(valFmt, v)
	lo, ok := row.CILow[key]
	if !ok {
		return s
	}
	return fmt.Sprintf("%s ["+ciFmt+", "+ciFmt+"]", s, lo, row.CIHigh[key])
}
