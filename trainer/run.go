package trainer

import (
	"encoding/json"
	"fmt"
	"github.com/unigrpo/unigrpo/internal/atomicfile"

	"os"
	"path/filepath"
	"time"
)

// Observer is told about the progress of a loop; the loop does not know how it is drawn (a
// progress bar, plain log lines, nothing). Only rank 0 reports.
type Observer interface {
	Begin(what string, first, total int) // steps first+1..total are about to run
	Step(r map[string]float64)           // one finished step's metrics
	Logf(format string, args ...any)     // a message for the user
	End()
}

// Quiet is an Observer that reports nothing.
type Quiet struct{}

func (Quiet) Begin(string, int, int)  {}
func (Quiet) Step(map[string]float64) {}
func (Quiet) Logf(string, ...any)     {}
func (Quiet) End()                    {}

// runFolder is the part of a run every loop shares: the folder, its log file and metrics.
type runFolder struct {
	dir     string
	primary bool // rank 0: the only rank that writes files
	log     *os.File
	metrics *MetricsLog
	obs     Observer
	unlock  func() // releases the folder's lock file
}

// openRun prepares dir, holding its lock file (lockRun) until close. resumeStep < 0 starts a new
// run: dir must be empty, or with force its files are moved aside (claimNew); config is written
// to config.json. Otherwise metrics after resumeStep are dropped. Ranks other than 0 touch no
// file.
func openRun(dir string, primary bool, config any, resumeStep int, force bool, obs Observer) (_ *runFolder, err error) {
	if obs == nil {
		obs = Quiet{}
	}
	r := &runFolder{dir: dir, primary: primary, obs: obs, unlock: func() {}}
	if !primary {
		return r, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	unlock, err := lockRun(dir)
	if err != nil {
		return nil, err
	}
	r.unlock = unlock
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	aside := ""
	if resumeStep < 0 {
		if aside, err = claimNew(dir, force); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "plots"), 0o755); err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	if resumeStep < 0 {
		js, err := json.MarshalIndent(config, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(filepath.Join(dir, "config.json"), append(js, '\n')); err != nil {
			return nil, err
		}
	}
	if r.log, err = os.OpenFile(filepath.Join(dir, "log.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	if r.metrics, err = OpenMetrics(filepath.Join(dir, "metrics.jsonl"), resumeStep); err != nil {
		r.log.Close()
		return nil, err
	}
	if aside != "" {
		r.logf("--force: the folder's earlier files are now in %s", aside)
	}
	return r, nil
}

// logf writes a line to the run's log file and to the observer (rank 0 only).
func (r *runFolder) logf(format string, args ...any) {
	if !r.primary {
		return
	}
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(r.log, "%s %s\n", time.Now().Format(time.RFC3339), msg)
	r.obs.Logf("%s", msg)
}

func (r *runFolder) close() error {
	if !r.primary {
		return nil
	}
	defer r.unlock()
	err := r.metrics.Close()
	if cerr := r.log.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeJSON writes v as indented JSON to a file of the run folder, atomically.
func (r *runFolder) writeJSON(name string, v any) error {
	if !r.primary {
		return nil
	}
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(r.dir, name), append(js, '\n'))
}

// ConfigError is a mistake in a run's configuration (flags), found before any work starts.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }
