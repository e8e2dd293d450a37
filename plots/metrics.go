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
	m := NewMetrics()
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			m.addLine(line, lineNo)
		}
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
	}
}

// addLine parses one line and appends its numeric fields.
func (m *Metrics) addLine(line []byte, lineNo int) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		if err := json.Unmarshal(quoteNonFinite(line), &obj); err != nil || obj == nil {
			m.Skipped = append(m.Skipped, lineNo)
			return
		}
	}
	if obj == nil {
		m.Skipped = append(m.Skipped, lineNo)
		return
	}
	m.Records++
	step := float64(m.Records)
	if raw, ok := obj["step"]; ok {
		if v, ok := number(raw); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			step = v
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "step" {
			continue
		}
		if v, ok := number(obj[k]); ok {
			m.Add(k, step, v)
		}
	}
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
