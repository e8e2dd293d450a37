package launch

import (
	"slices"
	"strings"
	"testing"
)

func TestParseHostlist(t *testing.T) {
	for in, want := range map[string]string{
		"gpu[01-04,07],cpu3": "gpu01 gpu02 gpu03 gpu04 gpu07 cpu3",
		"node1":              "node1",
		"n[8-10]":            "n8 n9 n10",
		"n[008-010]":         "n008 n009 n010",
		"r[1-2]n[1-2]":       "r1n1 r1n2 r2n1 r2n2",
		"a[1],b[2-3]-ib":     "a1 b2-ib b3-ib",
		"[1-2]x":             "1x 2x",
		"host-1.example.org": "host-1.example.org",
		"gpu[099-101],gpu7":  "gpu099 gpu100 gpu101 gpu7",
		"c[1-2,4-5]":         "c1 c2 c4 c5",
	} {
		got, err := ParseHostlist(in)
		if err != nil {
			t.Errorf("ParseHostlist(%q): %v", in, err)
			continue
		}
		if strings.Join(got, " ") != want {
			t.Errorf("ParseHostlist(%q) = %v, want %s", in, got, want)
		}
	}
}

func TestParseHostlistErrors(t *testing.T) {
	for _, in := range []string{
		"", "gpu[01-04", "gpu01-04]", "gpu[]", "gpu[a-b]", "gpu[4-1]", "a,,b", ",a", "a,",
		"gpu[1-2[3]]", "gpu[1--2]", "n[0-999999999]", "has space", "n[1-2,]",
	} {
		if got, err := ParseHostlist(in); err == nil {
			t.Errorf("ParseHostlist(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "hostlist") {
			t.Errorf("ParseHostlist(%q): error %q does not say what failed", in, err)
		}
	}
}

// FuzzParseHostlist checks that any input either fails cleanly or yields
// valid, bounded host names, and that plain host names round-trip.
func FuzzParseHostlist(f *testing.F) {
	for _, s := range []string{"gpu[01-04,07],cpu3", "r[1-2]n[1-2]", "a,b", "n[9-11]", "x[", "[]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		hosts, err := ParseHostlist(in)
		if err != nil {
			return
		}
		if len(hosts) == 0 || len(hosts) > maxHosts {
			t.Fatalf("%q expanded to %d hosts", in, len(hosts))
		}
		for _, h := range hosts {
			if h == "" || strings.ContainsAny(h, "[],") {
				t.Fatalf("%q produced bad host %q", in, h)
			}
		}
		if !strings.ContainsAny(in, "[]") {
			if !slices.Equal(hosts, strings.Split(in, ",")) {
				t.Fatalf("plain list %q became %v", in, hosts)
			}
		}
	})
}
