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
}
