package redislua

import (
	"fmt"
	"strconv"
)

// SeqDigits is the width of a sequence number as the scripts of queued
// values (Stage, Claim, Unstage and the Queued prelude) take and answer
// it: enough for every uint64, so that numbers of one width compare digit
// by digit. The number stays a string: Lua's numbers are doubles, which
// hold no uint64 exactly.
const SeqDigits = 20

// Seq returns seq as the scripts take it: SeqDigits decimal digits.
func Seq(seq uint64) string {
	return fmt.Sprintf("%0*d", SeqDigits, seq)
}

// ParseSeq reads a sequence number that a script answered.
func ParseSeq(s string) (uint64, error) {
	if len(s) != SeqDigits {
		return 0, fmt.Errorf("sequence number %q is not %d digits", s, SeqDigits)
	}
	return strconv.ParseUint(s, 10, 64)
}
