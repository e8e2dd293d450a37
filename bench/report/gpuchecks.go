package main

// The results of the checks registered in scripts/gpu/checks/: each writes WORK/checks/NAME.json
// (scripts/gpu/check-result.py) rather than a file of its own, since at most 8 files come back from
// a GPU host; the report carries them.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CheckResult is one registered check's WORK/checks/NAME.json.
type CheckResult struct {
	Check  string   `json:"check"`
	Title  string   `json:"title"`
	Oracle string   `json:"oracle"`
	Status string   `json:"status"` // pass, fail or skip
	Lines  []string `json:"lines"`
	Text   string   `json:"text"` // shown as it is (a plan, a log tail)
}

// readChecks reads dir/*.json in name order; a file that is not a check's result is skipped.
func readChecks(dir string) []CheckResult {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	slices.Sort(paths)
	var out []CheckResult
	for _, p := range paths {
		js, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var c CheckResult
		if json.Unmarshal(js, &c) != nil || c.Check == "" {
			continue
		}
		out = append(out, c)
	}
	return out
}

// checksMarkdown is one section per check.
func checksMarkdown(cs []CheckResult) []string {
	var L []string
	for _, c := range cs {
		L = append(L, "", fmt.Sprintf("## Check %s: %s (%s)", c.Check, c.Title, or(c.Status, "-")))
		if c.Oracle != "" {
			L = append(L, "", "Oracle: "+c.Oracle+".")
		}
		if len(c.Lines) > 0 {
			L = append(L, "")
			for _, l := range c.Lines {
				L = append(L, "- "+strings.TrimSpace(l))
			}
		}
		if strings.TrimSpace(c.Text) != "" {
			L = append(L, "")
			for _, l := range strings.Split(strings.TrimRight(c.Text, "\n"), "\n") {
				L = append(L, strings.TrimRight("    "+l, " "))
			}
		}
	}
	return L
}
