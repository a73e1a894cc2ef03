package redislua

import (
	"crypto/sha1" //nolint:gosec // a digest of a value the caller read, compared by Redis's redis.sha1hex: not a security boundary
	"encoding/hex"
	"strconv"

	"github.com/tiercache/tiercache/l2"
)

// LeaseLen is the length of a lease kept in its key, without the waited
// mark: LeaseMark and a token.
const LeaseLen = len(LeaseMark) + len(l2.Token{})

// LeaseValue returns the value that keeps token's lease in its key (see
// LeaseMark).
func LeaseValue(token l2.Token) []byte {
	b := make([]byte, 0, LeaseLen)
	return append(append(b, LeaseMark...), token[:]...)
}

// Holder returns the token whose lease v is, when v is a lease kept in its
// key (LeaseMark, a token, and maybe the mark: 20 or 21 bytes) and not a
// value. No frame of the tiered cache starts with a zero byte; a value
// written through the l2 API that looks like one reads as a lease.
func Holder(v []byte) (l2.Token, bool) {
	var t l2.Token
	if !IsLease(v) {
		return t, false
	}
	copy(t[:], v[len(LeaseMark):])
	return t, true
}

// IsLease reports whether v is a lease kept in its key (see Holder).
func IsLease(v []byte) bool {
	return (len(v) == LeaseLen || len(v) == LeaseLen+1) && string(v[:len(LeaseMark)]) == LeaseMark
}

// Expect returns the script arguments that describe an expected old value:
// "0" for none, else "1", its length and its hex SHA-1, which the scripts
// compare with redis.sha1hex of what the key holds when the lengths are
// equal. The old value itself never goes to Redis.
func Expect(old []byte) (mode, n, digest string) {
	if old == nil {
		return "0", "", ""
	}
	sum := sha1.Sum(old) //nolint:gosec // see the import
	return "1", strconv.Itoa(len(old)), hex.EncodeToString(sum[:])
}
