package rediskey

import "strings"

// The suffixes appended after the hash tag of a value's key. A lease, a
// queued value and a claim share their value's hash tag, so that one
// script can touch them all on a Cluster. No suffix ends with '}', and no
// key of one kind ends as a key of another does.
const (
	// LeaseSuffix: the lease of a key that holds a value.
	LeaseSuffix = ":lease"
	// QueuedSuffix: write-behind's queued value of a key (l2.Stager).
	QueuedSuffix = ":queued"
	// ClaimSuffix: the claim of a queued value.
	ClaimSuffix = ":claim"
	// TagSuffix ends the key of every tag index:
	// "{" + prefix + ns + TagInfix + tag + "}" + TagSuffix.
	TagSuffix = ":tags"
)

// TagInfix separates the namespace from the tag in the key of a tag index:
// namespaces hold no '|', so the indexes of two namespaces never meet.
const TagInfix = "|tag|"

// Kind is what a Redis key of a store holds, as its last bytes tell.
type Kind uint8

// The kinds of keys.
const (
	Other    Kind = iota // not written by a store
	Value                // "{" + prefix + k + "}"
	Lease                // a value's key + LeaseSuffix
	TagIndex             // a tag's key + TagSuffix
	Queued               // a value's key + QueuedSuffix
	Claim                // a value's key + ClaimSuffix
)

// KindOf returns the kind of the Redis key rk, which starts with "{" and
// the prefix of a store.
func KindOf(rk string) Kind {
	switch {
	case strings.HasSuffix(rk, "}"):
		return Value
	case strings.HasSuffix(rk, "}"+LeaseSuffix):
		return Lease
	case strings.HasSuffix(rk, "}"+TagSuffix):
		return TagIndex
	case strings.HasSuffix(rk, "}"+QueuedSuffix):
		return Queued
	case strings.HasSuffix(rk, "}"+ClaimSuffix):
		return Claim
	}
	return Other
}

// EscapeGlob escapes the characters that SCAN MATCH and KEYS treat as a
// pattern (* ? [ ] \), so that the pattern matches s literally.
func EscapeGlob(s string) string {
	const special = `*?[]\`
	if !strings.ContainsAny(s, special) {
		return s
	}
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
