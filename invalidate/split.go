package invalidate

import "fmt"

// Split cuts m into messages whose encodings each take at most limit bytes,
// for a bus that caps the size of what it sends. A message that fits comes
// back alone. Otherwise the keys, then the tags, are spread over the pieces
// in order, each piece taking as many as fit; Flush and Prefix go with the
// first piece, Unsettled and Wake (which qualify the keys) with each.
// Together the pieces drop what m drops.
//
// The pieces carry m's Origin, Seq and Sent, and are measured with them: a
// bus that stamps its messages after Split should first set Origin, and Seq
// and Sent to values at least as long as the ones it will write
// (math.MaxUint64 and math.MinInt64 are the longest), and give each piece a
// number of its own.
//
// The pieces share the arrays of m.Keys and m.Tags, with their capacity
// cut to their length: appending to one does not write over another.
// Split fails when one key or tag alone, or the first piece without any
// (its Origin, Namespace and Prefix), does not fit in limit bytes.
func (m *Message) Split(limit int) ([]Message, error) {
	if m.EncodedLen() <= limit {
		return []Message{*m}, nil
	}
	first := *m
	first.Keys, first.Tags = nil, nil
	rest := first
	rest.Flush, rest.Prefix = false, ""
	if size := first.baseSize(); size > limit {
		return nil, fmt.Errorf("invalidate: cannot split a message into pieces of %d bytes: without keys or tags it takes %d", limit, size)
	}
	keys, tags := m.Keys, m.Tags
	var pieces []Message
	for p := first; ; p = rest {
		room := limit - p.baseSize()
		nk, used := fit(keys, room)
		p.Keys, keys = keys[:nk:nk], keys[nk:]
		nt := 0
		if len(keys) == 0 {
			nt, _ = fit(tags, room-used)
			p.Tags, tags = tags[:nt:nt], tags[nt:]
		}
		if nk+nt == 0 && (len(pieces) > 0 || p.baseSize() == rest.baseSize()) {
			// Not even one fits a piece of its own.
			what, s := "tag", ""
			if len(keys) > 0 {
				what, s = "key", keys[0]
			} else {
				s = tags[0]
			}
			return nil, fmt.Errorf("invalidate: cannot split a message into pieces of %d bytes: a %s of %d bytes does not fit one", limit, what, len(s))
		}
		pieces = append(pieces, p)
		if len(keys) == 0 && len(tags) == 0 {
			return pieces, nil
		}
	}
}

// fit returns how many of ss, from the first, fit in room bytes beyond an
// empty list, and how many bytes they take.
func fit(ss []string, room int) (n, used int) {
	for n < len(ss) {
		add := strSize(len(ss[n])) + arrayHeaderSize(n+1) - arrayHeaderSize(n)
		if used+add > room {
			break
		}
		used += add
		n++
	}
	return n, used
}
