package trainer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
	"strconv"

	"github.com/unigrpo/unigrpo/internal/atomicfile"

	"github.com/unigrpo/unigrpo/plots"
)

// Record is one line of metrics.jsonl: metric name to value. Every line has "step".
type Record map[string]float64

// MetricsLog appends records to a run's metrics.jsonl, one JSON object per line. Lines are
// buffered and reach the file at Flush (each log interval, and before every checkpoint).
// NaN and Inf values are written as null, which JSON can carry.
type MetricsLog struct {
	path string
	f    *os.File
	w    *bufio.Writer
}

// OpenMetrics opens path for appending. When resuming at step resumeStep (>= 0) every line of a
// later step is dropped first (rewritten atomically), so a resumed run's file has no duplicate and
// no missing step. resumeStep < 0 starts a new file.
func OpenMetrics(path string, resumeStep int) (*MetricsLog, error) {
	if resumeStep < 0 {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	} else if err := truncateMetrics(path, resumeStep); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &MetricsLog{path: path, f: f, w: bufio.NewWriter(f)}, nil
}

// Append adds one record (written at the next Flush).
func (m *MetricsLog) Append(r Record) error {
	line, err := encodeRecord(r)
	if err != nil {
		return err
	}
	_, err = m.w.Write(line)
	return err
}

// Flush writes buffered records to the file and syncs it.
func (m *MetricsLog) Flush() error {
	if err := m.w.Flush(); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return m.f.Sync()
}

// Close flushes and closes the file.
func (m *MetricsLog) Close() error {
	err := m.Flush()
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// encodeRecord writes keys in sorted order with "step" first, NaN/Inf as null.
func encodeRecord(r Record) ([]byte, error) {
	if _, ok := r["step"]; !ok {
		return nil, fmt.Errorf("metrics: record without a step")
	}
	keys := make([]string, 0, len(r))
	for k := range r {
		if k != "step" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString(`{"step":`)
	b.WriteString(strconv.FormatInt(int64(r["step"]), 10))
	for _, k := range keys {
		kj, _ := json.Marshal(k)
		b.WriteByte(',')
		b.Write(kj)
		b.WriteByte(':')
		v := r[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b.WriteString("null")
		} else {
			b.WriteString(strconv.FormatFloat(v, 'g', 7, 64))
		}
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// ReadRecords reads a metrics file with the project's one reader (plots.ReadRecords); a truncated
// last line (a crash mid-write) is skipped, a damaged line before it is an error. Fields written as
// null (NaN or Inf) are absent from their record.
func ReadRecords(path string) ([]Record, error) {
	recs, skipped, err := plots.ReadRecords(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	for _, n := range skipped {
		if n <= len(recs) {
			return nil, fmt.Errorf("metrics: %s line %d is not a JSON object", path, n)
		}
	}
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = Record(r)
	}
	return out, nil
}

func truncateMetrics(path string, upTo int) error {
	recs, err := ReadRecords(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, r := range recs {
		if int(r["step"]) <= upTo {
			line, err := encodeRecord(r)
			if err != nil {
				return err
			}
			b.Write(line)
		}
	}
	return atomicfile.Write(path, b.Bytes())
}
