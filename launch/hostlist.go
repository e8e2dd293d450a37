package launch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxHosts bounds the expansion of a host list, so that a typo such as
// "n[0-999999999]" fails instead of exhausting memory.
const maxHosts = 1 << 16

// ParseHostlist expands a SLURM host list into host names, in order.
//
// Items are separated by commas; an item may contain bracket groups of
// comma-separated numbers and ranges, which expand to every combination:
// "gpu[01-03,07],cpu3" gives gpu01 gpu02 gpu03 gpu07 cpu3 and
// "r[1-2]n[1-2]" gives r1n1 r1n2 r2n1 r2n2. A range keeps the zero padding
// of its lower bound.
func ParseHostlist(list string) ([]string, error) {
	if list == "" {
		return nil, errors.New("hostlist: empty host list")
	}
	var hosts []string
	for item := range splitTopLevel(list) {
		if item.err != nil {
			return nil, fmt.Errorf("hostlist %q: %w", list, item.err)
		}
		expanded, err := expandItem(item.text, maxHosts-len(hosts))
		if err != nil {
			return nil, fmt.Errorf("hostlist %q: %w", list, err)
		}
		hosts = append(hosts, expanded...)
	}
	return hosts, nil
}

type hostItem struct {
	text string
	err  error
}

// splitTopLevel yields the comma-separated items outside brackets.
func splitTopLevel(list string) func(yield func(hostItem) bool) {
	return func(yield func(hostItem) bool) {
		depth, start := 0, 0
		for i := 0; i <= len(list); i++ {
			if i < len(list) {
				switch list[i] {
				case '[':
					depth++
					if depth > 1 {
						yield(hostItem{err: fmt.Errorf("nested '[' at offset %d", i)})
						return
					}
					continue
				case ']':
					depth--
					if depth < 0 {
						yield(hostItem{err: fmt.Errorf("']' without '[' at offset %d", i)})
						return
					}
					continue
				case ',':
					if depth > 0 {
						continue
					}
				default:
					continue
				}
			}
			if depth != 0 {
				yield(hostItem{err: errors.New("'[' is never closed")})
				return
			}
			if i == start {
				yield(hostItem{err: fmt.Errorf("empty host name at offset %d", i)})
				return
			}
			if !yield(hostItem{text: list[start:i]}) {
				return
			}
			start = i + 1
		}
	}
}

// expandItem expands one item's bracket groups, producing at most limit
// names.
func expandItem(item string, limit int) ([]string, error) {
	open := strings.IndexByte(item, '[')
	if open < 0 {
		if err := checkName(item); err != nil {
			return nil, err
		}
		if limit < 1 {
			return nil, fmt.Errorf("more than %d hosts", maxHosts)
		}
		return []string{item}, nil
	}
	end := strings.IndexByte(item[open:], ']') + open
	prefix, group, rest := item[:open], item[open+1:end], item[end+1:]
	if err := checkName(prefix); err != nil && prefix != "" {
		return nil, err
	}
	values, err := expandGroup(group, limit)
	if err != nil {
		return nil, err
	}
	tails := []string{""}
	if rest != "" {
		if tails, err = expandItem(rest, limit); err != nil {
			return nil, err
		}
	}
	if len(values)*len(tails) > limit {
		return nil, fmt.Errorf("more than %d hosts", maxHosts)
	}
	out := make([]string, 0, len(values)*len(tails))
	for _, v := range values {
		for _, t := range tails {
			out = append(out, prefix+v+t)
		}
	}
	return out, nil
}

// expandGroup expands the inside of one bracket group, e.g. "01-03,7".
func expandGroup(group string, limit int) ([]string, error) {
	if group == "" {
		return nil, errors.New("empty brackets")
	}
	var out []string
	for _, part := range strings.Split(group, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, errA := parseBound(lo)
		b, errB := parseBound(hi)
		if errA != nil || errB != nil {
			return nil, fmt.Errorf("bad range %q in brackets: want N or N-M with decimal numbers", part)
		}
		if b < a {
			return nil, fmt.Errorf("range %q runs backwards", part)
		}
		if b-a >= uint64(limit-len(out)) {
			return nil, fmt.Errorf("more than %d hosts", maxHosts)
		}
		for v := a; v <= b; v++ {
			s := strconv.FormatUint(v, 10)
			if pad := len(lo) - len(s); pad > 0 {
				s = strings.Repeat("0", pad) + s
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func parseBound(s string) (uint64, error) {
	if s == "" || len(s) > 18 {
		return 0, errors.New("bad number")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad number")
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// checkName rejects characters that never appear in host names.
func checkName(s string) error {
	if s == "" {
		return errors.New("empty host name")
	}
	for _, c := range s {
		if c <= ' ' || c == ']' || c == '[' || c == ',' || c == 0x7f {
			return fmt.Errorf("invalid character %q in host name %q", c, s)
		}
	}
	return nil
}
