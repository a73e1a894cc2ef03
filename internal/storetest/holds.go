package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Holds checks, through admin, what the Redis key rk holds (want nil:
// nothing) and its PTTL, which must be in (lo, hi], or -1 when hi is -1
// (no expiry). what names the step in failures.
func Holds(t *testing.T, admin redis.UniversalClient, what, rk string, want []byte, lo, hi time.Duration) {
	t.Helper()
	ctx := t.Context()
	got, err := admin.Get(ctx, rk).Bytes()
	if want == nil {
		if !errors.Is(err, redis.Nil) {
			t.Errorf("%s: GET %s = %q, %v; want nothing", what, rk, got, err)
		}
		return
	}
	if err != nil || string(got) != string(want) {
		t.Errorf("%s: GET %s = %q, %v; want %q", what, rk, got, err, want)
	}
	d, err := admin.PTTL(ctx, rk).Result()
	switch {
	case err != nil:
		t.Errorf("%s: PTTL %s: %v", what, rk, err)
	case hi < 0 && d != hi:
		t.Errorf("%s: PTTL %s = %v, want none (%v)", what, rk, d, hi)
	case hi >= 0 && (d <= lo || d > hi):
		t.Errorf("%s: PTTL %s = %v, want in (%v, %v]", what, rk, d, lo, hi)
	}
}
