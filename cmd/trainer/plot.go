package main

import (
	"fmt"
	"os"

	"github.com/unigrpo/unigrpo/plots"
)

func runPlot(args []string) error {
	fs := newFlags("plot", "--metrics FILE --out DIR")
	metrics := fs.String("metrics", "", "a metrics.jsonl file")
	out := fs.String("out", "", "folder for training_dynamics.png and training_sheet.png")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *metrics == "" || *out == "" {
		return usagef("plot: --metrics and --out are required")
	}
	m, err := plots.ReadRun(*metrics)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := plots.TrainingDynamics(m, *out); err != nil {
		return err
	}
	if s := plots.DeviceSamplesFromMetrics(m); len(s) > 0 {
		if err := plots.Devices(s, *out); err != nil {
			return err
		}
	}
	fmt.Printf("wrote the plots of %s to %s\n", *metrics, *out)
	return nil
}
