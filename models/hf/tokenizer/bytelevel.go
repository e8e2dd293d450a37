package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// The byte-level alphabet of GPT-2 (also used by Llama-3 and Qwen): every byte gets a printable
// rune, so that any byte string becomes a string of visible characters. Bytes that are already
// printable and not a space ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for themselves; the other 68
// bytes, in increasing order, take the runes 256, 257, ... (so the space 0x20 is 'Ġ', U+0120).
var (
	byteRune [256]rune   // byte -> rune of the alphabet
	byteText [256]string // byte -> that rune as UTF-8
	runeByte [512]int16  // rune -> byte, -1 for runes outside the alphabet
)

func init() {
	for i := range runeByte {
		runeByte[i] = -1
	}
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			byteRune[b] = rune(b)
		} else {
			byteRune[b] = next
			next++
		}
		byteText[b] = string(byteRune[b])
		runeByte[byteRune[b]] = int16(b)
	}
}

// byteLevelMap returns s with each byte replaced by its rune of the byte-level alphabet.
func byteLevelMap(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		n += len(byteText[s[i]])
	}
	var sb strings.Builder
	sb.Grow(n)
	for i := 0; i < len(s); i++ {
		if t := byteText[s[i]]; len(t) == 1 {
			sb.WriteByte(t[0])
		} else {
			sb.WriteByte(t[0])
			sb.WriteByte(t[1])
		}
	}
	return sb.String()
}

// byteLevelUnmap appends the bytes token stands for. A token with a rune outside the
// byte-level alphabet (an added token such as "<|im_start|>" only uses alphabet runes, but one
// with a real space would not) is appended as its own UTF-8 bytes, as the Hugging Face decoder does.
func byteLevelUnmap(dst []byte, token string) []byte {
	start := len(dst)
	for _, r := range token {
		if r < 0 || int(r) >= len(runeByte) || runeByte[r] < 0 {
			return append(dst[:start], token...)
		}
		dst = append(dst, byte(runeByte[r]))
	}
	return dst
}

// appendLossyUTF8 appends b to dst with every ill-formed sequence replaced by U+FFFD, one
// replacement per maximal ill-formed subpart (the rule of Unicode §3.9 that Rust's
// String::from_utf8_lossy follows; Go's own conversions would replace byte by byte).
func appendLossyUTF8(dst []byte, b []byte) []byte {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			dst = append(dst, b[i:i+size]...)
			i += size
			continue
		}
		dst = append(dst, "\uFFFD"...)
		i += illFormedLen(b[i:])
	}
	return dst
}

// illFormedLen is the length of the maximal subpart of a well-formed sequence at the start of b,
// which is known not to start a well-formed sequence: at least 1.
func illFormedLen(b []byte) int {
	need, lo, hi := 0, byte(0x80), byte(0xBF)
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c == 0xF4:
		need, hi = 3, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k == 0 && (x < lo || x > hi) || k > 0 && (x < 0x80 || x > 0xBF) {
			break
		}
		n++
	}
	return n
}
