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
		{[]string{mod + "trainer", mod + "eval"}, []string{"world", "models/captioner", "models/unified", "models/hf"}},
		{[]string{mod + "launch", mod + "collective", mod + "nccl", mod + "plots"}, []string{"models/", "trainer", "eval"}},
		{[]string{mod + "models/..."}, []string{"trainer", "eval"}},
		{[]string{mod + "reward", mod + "images"}, []string{"models/", "trainer", "eval"}},
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
