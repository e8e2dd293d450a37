// Command trainer trains and evaluates the Unified-GRPO captioner of this project.
//
//	trainer sft   --out DIR            supervised baseline (partial captions)
//	trainer train --init CKPT --out DIR  Unified-GRPO (the default command)
//	trainer plan  --init DIR [--np N]   the memory plan of a run, before the run
//	trainer eval  --ckpt A [--ckpt B]  Unified-Bench protocol 1
//	trainer unibench --ref DIR --gen DIR --out DIR   Unified-Bench on image files
//	trainer serve-reward --listen ADDR  the world's reward as a service
//	trainer export --ckpt RUN --out DIR --merge   a LoRA run's adapters merged into the base
//	trainer plot  --metrics FILE --out DIR
//	trainer world                      the reward table of the synthetic world
//
// Run one process per device with `launch -np N trainer ...`, or under SLURM with srun.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/unigrpo/unigrpo/trainer"
)

// usageError marks a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

var commands = []struct {
	name, summary string
	run           func(args []string) error
}{
	{"train", "Unified-GRPO: reconstructive RL of the captioner (default)", runTrain},
	{"sft", "supervised baseline on partial captions", runSFT},
	{"plan", "the memory plan of a run from a Hugging Face model's config: per rank, against the device's memory", runPlan},
	{"eval", "Unified-Bench: caption, regenerate, compare under every embedder", runEval},
	{"seeds", "the benchmarks of several training seeds: mean and spread over the seeds", runSeeds},
	{"unibench", "Unified-Bench on image files: source images against regenerated ones", runUnibench},
	{"serve-reward", "serve the world's reward to `train --reward-url` (the reward protocol)", runServeReward},
	{"export", "write a LoRA checkpoint's adapters merged into a Hugging Face folder (--merge) or as a PEFT folder", runExport},
	{"generate", "continue a prompt with a Hugging Face language model", runGenerate},
	{"tokenize", "token ids of texts with a tokenizer.json (one JSON string a line)", runTokenize},
	{"plot", "redraw the training plots from a metrics file", runPlot},
	{"world", "print the reward table of the synthetic world", runWorld},
}

func main() {
	args := os.Args[1:]
	name := "train"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	} else if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		usage(os.Stdout) // asked for: stdout, so that `trainer --help | grep` works
		os.Exit(0)
	}
	for _, c := range commands {
		if c.name == name {
			os.Exit(exitCode(c.run(args)))
		}
	}
	fmt.Fprintf(os.Stderr, "trainer: unknown command %q\n\n", name)
	usage(os.Stderr)
	os.Exit(2)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: trainer [command] [flags]   (command defaults to train)")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n`trainer COMMAND --help` lists a command's flags with their defaults.")
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(os.Stderr, "trainer: %v\n", err)
	var u usageError
	var c trainer.ConfigError
	if errors.As(err, &u) || errors.As(err, &c) {
		return 2
	}
	return 1
}

// newFlags returns a flag set whose parse errors are usage errors.
func newFlags(name, synopsis string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: trainer %s %s\n\nflags:\n%s", name, synopsis, fs.FlagUsages())
	}
	return fs
}

// parse reads the flags, then sets those that --config's file names and args do not. --help
// prints the usage to stdout (exit 0), as launch --help does; a mistake is a usage error (exit 2,
// its message on stderr).
func parse(fs *pflag.FlagSet, args []string) error {
	addConfigFlag(fs)
	fs.SetOutput(io.Discard) // pflag's own print of the usage; the one wanted is below
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fs.Usage()
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q%s", fs.Arg(0), optionalValueHint(fs, args))
	}
	return applyConfig(fs)
}
