package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`

	match string // the text it matches: Content, or its normalised form for a normalized token
}

// addedMatcher finds added tokens in text, leftmost first and, at one position, longest
// first (Hugging Face builds a leftmost-longest Aho-Corasick automaton; a byte trie walked
// from each position gives the same matches for these small sets).
type addedMatcher struct {
	tokens []*addedToken
	root   [256]int32 // first byte -> node, 0 for none
	nodes  []trieNode // nodes[0] is unused
}

type trieNode struct {
	next  map[byte]int32
	token int32 // index in tokens, -1 for none
}

func newAddedMatcher(tokens []*addedToken) *addedMatcher {
	if len(tokens) == 0 {
		return nil
	}
	m := &addedMatcher{tokens: tokens, nodes: make([]trieNode, 1)}
	for ti, t := range tokens {
		s := t.match
		if s == "" {
			continue
		}
		n := m.root[s[0]]
		if n == 0 {
			n = m.newNode()
			m.root[s[0]] = n
		}
		for i := 1; i < len(s); i++ {
			c, ok := m.nodes[n].next[s[i]]
			if !ok {
				c = m.newNode()
				if m.nodes[n].next == nil {
					m.nodes[n].next = map[byte]int32{}
				}
				m.nodes[n].next[s[i]] = c
			}
			n = c
		}
		if m.nodes[n].token < 0 { // the first of equal contents wins
			m.nodes[n].token = int32(ti)
		}
	}
	return m
}

func (m *addedMatcher) newNode() int32 {
	m.nodes = append(m.nodes, trieNode{token: -1})
	return int32(len(m.nodes) - 1)
}

// longestAt returns the token and end of the longest match starting at i, or (nil, 0).
func (m *addedMatcher) longestAt(s string, i int) (*addedToken, int) {
	n := m.root[s[i]]
	var best *addedToken
	end := 0
	for j := i + 1; n != 0; j++ {
		if t := m.nodes[n].token; t >= 0 {
			best, end = m.tokens[t], j
		}
		if j >= len(s) {
			break
		}
		n = m.nodes[n].next[s[j]]
	}
	return best, end
}

// segment is a piece of text, or an added token (token != nil) that covers text.
type segment struct {
	text  string
	token *addedToken
}

// split cuts s into text pieces and added tokens, applying each token's single_word, lstrip and
// rstrip options as Hugging Face's AddedVocabulary does. Empty text pieces are left out.
func (m *addedMatcher) split(s string, dst []segment) []segment {
	if m == nil {
		if s != "" {
			dst = append(dst, segment{text: s})
		}
		return dst
	}
	done := 0 // end of what has been emitted
	for i := 0; i < len(s); {
		t, stop := m.longestAt(s, i)
		if t == nil {
			i++
			continue
		}
		start := i
		i = stop // the search goes on after this match, used or not
		if t.SingleWord {
			before := start == 0 || !endsWithWord(s[:start])
			after := stop == len(s) || !startsWithWord(s[stop:])
			if !before || !after {
				continue
			}
		}
		if t.LStrip {
			start = max(trailingSpaceStart(s[:start]), done)
		}
		if t.RStrip {
			stop += leadingSpaceLen(s[stop:])
			i = stop
		}
		if start > done {
			dst = append(dst, segment{text: s[done:start]})
		}
		dst = append(dst, segment{text: s[start:stop], token: t})
		done = stop
	}
	if done < len(s) {
		dst = append(dst, segment{text: s[done:]})
	}
	return dst
}

// isWordRune is the Unicode \w of Rust's regex crate (Alphabetic, marks, decimal digits,
// connector punctuation, join controls).
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.In(r, unicode.Nl, unicode.Other_Alphabetic, unicode.M,
		unicode.Nd, unicode.Pc, unicode.Join_Control)
}

func endsWithWord(s string) bool {
	r, w := utf8.DecodeLastRuneInString(s)
	return w > 0 && isWordRune(r)
}

func startsWithWord(s string) bool {
	r, w := utf8.DecodeRuneInString(s)
	return w > 0 && isWordRune(r)
}

// trailingSpaceStart is where the run of whitespace that ends s begins.
func trailingSpaceStart(s string) int {
	i := len(s)
	for i > 0 {
		r, w := utf8.DecodeLastRuneInString(s[:i])
		if !unicode.IsSpace(r) {
			break
		}
		i -= w
	}
	return i
}

// leadingSpaceLen is the byte length of the run of whitespace that starts s.
func leadingSpaceLen(s string) int {
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += w
	}
	return i
}
