package invalidate_test

import (
	"testing"

	"github.com/tiercache/tiercache/invalidate"
)

// Every reason has a name, and only Suspended and Resumed leave what the
// handler holds in place.
func TestLostReason(t *testing.T) {
	for _, tc := range []struct {
		r     invalidate.LostReason
		name  string
		drops bool
	}{
		{invalidate.Subscribed, "subscribed", true},
		{invalidate.Resubscribed, "resubscribed", true},
		{invalidate.Gap, "gap", true},
		{invalidate.Malformed, "malformed", true},
		{invalidate.Interrupted, "interrupted", true},
		{invalidate.Suspended, "suspended", false},
		{invalidate.Resumed, "resumed", false},
		{invalidate.LostReason(0), "unknown", true},
	} {
		if got := tc.r.String(); got != tc.name {
			t.Errorf("LostReason(%d).String() = %q, want %q", tc.r, got, tc.name)
		}
		if got := tc.r.Drops(); got != tc.drops {
			t.Errorf("%s.Drops() = %v, want %v", tc.name, got, tc.drops)
		}
	}
}
