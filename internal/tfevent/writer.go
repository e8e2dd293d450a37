package tfevent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Writer appends events to a new event file of a folder. Each call writes whole records with one
// write, so the file holds every event written so far (a run killed mid-write leaves at most a
// torn last record, which readers skip).
type Writer struct {
	f    *os.File
	path string
	buf  []byte
}

// Create makes dir if needed and starts a new event file in it, named as TensorBoard expects
// (events.out.tfevents.SECONDS.HOST.PID, with a counter if that name is taken), whose first event
// is the file version. now is the time recorded for it.
func Create(dir string, now time.Time) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	base := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%010d.%s.%d", now.Unix(), host, os.Getpid()))
	var f *os.File
	path := base
	for i := 1; ; i++ {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
		path = fmt.Sprintf("%s.%d", base, i)
	}
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	w := &Writer{f: f, path: path}
	if err := w.write(fileVersionEvent(seconds(now))); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// Path is the event file's path.
func (w *Writer) Path() string { return w.path }

// Scalars writes one event holding values (tag to value) at step, tags in sorted order, and hands
// it to the operating system before returning.
func (w *Writer) Scalars(step int64, wall time.Time, values map[string]float64) error {
	scalars := make([]Scalar, 0, len(values))
	for tag, v := range values {
		scalars = append(scalars, Scalar{Tag: tag, Value: v})
	}
	sort.Slice(scalars, func(i, j int) bool { return scalars[i].Tag < scalars[j].Tag })
	return w.write(scalarEvent(seconds(wall), step, scalars))
}

// Restart writes a SessionLog START at step: a resumed run going on from step-1 tells TensorBoard
// to forget what an earlier file of the folder holds for step and later (the steps that ran past
// the checkpoint before the run stopped).
func (w *Writer) Restart(step int64, wall time.Time) error {
	return w.write(startEvent(seconds(wall), step))
}

// Close syncs and closes the file.
func (w *Writer) Close() error {
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tensorboard: %w", err)
	}
	return nil
}

// write frames one event as a record and writes it in one call.
func (w *Writer) write(event []byte) error {
	w.buf = appendRecord(w.buf[:0], event)
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("tensorboard: %s: %w", w.path, err)
	}
	return nil
}

// seconds is t as the fractional seconds since the epoch of Event.wall_time.
func seconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }
