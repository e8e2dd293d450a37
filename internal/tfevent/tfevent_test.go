package tfevent

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CRC-32C against published check values. Oracle: the CRC catalogue's check value of CRC-32C
// ("123456789" -> 0xE3069283) and the iSCSI test vectors of RFC 3720 appendix B.4.
func TestCRC32CKnownVectors(t *testing.T) {
	zeros, ones, inc, dec := make([]byte, 32), make([]byte, 32), make([]byte, 32), make([]byte, 32)
	for i := range 32 {
		ones[i], inc[i], dec[i] = 0xff, byte(i), byte(31-i)
	}
	for _, c := range []struct {
		in   []byte
		want uint32
	}{
		{[]byte("123456789"), 0xE3069283},
		{zeros, 0x8A9136AA},
		{ones, 0x62A8AB43},
		{inc, 0x46DD794E},
		{dec, 0x113FDB5C},
	} {
		if got := CRC32C(c.in); got != c.want {
			t.Errorf("CRC32C(% x) = %#08x, want %#08x", c.in, got, c.want)
		}
		if got := crc32cBitwise(c.in); got != c.want {
			t.Errorf("the test reader's CRC32C(% x) = %#08x, want %#08x", c.in, got, c.want)
		}
		if got, want := MaskedCRC(c.in), masked(c.in); got != want {
			t.Errorf("MaskedCRC(% x) = %#08x, the reader's masked CRC %#08x", c.in, got, want)
		}
	}
}

// known is a file's content with known values: the values chosen so that some are exact in
// float32 and some are rounded.
var known = []struct {
	step   int64
	values map[string]float64
}{
	{1, map[string]float64{"reward_mean": 0.5, "loss": -1.25, "lr": 3e-4}},
	{2, map[string]float64{"reward_mean": 0.625, "loss": -0.1, "lr": 3e-4, "eval_reward": 0.7}},
	{10, map[string]float64{"reward_mean": 1e30, "loss": math.NaN(), "lr": math.Inf(1)}},
}

var knownStart = time.Unix(1700000000, 250_000_000)

// writeKnown writes the known events (and a restart at step 11) to a new file of dir.
func writeKnown(t *testing.T, dir string) string {
	t.Helper()
	w, err := Create(dir, knownStart)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range known {
		if err := w.Scalars(k.step, knownStart.Add(time.Duration(i+1)*time.Second), k.values); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Restart(11, knownStart.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(filepath.Base(w.Path()), "tfevents") {
		t.Fatalf("file name %s: TensorBoard reads only files whose name holds \"tfevents\"", w.Path())
	}
	return w.Path()
}

// checkKnown checks events read back against the known values: the file version first, then each
// step with its wall time, tags sorted and the float32 of each value bit for bit, then the restart.
func checkKnown(t *testing.T, got []event) {
	t.Helper()
	if len(got) != len(known)+2 {
		t.Fatalf("%d events, want %d", len(got), len(known)+2)
	}
	if got[0].fileVersion != "brain.Event:2" || got[0].wall != 1700000000.25 {
		t.Errorf("first event %+v: want file_version brain.Event:2 at 1700000000.25", got[0])
	}
	for i, k := range known {
		e := got[i+1]
		if e.step != k.step || e.wall != 1700000000.25+float64(i+1) || e.fileVersion != "" || e.sessionLog != 0 {
			t.Errorf("event %d: step %d wall %v, want step %d wall %v", i+1, e.step, e.wall, k.step, 1700000000.25+float64(i+1))
		}
		if len(e.tags) != len(k.values) {
			t.Errorf("step %d: tags %v, want %d", k.step, e.tags, len(k.values))
			continue
		}
		for j, tag := range e.tags {
			want, ok := k.values[tag]
			if !ok || (j > 0 && e.tags[j-1] >= tag) {
				t.Errorf("step %d: tags %v, want the sorted keys of %v", k.step, e.tags, k.values)
				break
			}
			if math.Float32bits(e.values[j]) != math.Float32bits(float32(want)) {
				t.Errorf("step %d %s: %v, want float32(%v)", k.step, tag, e.values[j], want)
			}
		}
	}
	if r := got[len(got)-1]; r.sessionLog != 1 || r.step != 11 || len(r.tags) != 0 {
		t.Errorf("last event %+v: want SessionLog START at step 11", r)
	}
}

// A file of known values reads back exactly. Oracle: the test's own reader written from the
// format's public description (reader_test.go).
func TestScalarsReadBack(t *testing.T) {
	path := writeKnown(t, filepath.Join(t.TempDir(), "tb"))
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, torn, err := readEvents(file)
	if err != nil || torn {
		t.Fatalf("torn %v, %v", torn, err)
	}
	checkKnown(t, got)
}

// A run killed mid-write leaves a torn last record: every cut inside the last record gives the
// events before it, and no error. A damaged complete record is an error (the reader can fail).
// Oracle: the test's reader.
func TestTornLastRecord(t *testing.T) {
	path := writeKnown(t, t.TempDir())
	file, _ := os.ReadFile(path)
	recs, _, _ := readRecords(file)
	lastLen := 12 + len(recs[len(recs)-1]) + 4
	for cut := len(file) - lastLen + 1; cut < len(file); cut++ {
		got, torn, err := readEvents(file[:cut])
		if err != nil || !torn || len(got) != len(recs)-1 {
			t.Fatalf("cut at %d of %d: %d events, torn %v, %v; want %d events, torn", cut, len(file), len(got), torn, err, len(recs)-1)
		}
	}
	bad := append([]byte(nil), file...)
	bad[20] ^= 1 // inside the first record's data
	if _, _, err := readEvents(bad); err == nil {
		t.Error("a flipped bit in a complete record was not noticed")
	}
}

// Create never reuses a file: a second writer in the same second gets a new name.
func TestCreateNewFileEachTime(t *testing.T) {
	dir := t.TempDir()
	a, err := Create(dir, knownStart)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Create(dir, knownStart)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	if a.Path() == b.Path() {
		t.Fatalf("both writers wrote %s", a.Path())
	}
}

// pyEvent is what testdata/read_events.py prints of one event.
type pyEvent struct {
	Wall        float64  `json:"wall"`
	Step        int64    `json:"step"`
	FileVersion string   `json:"file_version"`
	Scalars     [][2]any `json:"scalars"`
	SessionLog  int      `json:"session_log"`
}

// The same file, torn, read by a second reader in Python (standard library only, its own
// CRC-32C). Oracle: testdata/read_events.py under /usr/bin/python3.
func TestPythonReaderAgrees(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	path := writeKnown(t, t.TempDir())
	file, _ := os.ReadFile(path)
	torn := filepath.Join(t.TempDir(), "events.out.tfevents.torn")
	if err := os.WriteFile(torn, append(file, file[:30]...), 0o644); err != nil { // a torn copy of the first record after the last
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "testdata/read_events.py", torn).Output()
	if err != nil {
		t.Fatalf("read_events.py: %v", err)
	}
	var py []pyEvent
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := make([]event, len(py))
	for i, p := range py {
		got[i] = event{wall: p.Wall, step: p.Step, fileVersion: p.FileVersion, sessionLog: p.SessionLog}
		for _, s := range p.Scalars {
			got[i].tags = append(got[i].tags, s[0].(string))
			got[i].values = append(got[i].values, math.Float32frombits(uint32(s[1].(float64))))
		}
	}
	checkKnown(t, got)
}
