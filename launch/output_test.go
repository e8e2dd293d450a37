package launch

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	w := newPrefixWriter("[rank 3] ", &out)
	for _, piece := range []string{"hel", "lo\nwor", "ld\n\nlast"} {
		w.Write([]byte(piece))
	}
	w.Flush()
	want := "[rank 3] hello\n[rank 3] world\n[rank 3] \n[rank 3] last\n"
	if out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	out.Reset()
	w.Write([]byte(strings.Repeat("x", maxLine+10)))
	w.Flush()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || len(lines[0]) != len("[rank 3] ")+maxLine || lines[1] != "[rank 3] "+strings.Repeat("x", 10) {
		t.Fatalf("long line split into %d pieces of lengths %d...", len(lines), len(lines[0]))
	}
}
