package trainer

import (
	"os/exec"
	"strings"
	"testing"
)

// Oracle: `go list`. The loop knows the world only through its seams, and the packages keep the
// project's dependency direction.
func TestDependencyDirection(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	const mod = "github.com/unigrpo/unigrpo/"
	deps := func(pkgs ...string) []string {
		out, err := exec.Command(goBin, append([]string{"list", "-deps"}, pkgs...)...).Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v\n%s", pkgs, err, out)
		}
		return strings.Fields(string(out))
	}
	for _, c := range []struct {
		pkgs      []string
		forbidden []string
	}{
		// The loops know models, the world and the families only through their seams.
		{[]string{mod + "trainer", mod + "eval"}, []string{"world", "models/captioner", "models/unified", "models/hf"}},
		{[]string{mod + "launch", mod + "collective", mod + "nccl", mod + "plots"}, []string{"models/", "trainer", "eval", "world", "reward"}},
		{[]string{mod + "models/..."}, []string{"trainer", "eval"}},
		// The reward's contract and the images stand below every model and the world.
		{[]string{mod + "reward", mod + "images"}, []string{"models/", "trainer", "eval", "world"}},
		// The world is an environment, not a model; only its wiring (world/task) may load a
		// Hugging Face encoder for its reward.
		{[]string{mod + "world", mod + "world/embed"}, []string{"models/", "trainer", "eval"}},
		{[]string{mod + "world/task"}, []string{"trainer", "eval", "models/captioner", "models/unified"}},
	} {
		for _, d := range deps(c.pkgs...) {
			for _, f := range c.forbidden {
				if strings.HasPrefix(d, mod+f) {
					t.Errorf("%v depend on %s", c.pkgs, d)
				}
			}
		}
	}
	// The Hugging Face families (models/hf/lm, qwenvl, vit, janus) import the core models/hf and
	// its tokenizer, and no other family; the core imports no family. (go list -deps is
	// transitive, so a family reached through a third package counts too.)
	core := mod + "models/hf"
	for _, family := range []string{"", "lm", "qwenvl", "vit", "janus"} {
		pkg := core
		if family != "" {
			pkg += "/" + family
		}
		for _, d := range deps(pkg) {
			if strings.HasPrefix(d, core+"/") && d != pkg && d != core+"/tokenizer" {
				t.Errorf("%s depends on %s: a family imports only the core models/hf and its tokenizer, and the core no family", pkg, d)
			}
		}
	}
}

// Oracle: `go list`. Only the models, the trainer and the mains (and internal/raw, the raw
// tensor helpers they share) import gotch: the rest of the project runs without libtorch.
func TestOnlyModelsAndTrainerImportGotch(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(goBin, "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "github.com/unigrpo/unigrpo/...").Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := []string{"models/", "trainer", "cmd/", "bench/", "internal/raw"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], "github.com/unigrpo/unigrpo/")
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(pkg, a)
		}
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, "github.com/sugarme/gotch") && !ok {
				t.Errorf("%s imports %s: only models/, trainer, the mains and internal/raw may", pkg, imp)
			}
		}
	}
}
