package main

import (
	"fmt"

	"github.com/unigrpo/unigrpo/eval"
)

// runSeeds is `trainer seeds`: the same benchmark of runs trained with different seeds,
// summarised as the mean and spread over the seeds.
func runSeeds(args []string) error {
	fs := newFlags("seeds", "--bench DIR --bench DIR [...] [--out DIR]")
	benches := fs.StringArray("bench", nil, "a run's benchmark (the --out of trainer eval, or its unibench.json); repeat, one per training seed")
	out := fs.String("out", "", "folder for seeds.md and seeds.json (nothing written when empty)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(*benches) == 0 {
		return usagef("seeds: give at least one --bench")
	}
	s, err := eval.SummarizeSeeds(*benches)
	if err != nil {
		return err
	}
	fmt.Print(s.Markdown())
	if *out != "" {
		if err := s.Write(*out); err != nil {
			return err
		}
		fmt.Printf("\nwrote seeds.md and seeds.json in %s\n", *out)
	}
	return nil
}
