package redislua

import (
	"testing"

	"github.com/tiercache/tiercache/l2"
)

func TestLeaseValue(t *testing.T) {
	tok := l2.NewToken()
	v := LeaseValue(tok)
	if got, ok := Holder(v); !ok || got != tok {
		t.Errorf("Holder(LeaseValue(t)) = %x, %v; want the token", got, ok)
	}
	if got, ok := Holder(append(v, 'w')); !ok || got != tok {
		t.Errorf("Holder of a marked lease = %x, %v; want the token", got, ok)
	}
	for _, v := range [][]byte{nil, {}, []byte(LeaseMark), append(LeaseValue(tok), 'w', 'x'), append([]byte("\x00TCM"), tok[:]...), []byte("a value of twenty by")} {
		if IsLease(v) {
			t.Errorf("IsLease(%q) = true", v)
		}
	}
}

func TestExpect(t *testing.T) {
	if m, n, d := Expect(nil); m != "0" || n != "" || d != "" {
		t.Errorf("Expect(nil) = %q %q %q", m, n, d)
	}
	if m, n, d := Expect([]byte{}); m != "1" || n != "0" || d != "da39a3ee5e6b4b0d3255bfef95601890afd80709" {
		t.Errorf("Expect(empty) = %q %q %q; want the SHA-1 of nothing", m, n, d)
	}
	if m, n, d := Expect([]byte("abc")); m != "1" || n != "3" || d != "a9993e364706816aba3e25717850c26c9cd0d89d" {
		t.Errorf("Expect(abc) = %q %q %q", m, n, d)
	}
}
