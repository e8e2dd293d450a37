package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// testFlags declares flags of every kind the commands use, with their defaults.
func testFlags() *pflag.FlagSet {
	fs := newFlags("train", "[flags]")
	fs.String("out", "", "run folder")
	fs.Int("steps", 100, "steps")
	fs.IntP("batch", "B", 8, "batch")
	fs.Float64("lr", 1e-4, "learning rate")
	fs.Float64("beta", 0, "beta")
	fs.Uint64("seed", 1, "seed")
	fs.Bool("scale-std", true, "scale")
	fs.Bool("joint", false, "joint")
	fs.String("reward", "all", "reward")
	fs.String("prompt", "Describe this image in detail.", "prompt")
	fs.Duration("reward-timeout", 2*time.Minute, "timeout")
	fs.StringArray("ckpt", nil, "checkpoints")
	tensorboardFlag(fs)
	return fs
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A config file sets the flags it names; the command line wins over it, shorthand included.
// Oracle: the values written in the file and on the command line.
func TestConfigFileSetsFlagsCommandLineWins(t *testing.T) {
	cfg := writeFile(t, "run.yaml", "steps: 5\nbatch: 4\nlr: 3.0e-6\nseed: 18446744073709551615\nscale-std: false\n"+
		"reward: conv,edge\nreward-timeout: 90s\nckpt: [a.safetensors, \"b,c.safetensors\"]\nprompt: \"yes\"\n")
	fs := testFlags()
	if err := parse(fs, []string{"--config", cfg, "--steps", "7", "-B", "2"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"steps": "7", "batch": "2", // the command line's
		"lr": "3e-06", "seed": "18446744073709551615", "scale-std": "false", "reward": "conv,edge",
		"reward-timeout": "1m30s", "ckpt": `[a.safetensors,"b,c.safetensors"]`, "prompt": "yes",
		"joint": "false", "beta": "0", "tensorboard": "", // the defaults
	}
	for name, w := range want {
		if got := fs.Lookup(name).Value.String(); got != w {
			t.Errorf("--%s = %q, want %q", name, got, w)
		}
	}
	if ck, _ := fs.GetStringArray("ckpt"); len(ck) != 2 || ck[1] != "b,c.safetensors" {
		t.Errorf("--ckpt %q: want a list of two, the second with its comma", ck)
	}
	if !fs.Changed("lr") || fs.Changed("beta") {
		t.Errorf("Changed(lr) %v, Changed(beta) %v: want a flag the file sets to count as given, and no other", fs.Changed("lr"), fs.Changed("beta"))
	}
}

// Mistakes in a config file are usage errors (exit 2) that name the key and what it should be.
// Oracle: the messages this change specifies (the nearest flag by edit distance, computed here by
// hand for each case).
func TestConfigFileMistakes(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"bach: 4\n", `unknown key "bach": did you mean "batch"?`},
		{"scale_std: true\n", `unknown key "scale_std": did you mean "scale-std"?`},
		{"tensorbord: tb\n", `did you mean "tensorboard"?`},
		{"steps: many\n", `line 1: steps: want an integer, got "many"`},
		{"steps: 1\nlr: fast\n", `line 2: lr: want a number, got "fast"`},
		{"joint: maybe\n", `joint: want true or false, got "maybe"`},
		{"lr: [1, 2]\n", "lr: want a number, got list"},
		{"steps:\n", "steps: want an integer, got no value"},
		{"reward-timeout: 5\n", "want a duration such as 90s or 2m"},
		{"steps: 1\nsteps: 2\n", `"steps" is set twice (first on line 1)`},
		{"config: other.yaml\n", "cannot name another config file"},
		{"- steps\n", "want a mapping of flag names to values"},
		{"steps: [\n", "not YAML"},
	} {
		err := parse(testFlags(), []string{"--config", writeFile(t, "bad.yaml", c.text)})
		var u usageError
		if err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want a usage error containing %q", c.text, err, c.want)
		}
	}
	if err := parse(testFlags(), []string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("a missing file: %v", err)
	}
}

// The effective configuration a run writes reads back to the same value of every flag, strings
// YAML would misread (yes, 123, a colon, an empty string) included, and the same flags given.
// Oracle: the flag values before writing.
func TestRunConfigRoundTrip(t *testing.T) {
	fs := testFlags()
	args := []string{"--out", "/runs/a", "--steps", "3", "-B", "16", "--lr", "1e-06", "--seed", "123456789012",
		"--scale-std=false", "--joint", "--reward", "", "--prompt", "key: value # not a comment", "--reward-timeout", "1h2m3.5s",
		"--ckpt", "a,b", "--ckpt", "yes", "--ckpt", "123", "--tensorboard"}
	if err := parse(fs, args); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := runConfig(fs)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, RunConfigFile), files[RunConfigFile], 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(filepath.Join(dir, RunConfigFile))
	if !strings.Contains(string(text), "# out: /runs/a\n") || strings.Contains(string(text), "\nout:") {
		t.Errorf("run.yaml should keep --out as a comment only:\n%s", text)
	}
	if !strings.Contains(string(text), "\n# beta: 0\n") || !strings.Contains(string(text), "\nlr: 1e-06\n") {
		t.Errorf("run.yaml should hold the flags given as keys and the others' defaults as comments:\n%s", text)
	}
	back := testFlags()
	if err := parse(back, []string{"--config", filepath.Join(dir, RunConfigFile)}); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "out" || f.Name == configFlag {
			return
		}
		if got := back.Lookup(f.Name).Value.String(); got != f.Value.String() {
			t.Errorf("--%s: %q after the round trip, %q before\n%s", f.Name, got, f.Value.String(), text)
		}
		if back.Changed(f.Name) != f.Changed {
			t.Errorf("--%s: given %v after the round trip, %v before\n%s", f.Name, back.Changed(f.Name), f.Changed, text)
		}
	})
	if got, _ := back.GetString("tensorboard"); tensorboardDir(got, "/runs/b") != "/runs/b/tb" {
		t.Errorf("--tensorboard alone read back as %q: want it to follow the repeat's --out", got)
	}
}

// A value of --tensorboard must be joined with '='; the error says so. Oracle: pflag's rule for
// flags with an optional value.
func TestTensorBoardValueNeedsEquals(t *testing.T) {
	err := parse(testFlags(), []string{"--tensorboard", "/tmp/tb"})
	if err == nil || !strings.Contains(err.Error(), "--tensorboard=/tmp/tb") {
		t.Fatalf("%v: want a hint to write --tensorboard=/tmp/tb", err)
	}
}

// Through the program, a config file's mistake exits 2 before any work. Oracle: the exit status
// of usage errors (main.go).
func TestConfigFileMistakeExits2(t *testing.T) {
	got, code := runProgram(t, "train", "--config", writeFile(t, "bad.yaml", "temprature: 0.7\n"), "--out", t.TempDir())
	if code != 2 || !strings.Contains(got, `unknown key "temprature": did you mean "temperature"?`) {
		t.Fatalf("exit %d, output %q", code, got)
	}
}
