package main

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
)

// readJSONLines returns the lines of path that are JSON objects; others (log lines) are skipped.
func readJSONLines(path string) []map[string]any {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var rows []map[string]any
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var row map[string]any
		if json.Unmarshal([]byte(line), &row) == nil {
			rows = append(rows, row)
		}
	}
	return rows
}

// readRawJSON returns the file's JSON as it is, or nil (null) when it is missing or not JSON.
func readRawJSON(path string) json.RawMessage {
	data, err := os.ReadFile(path)
	if err != nil || !json.Valid(data) {
		return nil
	}
	return json.RawMessage(bytes.TrimSpace(data))
}

// number returns row[key] when it is a number.
func number(row map[string]any, key string) (float64, bool) {
	v, ok := row[key].(float64)
	return v, ok
}

// withKey keeps the rows that carry key.
func withKey(rows []map[string]any, key string) []map[string]any {
	var out []map[string]any
	for _, r := range rows {
		if _, ok := r[key]; ok {
			out = append(out, r)
		}
	}
	return out
}

// median of xs (the mean of the middle two for an even count); xs must not be empty.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
