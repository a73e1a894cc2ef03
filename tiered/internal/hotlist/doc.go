// Package hotlist counts which keys a cache reads most, in bounded memory,
// and encodes a list of them for L2.
//
// A [Sketch] keeps at most its capacity of keys with a read count each
// (space-saving: Metwally, Agrawal and El Abbadi, ICDT 2005): a key it
// does not hold takes the place of the least counted one, with that one's
// count plus one. Of n reads added, a key read more than n/capacity times
// is always among them, with a count at least its true one, and
// [Sketch.Top] returns the most counted first. Counts are halved every
// 32 × capacity reads, so that keys that stopped being read give way to
// the ones read now (the guarantee holds between two halvings).
//
// [Encode] and [Decode] give a list its stored form:
//
//	[0]  version (1)
//	     uvarint: the number of entries
//	     per entry, most read first: uvarint key length, the key's bytes,
//	     uvarint read count
//
// Decode checks every length against what is left and refuses trailing
// bytes: it never panics, and a list it returns re-encodes to bytes that
// decode to the same list.
package hotlist
