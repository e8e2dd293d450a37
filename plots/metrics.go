package plots

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// Point is one value of a series at a training step.
type Point struct {
	Step, Value float64
}

// Metrics holds the numeric series of a metrics.jsonl file, keyed by field
// name. The x coordinate of each point is the line's "step" field, or the
// record's 1-based position in the file when a line has no finite step.
type Metrics struct {
	series map[string][]Point

	// Records is the number of lines parsed as JSON objects.
	Records int
	// Skipped lists the 1-based line numbers that were not JSON objects
	// (typically a last line cut short by a crash) and were ignored.
	Skipped []int
}

// NewMetrics returns an empty Metrics, to be filled with Add.
func NewMetrics() *Metrics {
	return &Metrics{series: make(map[string][]Point)}
}

// Add appends the value v of field name at step.
func (m *Metrics) Add(name string, step, v float64) {
	if m.series == nil {
		m.series = make(map[string][]Point)
	}
	m.series[name] = append(m.series[name], Point{Step: step, Value: v})
}

// Series returns the points of field name in file order, nil when absent.
// The returned slice must not be modified.
func (m *Metrics) Series(name string) []Point {
	if m == nil {
		return nil
	}
	return m.series[name]
}

// Names returns the field names that have at least one point, sorted.
func (m *Metrics) Names() []string {
	if m == nil {
		return nil
	}
	names := make([]string, 0, len(m.series))
	for k := range m.series {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ReadMetrics reads a metrics.jsonl file: one JSON object per line. Numeric
// fields become series; null, strings other than "NaN"/"Inf"/"-Inf"/
// "Infinity"/"-Infinity", booleans, arrays and objects are ignored. Bare NaN
// and Infinity tokens (as Python's json module writes them) are accepted.
// Lines that are not JSON objects, such as a truncated last line, are
// skipped and listed in Metrics.Skipped.
func ReadMetrics(path string) (*Metrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plots: read metrics: %w", err)
	}
	defer f.Close()
	m, err := DecodeMetrics(f)
	if err != nil {
		return nil, fmt.Errorf("plots: read metrics %s: %w", path, err)
	}
	return m, nil
}

// DecodeMetrics reads metrics lines from r; see ReadMetrics.
func DecodeMetrics(r io.Reader) (*Metrics, error) {
	recs, skipped, err := decodeRecords(r, false)
	if err != nil {
		return nil, err
	}
	m := NewMetrics()
	m.Skipped = skipped
	for _, rec := range recs {
		m.Records++
		m.addRecord(rec, float64(m.Records))
	}
	return m, nil
}

// addRecord appends a record's fields at its step (at pos when it has no finite step).
func (m *Metrics) addRecord(rec Record, pos float64) {
	step := pos
	if v, ok := rec["step"]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
		step = v
	}
	keys := make([]string, 0, len(rec))
	for k := range rec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "step" {
			m.Add(k, step, rec[k])
		}
	}
}

// BaselineFile is the name, beside a run's metrics.jsonl, of the held-out evaluation of the
// policy a run starts from (step 0), which the trainer writes before its first step.
const BaselineFile = "baseline.json"

// ReadRun reads a run's metrics.jsonl and, when the run folder has one, its baseline (BaselineFile),
// whose fields become the first points of their series, at step 0: the held-out curve then starts
// where the run started.
func ReadRun(metricsPath string) (*Metrics, error) {
	m, err := ReadMetrics(metricsPath)
	if err != nil {
		return nil, err
	}
	js, err := os.ReadFile(filepath.Join(filepath.Dir(metricsPath), BaselineFile))
	if err != nil {
		return m, nil // no baseline: a run from before it existed, or one without evaluation
	}
	base, ok := parseRecord(js, false)
	if !ok {
		return nil, fmt.Errorf("plots: %s is damaged", filepath.Join(filepath.Dir(metricsPath), BaselineFile))
	}
	out := NewMetrics()
	out.Records, out.Skipped = m.Records, m.Skipped
	out.addRecord(base, 0)
	for _, name := range m.Names() {
		out.series[name] = append(out.series[name], m.series[name]...)
	}
	return out, nil
}

// Record is one line of a metrics file: its numeric fields by name.
type Record = map[string]float64

// ReadRecords reads a metrics.jsonl file line by line, the one reader of these files: each line
// that is a JSON object becomes a record of its numeric fields (as ReadMetrics takes them, except
// that null, how the trainer writes NaN and Inf, reads as NaN); skipped lists the 1-based numbers
// of the lines that are not (a last line cut short by a crash).
func ReadRecords(path string) (recs []Record, skipped []int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read metrics: %w", err)
	}
	defer f.Close()
	if recs, skipped, err = DecodeRecords(f); err != nil {
		return nil, nil, fmt.Errorf("read metrics %s: %w", path, err)
	}
	return recs, skipped, nil
}

// DecodeRecords reads metrics lines from r; see ReadRecords.
func DecodeRecords(r io.Reader) (recs []Record, skipped []int, err error) {
	return decodeRecords(r, true)
}

// decodeRecords reads records; nullNaN keeps null fields as NaN (else they are dropped).
func decodeRecords(r io.Reader, nullNaN bool) (recs []Record, skipped []int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if rec, ok := parseRecord(line, nullNaN); ok {
				recs = append(recs, rec)
			} else {
				skipped = append(skipped, lineNo)
			}
		}
		if errors.Is(err, io.EOF) {
			return recs, skipped, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
	}
}

// parseRecord parses one line into its numeric fields; nullNaN keeps null fields as NaN.
func parseRecord(line []byte, nullNaN bool) (Record, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		if err := json.Unmarshal(quoteNonFinite(line), &obj); err != nil {
			return nil, false
		}
	}
	if obj == nil {
		return nil, false
	}
	rec := make(Record, len(obj))
	for k, raw := range obj {
		if v, ok := number(raw); ok {
			rec[k] = v
		} else if nullNaN && bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			rec[k] = math.NaN()
		}
	}
	return rec, true
}

// number decodes a JSON number or a string spelling a non-finite value.
func number(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		switch s {
		case "NaN", "nan":
			return math.NaN(), true
		case "Inf", "+Inf", "inf", "Infinity", "+Infinity":
			return math.Inf(1), true
		case "-Inf", "-inf", "-Infinity":
			return math.Inf(-1), true
		}
		return 0, false
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			// Out of float64 range: ParseFloat returns ±Inf with an error.
			var ne *strconv.NumError
			if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
				return v, true
			}
			return 0, false
		}
		return v, true
	}
	return 0, false
}

// quoteNonFinite rewrites the bare tokens NaN, Infinity and -Infinity found
// outside JSON strings into quoted strings, so that encoding/json accepts
// lines written by encoders that emit them.
func quoteNonFinite(line []byte) []byte {
	var out []byte
	inString, escaped := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			out = append(out, c)
			continue
		}
		matched := false
		for _, tok := range [...]string{"-Infinity", "Infinity", "NaN"} {
			if bytes.HasPrefix(line[i:], []byte(tok)) {
				out = append(out, '"')
				out = append(out, tok...)
				out = append(out, '"')
				i += len(tok) - 1
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, c)
		}
	}
	return out
}
