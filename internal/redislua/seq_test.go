package redislua

import (
	"math"
	"testing"
)

func TestSeq(t *testing.T) {
	for _, c := range []struct {
		seq  uint64
		want string
	}{
		{0, "00000000000000000000"},
		{1, "00000000000000000001"},
		{math.MaxUint64, "18446744073709551615"},
	} {
		got := Seq(c.seq)
		if got != c.want {
			t.Errorf("Seq(%d) = %q, want %q", c.seq, got, c.want)
		}
		if back, err := ParseSeq(got); err != nil || back != c.seq {
			t.Errorf("ParseSeq(%q) = %d, %v; want %d", got, back, err, c.seq)
		}
	}
	for _, s := range []string{"", "1", "0000000000000000000x", "99999999999999999999", "000000000000000000001"} {
		if n, err := ParseSeq(s); err == nil {
			t.Errorf("ParseSeq(%q) = %d, no error", s, n)
		}
	}
}
