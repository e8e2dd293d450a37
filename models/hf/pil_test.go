package hf

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The PIL resize matches Pillow itself (the oracle of scripts/oracles/install.sh: /usr/bin/python3 with
// python3-pil) byte for byte, up and down, on every filter implemented.
func TestPreprocessResizeMatchesPillow(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := exec.LookPath(py); err != nil {
		t.Fatal("no /usr/bin/python3 with Pillow: run make test, or scripts/oracles/install.sh")
	}
	type tc struct{ w, h, nw, nh, resample int }
	cases := []tc{
		{45, 37, 38, 32, 3}, {45, 37, 43, 36, 3}, {45, 37, 32, 32, 3}, {7, 5, 224, 224, 3},
		{300, 200, 336, 224, 3}, {640, 480, 224, 168, 3}, {64, 64, 224, 224, 3}, {33, 65, 17, 100, 3},
		{45, 37, 38, 32, 2}, {300, 200, 91, 224, 2}, {45, 37, 38, 32, 1}, {300, 200, 91, 224, 1},
		{45, 37, 45, 20, 3}, {45, 37, 90, 37, 3},
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs [][]uint8
	var list []string
	for i, c := range cases {
		pix := make([]uint8, 3*c.w*c.h)
		for j := range pix { // smooth gradients plus noise and hard edges: every filter lobe matters
			x, y := (j/3)%c.w, (j/3)/c.w
			v := 128 + 100*math.Sin(float64(x)*0.7+float64(j%3))*math.Cos(float64(y)*0.3)
			if (x/5+y/3)%2 == 0 {
				v = 255 - v
			}
			pix[j] = uint8(max(0, min(255, v+float64(rng.IntN(41))-20)))
		}
		inputs = append(inputs, pix)
		name := filepath.Join(dir, fmt.Sprintf("in%d", i))
		if err := os.WriteFile(name, pix, 0o644); err != nil {
			t.Fatal(err)
		}
		list = append(list, fmt.Sprintf("%s %d %d %d %d %d", name, c.w, c.h, c.nw, c.nh, c.resample))
	}
	script := `
import sys
from PIL import Image
for line in sys.stdin:
    p, w, h, nw, nh, r = line.split()
    im = Image.frombytes("RGB", (int(w), int(h)), open(p, "rb").read())
    open(p + ".out", "wb").write(im.resize((int(nw), int(nh)), resample=int(r)).tobytes())
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(strings.Join(list, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s with Pillow: %v\n%s(run make test, or scripts/oracles/install.sh)", py, err, out)
	}
	for i, c := range cases {
		want, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("in%d.out", i)))
		if err != nil {
			t.Fatal(err)
		}
		got := PILResize(inputs[i], c.w, c.h, c.nw, c.nh, c.resample)
		if !bytes.Equal(got, want) {
			diff, worst := 0, 0
			for j := range want {
				if d := int(got[j]) - int(want[j]); d != 0 {
					diff++
					worst = max(worst, d, -d)
				}
			}
			t.Errorf("%dx%d -> %dx%d, resample %d: %d of %d bytes differ from Pillow (up to %d)", c.w, c.h, c.nw, c.nh, c.resample, diff, len(want), worst)
		}
	}
}
