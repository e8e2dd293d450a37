package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A matcher finds the successive non-overlapping matches of a split pattern in s, left to
// right, as a regex engine's find-all does. Matches are never empty.
type matcher interface {
	find(s string, dst [][2]int) [][2]int
}

// The split patterns of the byte-level families. Hugging Face compiles them with Oniguruma;
// Go's regexp has neither the lookahead `\s+(?!\S)` nor Unicode `\s`, so each known pattern gets
// a hand-written scanner that reproduces the backtracking engine's leftmost-first result.
const (
	// GPT-2 (and the ByteLevel pre-tokenizer's built-in pattern, used when use_regex is true).
	patternGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// Llama-3 (numbers in runs of at most three digits).
	patternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// Qwen2, Qwen2.5, Qwen3 (numbers digit by digit).
	patternQwen2 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// scanner is the hand-written matcher of one known pattern. Every one of these patterns
// matches at every position (each rune is a letter, a number, whitespace or "other"), so the
// matches tile the text and the scanner only has to find where the match at p ends.
type scanner struct {
	foldContractions bool // (?i:'s|...) rather than 's|...
	llama            bool // [^\r\n\p{L}\p{N}]?\p{L}+ rather than ' '?\p{L}+, [\r\n]* after "other" runs, \s*[\r\n]+
	maxDigits        int  // \p{N}{1,maxDigits}; 0: ' '?\p{N}+ (GPT-2)
}

var (
	scanGPT2   = &scanner{}
	scanLlama3 = &scanner{foldContractions: true, llama: true, maxDigits: 3}
	scanQwen2  = &scanner{foldContractions: true, llama: true, maxDigits: 1}
)

func isL(r rune) bool     { return unicode.IsLetter(r) }
func isN(r rune) bool     { return unicode.IsNumber(r) }
func isSpace(r rune) bool { return unicode.IsSpace(r) } // Unicode White_Space, as Oniguruma's \s
func isOther(r rune) bool { return !isSpace(r) && !isL(r) && !isN(r) }
func isCRLF(r rune) bool  { return r == '\r' || r == '\n' }

// at decodes the rune at byte offset i of s; at the end it returns (-1, 0).
func at(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// run returns the end of the run of runes satisfying ok that starts at i, stopping after max
// runes when max > 0.
func run(s string, i int, ok func(rune) bool, max int) int {
	for n := 0; max <= 0 || n < max; n++ {
		r, w := at(s, i)
		if w == 0 || !ok(r) {
			break
		}
		i += w
	}
	return i
}

func (sc *scanner) find(s string, dst [][2]int) [][2]int {
	for p := 0; p < len(s); {
		e := sc.end(s, p)
		dst = append(dst, [2]int{p, e})
		p = e
	}
	return dst
}

// end returns the end of the match that starts at p (p < len(s)); it is always > p.
func (sc *scanner) end(s string, p int) int {
	c, w := at(s, p)
	next, _ := at(s, p+w)

	// 's 't 're 've 'm 'll 'd
	if c == '\'' {
		if n := sc.contraction(s, p+w); n > 0 {
			return p + w + n
		}
	}
	// letters, with one optional leading rune
	if isL(c) {
		return run(s, p, isL, 0)
	}
	if next >= 0 && isL(next) {
		if sc.llama && !isCRLF(c) && !isN(c) || !sc.llama && c == ' ' {
			return run(s, p+w, isL, 0)
		}
	}
	// numbers
	if isN(c) {
		return run(s, p, isN, sc.maxDigits)
	}
	if sc.maxDigits == 0 && c == ' ' && next >= 0 && isN(next) {
		return run(s, p+w, isN, 0)
	}
	// other runes, with one optional leading space
	if isOther(c) || c == ' ' && next >= 0 && isOther(next) {
		q := p
		if c == ' ' {
			q += w
		}
		q = run(s, q, isOther, 0)
		if sc.llama {
			q = run(s, q, isCRLF, 0)
		}
		return q
	}
	// c is whitespace: q is the end of its run
	q := run(s, p, isSpace, 0)
	if sc.llama {
		// \s*[\r\n]+ backtracks to the last line break of the run
		last := -1
		for i := p; i < q; i++ {
			if s[i] == '\r' || s[i] == '\n' {
				last = i
			}
		}
		if last >= 0 {
			return last + 1
		}
	}
	// \s+(?!\S): all of the run at the end of the text, else all but its last rune
	if q == len(s) {
		return q
	}
	_, lw := utf8.DecodeLastRuneInString(s[:q])
	if q-lw > p {
		return q - lw
	}
	return q // \s+: a single whitespace rune before a non-space
}

// contraction returns the length of the contraction suffix ("s", "re", ...) at i, or 0.
func (sc *scanner) contraction(s string, i int) int {
	fold := func(r rune, want byte) bool {
		if r == rune(want) {
			return true
		}
		if !sc.foldContractions {
			return false
		}
		// simple case folding: ASCII upper case, and U+017F LATIN SMALL LETTER LONG S for s
		return r == rune(want-'a'+'A') || want == 's' && r == 'ſ'
	}
	r1, w1 := at(s, i)
	if w1 == 0 {
		return 0
	}
	switch {
	case fold(r1, 's'), fold(r1, 't'), fold(r1, 'm'), fold(r1, 'd'):
		return w1
	}
	r2, w2 := at(s, i+w1)
	if w2 == 0 {
		return 0
	}
	switch {
	case fold(r1, 'r') && fold(r2, 'e'), fold(r1, 'v') && fold(r2, 'e'), fold(r1, 'l') && fold(r2, 'l'):
		return w1 + w2
	}
	return 0
}

// literal matches an exact string (a Split pattern given as {"String": ...}).
type literal string

func (l literal) find(s string, dst [][2]int) [][2]int {
	if l == "" {
		return dst
	}
	for p := 0; ; {
		i := strings.Index(s[p:], string(l))
		if i < 0 {
			return dst
		}
		dst = append(dst, [2]int{p + i, p + i + len(l)})
		p += i + len(l)
	}
}

// goRegexp matches with Go's regexp, for a pattern that is none of the known ones.
type goRegexp struct{ re *regexp.Regexp }

func (g goRegexp) find(s string, dst [][2]int) [][2]int {
	for _, m := range g.re.FindAllStringIndex(s, -1) {
		if m[1] > m[0] {
			dst = append(dst, [2]int{m[0], m[1]})
		}
	}
	return dst
}

// compilePattern returns the matcher of an Oniguruma pattern of a Split pre-tokenizer.
func compilePattern(pattern string) (matcher, error) {
	switch pattern {
	case patternGPT2:
		return scanGPT2, nil
	case patternLlama3:
		return scanLlama3, nil
	case patternQwen2:
		return scanQwen2, nil
	}
	for _, look := range []string{"(?=", "(?!", "(?<=", "(?<!"} {
		if strings.Contains(pattern, look) {
			return nil, fmt.Errorf("regex %q uses lookaround %q, which Go's regexp lacks, and is not one of the known patterns (GPT-2, Llama-3, Qwen2)", pattern, look)
		}
	}
	translated, err := translateOniguruma(pattern)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	re, err := regexp.Compile(translated)
	if err != nil {
		return nil, fmt.Errorf("regex %q is not one of the known patterns and Go's regexp rejects it: %w", pattern, err)
	}
	return goRegexp{re}, nil
}

// Oniguruma's Unicode \s, \d and \w, as Go regexp class bodies.
const (
	spaceClass = `\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`
	digitClass = `\p{Nd}`
	wordClass  = `\p{L}\p{M}\p{Nd}\p{Pc}`
)

// translateOniguruma rewrites the shorthand classes whose meaning differs between Oniguruma
// (Unicode) and Go's regexp (ASCII): \s \S \d \D \w \W. A negated shorthand inside a bracket
// class cannot be written in Go's syntax and is an error.
func translateOniguruma(p string) (string, error) {
	var sb strings.Builder
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			e := p[i+1]
			i++
			body := ""
			switch e {
			case 's', 'S':
				body = spaceClass
			case 'd', 'D':
				body = digitClass
			case 'w', 'W':
				body = wordClass
			default:
				sb.WriteByte('\\')
				sb.WriteByte(e)
				continue
			}
			negated := e == 'S' || e == 'D' || e == 'W'
			switch {
			case inClass && negated:
				return "", fmt.Errorf(`\%c inside a bracket class is not supported`, e)
			case inClass:
				sb.WriteString(body)
			case negated:
				sb.WriteString("[^" + body + "]")
			default:
				sb.WriteString("[" + body + "]")
			}
		case c == '[' && !inClass:
			inClass = true
			sb.WriteByte(c)
			// a ']' right after '[' or '[^' is a literal
			if i+1 < len(p) && p[i+1] == '^' {
				sb.WriteByte('^')
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				sb.WriteByte(']')
				i++
			}
		case c == ']' && inClass:
			inClass = false
			sb.WriteByte(c)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), nil
}

// Split behaviours of Hugging Face's SplitDelimiterBehavior.
const (
	behaviorRemoved            = "Removed"
	behaviorIsolated           = "Isolated"
	behaviorMergedWithPrevious = "MergedWithPrevious"
	behaviorMergedWithNext     = "MergedWithNext"
	behaviorContiguous         = "Contiguous"
)

// span is a piece of a split: [start, end) and whether the pattern matched it.
type span struct {
	start, end int
	match      bool
}

// splitSpans returns the pieces of s under m: the matches and the text between them.
func splitSpans(s string, m matcher, invert bool, buf [][2]int) []span {
	matches := m.find(s, buf[:0])
	spans := make([]span, 0, 2*len(matches)+1)
	prev := 0
	for _, mt := range matches {
		if mt[0] > prev {
			spans = append(spans, span{prev, mt[0], invert})
		}
		spans = append(spans, span{mt[0], mt[1], !invert})
		prev = mt[1]
	}
	if prev < len(s) {
		spans = append(spans, span{prev, len(s), invert})
	}
	return spans
}

// applyBehavior turns the spans into the pieces kept by behaviour; it appends them to dst.
func applyBehavior(s string, spans []span, behavior string, dst []string) []string {
	switch behavior {
	case behaviorIsolated:
		for _, sp := range spans {
			dst = append(dst, s[sp.start:sp.end])
		}
	case behaviorRemoved:
		for _, sp := range spans {
			if !sp.match {
				dst = append(dst, s[sp.start:sp.end])
			}
		}
	case behaviorMergedWithPrevious, behaviorContiguous:
		var out []span
		prevMatch := false
		for _, sp := range spans {
			merge := sp.match && !prevMatch
			if behavior == behaviorContiguous {
				merge = sp.match == prevMatch
			}
			if merge && len(out) > 0 {
				out[len(out)-1].end = sp.end
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
		for _, sp := range out {
			dst = append(dst, s[sp.start:sp.end])
		}
	case behaviorMergedWithNext:
		var out []span
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].start = sp.start
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
		for i := len(out) - 1; i >= 0; i-- {
			dst = append(dst, s[out[i].start:out[i].end])
		}
	}
	return dst
}
