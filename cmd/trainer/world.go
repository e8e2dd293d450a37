package main

import (
	"fmt"

	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/embed"
)

func runWorld(args []string) error {
	fs := newFlags("world", "[--scenes N] [--seed S]")
	scenes := fs.Int("scenes", 100, "scenes averaged per row")
	seed := fs.Uint64("seed", 2024, "seed of the scenes")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg := world.DefaultConfig()
	es, err := embed.All(cfg)
	if err != nil {
		return err
	}
	table, err := embed.RewardTable(cfg, es, *scenes, *seed)
	if err != nil {
		return err
	}
	fmt.Printf("Mean reward (cosine of source and reconstruction embeddings) over %d scenes, per embedder:\n\n%s", *scenes, table)
	return nil
}
