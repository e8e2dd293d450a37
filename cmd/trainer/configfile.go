package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// A config file is a YAML mapping from a command's long flag names to values: every command takes
// --config FILE, and flags on the command line win over the file. A run writes its effective flags
// to RunConfigFile in its folder, a file --config reads back.

// RunConfigFile is the name of the effective configuration a run writes into its folder.
const RunConfigFile = "run.yaml"

const configFlag = "config"

// addConfigFlag declares --config on fs (last, after the command's own flags).
func addConfigFlag(fs *pflag.FlagSet) {
	if fs.Lookup(configFlag) == nil {
		fs.String(configFlag, "", "read flags from this YAML `FILE` (long flag names as keys, such as a run's "+RunConfigFile+"); flags on the command line win")
	}
}

// applyConfig sets every flag that --config's file names and the command line did not.
func applyConfig(fs *pflag.FlagSet) error {
	path, _ := fs.GetString(configFlag)
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return usagef("--config: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return usagef("--config %s: not YAML: %v", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return usagef("--config %s: want a mapping of flag names to values (such as \"steps: 100\"), not a %s", path, kindName(m))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := k.Value
		where := fmt.Sprintf("--config %s line %d", path, k.Line)
		if k.Kind != yaml.ScalarNode {
			return usagef("%s: a key must be a flag name, not a %s", where, kindName(k))
		}
		if line, dup := seen[key]; dup {
			return usagef("%s: %q is set twice (first on line %d)", where, key, line)
		}
		seen[key] = k.Line
		f := fs.Lookup(key)
		switch {
		case key == configFlag:
			return usagef("%s: a config file cannot name another config file", where)
		case f == nil:
			return usagef("%s: unknown key %q: did you mean %q? (keys are the long flag names of `trainer %s --help`)", where, key, nearestFlag(fs, key), fs.Name())
		case f.Changed:
			continue // the command line wins
		}
		if err := setFromNode(f, v); err != nil {
			return usagef("%s: %s: %v", where, key, err)
		}
		f.Changed = true
	}
	return nil
}

// setFromNode sets flag f from a YAML value: a scalar for every flag, or a list for a flag that
// takes several values.
func setFromNode(f *pflag.Flag, v *yaml.Node) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok && v.Kind == yaml.SequenceNode {
		items := make([]string, len(v.Content))
		for i, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return fmt.Errorf("want %s, got a list holding a %s", typeName(f), kindName(it))
			}
			items[i] = it.Value
		}
		return sv.Replace(items)
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return fmt.Errorf("want %s, got %s", typeName(f), kindName(v))
	}
	if err := f.Value.Set(v.Value); err != nil {
		return fmt.Errorf("want %s, got %q", typeName(f), v.Value)
	}
	return nil
}

// typeName says what a flag's values are, for messages.
func typeName(f *pflag.Flag) string {
	switch t := f.Value.Type(); t {
	case "int", "int64", "int32", "uint64", "uint", "uint32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "duration":
		return "a duration such as 90s or 2m"
	case "stringArray", "stringSlice":
		return "a string or a list of strings"
	default:
		return "a " + t
	}
}

// kindName names a YAML node's kind, for messages.
func kindName(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "mapping"
	case n.Kind == yaml.SequenceNode:
		return "list"
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return "no value"
	case n.Kind == yaml.AliasNode:
		return "alias"
	default:
		return "scalar"
	}
}

// nearestFlag is the long flag name of fs closest to key by edit distance (the first declared of
// equally close ones).
func nearestFlag(fs *pflag.FlagSet, key string) string {
	best, bestD := "", -1
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == configFlag {
			return
		}
		if d := editDistance(strings.ReplaceAll(key, "_", "-"), f.Name); bestD < 0 || d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance between a and b (insertions, deletions and
// substitutions of bytes).
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// runConfig is the run.yaml of a run from the flags of fs (the run writes it into its folder once
// it has claimed the folder), in a form --config reads
// back to the same parse: every flag given (on the command line or by a config file) as a key,
// every other flag as a comment with its default, so that the repeat sees the same values and the
// same flags given (a command may choose a default by whether a flag was given, as sft --unified
// does for --captions). `trainer NAME --config DIR/run.yaml --out NEW` repeats the run. --out is
// written as a comment, so that a repeat names its own folder instead of overwriting this one;
// --resume and --config themselves are left out.
func runConfig(fs *pflag.FlagSet) (map[string][]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# The flags of this `trainer %s` run, written by the run: the flags given as keys, the\n", fs.Name())
	fmt.Fprintf(&b, "# others as comments with the defaults it used. Repeat the run with\n")
	fmt.Fprintf(&b, "# `trainer %s --config %s --out NEW`; flags on the command line win.\n", fs.Name(), RunConfigFile)
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Name == configFlag || f.Name == "resume" {
			return
		}
		var line []byte
		line, err = yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Name}, valueNode(f)}})
		if !f.Changed || f.Name == "out" {
			line = append([]byte("# "), line...)
		}
		b.Write(line)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RunConfigFile, err)
	}
	return map[string][]byte{RunConfigFile: b.Bytes()}, nil
}

// valueNode is f's value as a YAML node that reads back to the same value: numbers and booleans
// plain, strings and durations as strings, several values as a list.
func valueNode(f *pflag.Flag) *yaml.Node {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, s := range sv.GetSlice() {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
		}
		return n
	}
	switch f.Value.Type() {
	case "int", "int64", "int32", "uint64", "uint", "uint32", "float64", "float32", "bool":
		return &yaml.Node{Kind: yaml.ScalarNode, Value: f.Value.String()} // plain: YAML reads it as written
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Value.String()}
}
