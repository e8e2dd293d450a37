// Package progress draws a training loop's progress: a pb/v3 bar on a terminal, plain log lines
// otherwise (a bar's redraws would fill a log file with carriage returns).
package progress

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cheggaaa/pb/v3"
	"github.com/mattn/go-isatty"
)

// Reporter implements trainer.Observer.
type Reporter struct {
	out      io.Writer
	bar      *pb.ProgressBar
	every    int // plain mode: a line every this many steps
	what     string
	first    int
	total    int
	start    time.Time
	lastLine time.Time
	keys     []string // metrics shown, in order
}

// New returns a reporter writing to out; it draws a bar when out is a terminal and plain lines
// every `every` steps otherwise. keys are the metrics shown beside the step.
func New(out *os.File, every int, keys ...string) *Reporter {
	r := &Reporter{out: out, every: max(every, 1), keys: keys}
	if isatty.IsTerminal(out.Fd()) {
		r.bar = pb.New(0)
		r.bar.SetWriter(out)
	}
	return r
}

// Begin starts a loop of total steps of which first are done already (a resumed run).
func (r *Reporter) Begin(what string, first, total int) {
	r.what, r.first, r.total, r.start = what, first, total, time.Now()
	if r.bar != nil {
		r.bar.SetTotal(int64(total))
		r.bar.SetCurrent(int64(first))
		r.bar.SetTemplateString(`{{string . "what"}} {{counters .}} {{bar . }} {{string . "stats"}} {{etime .}} ETA {{rtime .}}`)
		r.bar.Set("what", what)
		r.bar.Start()
	}
}

// Step reports one finished step.
func (r *Reporter) Step(rec map[string]float64) {
	step := int(rec["step"])
	stats := r.format(rec)
	if r.bar != nil {
		r.bar.Set("stats", stats)
		r.bar.SetCurrent(int64(step))
		return
	}
	if step%r.every != 0 && step != r.total && step != r.first+1 {
		return
	}
	done := step - r.first
	eta := "?"
	if done > 0 {
		left := time.Duration(float64(time.Since(r.start)) / float64(done) * float64(r.total-step))
		eta = left.Round(time.Second).String()
	}
	fmt.Fprintf(r.out, "%s step %d/%d %s eta %s\n", r.what, step, r.total, stats, eta)
}

func (r *Reporter) format(rec map[string]float64) string {
	keys := r.keys
	if len(keys) == 0 {
		for k := range rec {
			if k != "step" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
	}
	var b strings.Builder
	for _, k := range keys {
		if v, ok := rec[k]; ok {
			fmt.Fprintf(&b, "%s=%.4g ", k, v)
		}
	}
	return strings.TrimSpace(b.String())
}

// Logf prints a message on its own line.
func (r *Reporter) Logf(format string, args ...any) {
	if r.bar != nil {
		// pb redraws on its own line; a message goes above it.
		fmt.Fprintf(r.out, "\r\033[K"+format+"\n", args...)
		return
	}
	fmt.Fprintf(r.out, format+"\n", args...)
}

// End stops the bar.
func (r *Reporter) End() {
	if r.bar != nil {
		r.bar.Finish()
	}
}
