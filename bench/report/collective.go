package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// bwLine is one line of ringbw, mpibw or gloobw.
type bwLine struct {
	Bytes   int     `json:"bytes"`
	Ranks   int     `json:"ranks"`
	BusBW   float64 `json:"busbw_GBps"`
	SecOp   float64 `json:"sec_per_op"`
	Correct *bool   `json:"correct"`
}

// Implementations of the collective comparison, in table order; files are IMPL.jsonl.
const (
	implRing    = "ring"
	implRingTCP = "ring-tcp"
	implMPI     = "openmpi"
	implGloo    = "gloo"
)

var implOrder = []string{implRing, implRingTCP, implMPI, implGloo}

// CollectiveCompare holds the bus bandwidth (GB/s) of every implementation at every size.
type CollectiveCompare struct {
	Ranks int                        `json:"ranks"`
	Sizes []int                      `json:"sizes_bytes"`
	Impls []string                   `json:"impls"`
	BusBW map[string]map[int]float64 `json:"busbw_GBps"` // impl -> bytes -> GB/s, best round
	// Rounds is the number of measurements per size of each implementation (the best is kept).
	Rounds map[string]int `json:"rounds"`
	// RingOverGloo and RingOverMPI are the ring's busbw over the peer's at each size.
	RingOverGloo map[int]Num `json:"ring_over_gloo"`
	RingOverMPI  map[int]Num `json:"ring_over_openmpi"`
	// Incorrect lists "impl at size" where the all-reduce result was wrong.
	Incorrect []string `json:"incorrect,omitempty"`
}

// compareCollectives reads dir/IMPL.jsonl for every implementation that ran; a file may hold
// several rounds of the same sizes.
func compareCollectives(dir string) (*CollectiveCompare, error) {
	c := &CollectiveCompare{BusBW: map[string]map[int]float64{}, Rounds: map[string]int{},
		RingOverGloo: map[int]Num{}, RingOverMPI: map[int]Num{}}
	sizes := map[int]bool{}
	for _, impl := range implOrder {
		lines, err := readBW(filepath.Join(dir, impl+".jsonl"))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c.Impls = append(c.Impls, impl)
		c.BusBW[impl] = map[int]float64{}
		seen := map[int]int{}
		for _, l := range lines {
			// Several rounds: keep each size's best (the least disturbed by other load).
			seen[l.Bytes]++
			c.Rounds[impl] = max(c.Rounds[impl], seen[l.Bytes])
			c.BusBW[impl][l.Bytes] = max(c.BusBW[impl][l.Bytes], l.BusBW)
			sizes[l.Bytes] = true
			c.Ranks = max(c.Ranks, l.Ranks)
			if l.Correct != nil && !*l.Correct {
				c.Incorrect = append(c.Incorrect, fmt.Sprintf("%s at %s", impl, sizeName(l.Bytes)))
			}
		}
	}
	if c.BusBW[implRing] == nil {
		return nil, fmt.Errorf("%s: no %s.jsonl (the ring's own measurement)", dir, implRing)
	}
	for s := range sizes {
		c.Sizes = append(c.Sizes, s)
	}
	sort.Ints(c.Sizes)
	for _, s := range c.Sizes {
		c.RingOverGloo[s] = Num(c.ratioAt(implRing, implGloo, s))
		c.RingOverMPI[s] = Num(c.ratioAt(implRing, implMPI, s))
	}
	return c, nil
}

// ratioAt is a's busbw over b's at size s (NaN when either is missing).
func (c *CollectiveCompare) ratioAt(a, b string, s int) float64 {
	x, ok1 := c.BusBW[a][s]
	y, ok2 := c.BusBW[b][s]
	if !ok1 || !ok2 {
		return math.NaN()
	}
	return ratio(x, y)
}

// get is impl's busbw at size s, NaN when not measured.
func (c *CollectiveCompare) get(impl string, s int) float64 {
	if v, ok := c.BusBW[impl][s]; ok {
		return v
	}
	return math.NaN()
}

// readBW reads bandwidth lines; a "[rank 0] " prefix (launch's) is dropped.
func readBW(path string) ([]bwLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []bwLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "{"); i > 0 {
			line = line[i:]
		}
		if !strings.HasPrefix(line, "{") {
			continue // log lines
		}
		var l bwLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		if l.Bytes <= 0 || !(l.BusBW > 0) {
			return nil, fmt.Errorf("%s line %d: no bytes or busbw_GBps", path, n)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no measurements (did the program fail? see its log)", path)
	}
	return out, nil
}

// sizeName writes a byte count as KB or MB (binary).
func sizeName(b int) string {
	switch {
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%d MB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%d KB", b>>10)
	}
	return fmt.Sprintf("%d B", b)
}
