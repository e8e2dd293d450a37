package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/unigrpo/unigrpo/internal/tfevent"
	"github.com/unigrpo/unigrpo/trainer"
)

// tensorboardInRun is --tensorboard's value when it is given without one: the run folder's tb/.
const tensorboardInRun = "<out>/tb"

// tensorboardFlag declares --tensorboard on fs.
func tensorboardFlag(fs *pflag.FlagSet) *string {
	p := fs.String("tensorboard", "", "also write every metric of metrics.jsonl as TensorBoard scalars to `DIR`, rank 0 only, flushed every step (--tensorboard alone: the run folder's tb/; a DIR goes after '=')")
	fs.Lookup("tensorboard").NoOptDefVal = tensorboardInRun
	return p
}

// tensorboardDir is where --tensorboard's value v writes for the run folder out ("": nowhere).
func tensorboardDir(v, out string) string {
	if v == tensorboardInRun {
		return filepath.Join(out, "tb")
	}
	return v
}

// withTensorBoard returns obs, also writing each step's metrics to a new event file in dir when
// dir is set and this is rank 0; close closes the file. The file is created when the loop begins,
// after the run has claimed its folder (a tb/ inside a folder the run then refuses would be left
// behind in another run's folder).
func withTensorBoard(obs trainer.Observer, dir string, rank int) (_ trainer.Observer, close func() error, err error) {
	if dir == "" || rank != 0 {
		return obs, func() error { return nil }, nil
	}
	o := &tensorboardObserver{Observer: obs, dir: dir}
	return o, o.close, nil
}

// tensorboardObserver is the loop's observer that also writes every step's record as scalars.
// A failed write is told once and ends the event file; training goes on (metrics.jsonl has all).
type tensorboardObserver struct {
	trainer.Observer
	dir    string
	w      *tfevent.Writer // created by Begin
	failed bool
}

// Begin creates the event file, and marks a resumed run's first step (first+1) as a restart, so
// that TensorBoard drops what an earlier event file holds for the steps the interrupted run went
// past its checkpoint.
func (o *tensorboardObserver) Begin(what string, first, total int) {
	o.Observer.Begin(what, first, total)
	if o.w == nil && !o.failed {
		w, err := tfevent.Create(o.dir, time.Now())
		if err != nil {
			o.check(fmt.Errorf("--tensorboard: %w", err))
			return
		}
		o.w = w
	}
	if first > 0 && o.w != nil {
		o.check(o.w.Restart(int64(first+1), time.Now()))
	}
}

func (o *tensorboardObserver) close() error {
	if o.w == nil {
		return nil
	}
	return o.w.Close()
}

func (o *tensorboardObserver) Step(rec map[string]float64) {
	o.Observer.Step(rec)
	if o.failed || o.w == nil {
		return
	}
	values := make(map[string]float64, len(rec))
	for k, v := range rec {
		if k != "step" {
			values[k] = v
		}
	}
	o.check(o.w.Scalars(int64(rec["step"]), time.Now(), values))
}

func (o *tensorboardObserver) check(err error) {
	if err != nil && !o.failed {
		o.failed = true
		o.Observer.Logf("%v; no more TensorBoard events are written (metrics.jsonl has them all)", err)
	}
}

// optionalValueHint explains an unexpected argument that follows a flag whose value is optional
// (such as --tensorboard): its value must be joined with '='.
func optionalValueHint(fs *pflag.FlagSet, args []string) string {
	for i := 1; i < len(args); i++ {
		if args[i] != fs.Arg(0) || !strings.HasPrefix(args[i-1], "--") || strings.Contains(args[i-1], "=") {
			continue
		}
		if f := fs.Lookup(args[i-1][2:]); f != nil && f.NoOptDefVal != "" && f.Value.Type() != "bool" {
			return fmt.Sprintf(" (the value of --%s goes after '=': --%s=%s)", f.Name, f.Name, args[i])
		}
	}
	return ""
}
