package world

// Parse reads any token sequence as object specs; see ParseCaption, which also
// returns the background.
func Parse(ids []int) (specs []Spec, unparsed int) {
	c, unparsed := ParseCaption(ids)
	return c.Objects, unparsed
}

// ParseCaption reads any token sequence as a caption and counts the tokens it
// could not use. It never fails. The rules:
//
//   - A BOS as the first token is skipped. Reading stops at the first EOS;
//     tokens after it count as unparsed, except PAD (padding after EOS is normal).
//   - Attribute words accumulate into the current object phrase; Sep closes it.
//     A phrase becomes a Spec when it states at least one attribute, so a phrase
//     of only a position ("top-left") is an object of unknown kind there.
//   - A second word of an attribute kind the current phrase already states
//     ("large large", "red blue") is unparsed; the first one counts.
//   - A background word may appear anywhere and does not end the phrase; only
//     the first one counts, later ones are unparsed.
//   - A Sep that closes nothing (leading, or doubled) is unparsed, as are PAD,
//     BOS after the start, and ids outside the vocabulary.
//
// Duplicated specs are kept here; the Decoder collapses them.
func ParseCaption(ids []int) (c Caption, unparsed int) {
	c.Background = NoBackground
	cur := EmptySpec()
	phrase := false // something was read since the last Sep
	flush := func() {
		if cur.Stated() > 0 {
			c.Objects = append(c.Objects, cur)
		}
		cur = EmptySpec()
		phrase = false
	}
	for i, id := range ids {
		switch {
		case id == BOS && i == 0:
			continue
		case id == EOS:
			for _, rest := range ids[i+1:] {
				if rest != PAD {
					unparsed++
				}
			}
			flush()
			return c, unparsed
		case id == Sep:
			if !phrase {
				unparsed++
			}
			flush()
		case id >= firstSize && id < firstColor:
			unparsed += set(&cur.Size, Size(id-firstSize), NoSize, &phrase)
		case id >= firstColor && id < firstShape:
			unparsed += set(&cur.Color, Color(id-firstColor), NoColor, &phrase)
		case id >= firstShape && id < firstCell:
			unparsed += set(&cur.Shape, Shape(id-firstShape), NoShape, &phrase)
		case id >= firstCell && id < firstBackground:
			unparsed += set(&cur.Cell, id-firstCell, NoCell, &phrase)
		case id >= firstBackground && id < vocabSize:
			unparsed += set(&c.Background, Background(id-firstBackground), NoBackground, &phrase)
		default: // PAD, BOS after the start, out of range
			unparsed++
		}
	}
	flush()
	return c, unparsed
}

// set stores v in *dst if *dst is still unknown and returns 0; otherwise it
// leaves *dst alone and returns 1 (one unparsed token).
func set[T comparable](dst *T, v, unknown T, phrase *bool) int {
	if *dst != unknown {
		return 1
	}
	*dst = v
	*phrase = true
	return 0
}
