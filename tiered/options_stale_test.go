package tiered_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/tiered"
)

// The options of early refresh, stale serving and leases are validated by
// New: Beta must be finite, the stale windows not negative, the soft
// timeout shorter than the hard one; a negative Beta, LeaseTTL or
// FailSafeThrottle turns the feature off and is valid.
func TestNewValidatesStaleOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opt   func(*tiered.Options[string, int])
		valid bool
	}{
		{"Beta NaN", func(o *tiered.Options[string, int]) { o.Beta = math.NaN() }, false},
		{"Beta +Inf", func(o *tiered.Options[string, int]) { o.Beta = math.Inf(1) }, false},
		{"Beta -Inf", func(o *tiered.Options[string, int]) { o.Beta = math.Inf(-1) }, false},
		{"negative StaleWhileRevalidate", func(o *tiered.Options[string, int]) { o.StaleWhileRevalidate = -time.Second }, false},
		{"negative StaleIfError", func(o *tiered.Options[string, int]) { o.StaleIfError = -time.Nanosecond }, false},
		{"Beta -1 (off)", func(o *tiered.Options[string, int]) { o.Beta = -1 }, true},
		{"Beta 0 (default)", func(o *tiered.Options[string, int]) { o.Beta = 0 }, true},
		{"Beta 2.5", func(o *tiered.Options[string, int]) { o.Beta = 2.5 }, true},
		{"LeaseTTL -1 (off)", func(o *tiered.Options[string, int]) { o.LeaseTTL = -1 }, true},
		{"stale windows", func(o *tiered.Options[string, int]) {
			o.StaleWhileRevalidate, o.StaleIfError = time.Minute, time.Hour
		}, true},
		{"negative LoadSoftTimeout", func(o *tiered.Options[string, int]) { o.LoadSoftTimeout = -time.Second }, false},
		{"LoadSoftTimeout = LoadTimeout", func(o *tiered.Options[string, int]) {
			o.LoadSoftTimeout, o.LoadTimeout = time.Second, time.Second
		}, false},
		{"LoadSoftTimeout over the default LoadTimeout", func(o *tiered.Options[string, int]) { o.LoadSoftTimeout = time.Minute }, false},
		{"LoadSoftTimeout in nanoseconds", func(o *tiered.Options[string, int]) { o.LoadSoftTimeout = 50 }, false},
		{"soft and hard timeouts", func(o *tiered.Options[string, int]) {
			o.LoadSoftTimeout, o.LoadTimeout = 50*time.Millisecond, time.Second
		}, true},
		{"FailSafeThrottle -1 (off)", func(o *tiered.Options[string, int]) { o.FailSafeThrottle = -1 }, true},
		{"FailSafeThrottle in nanoseconds", func(o *tiered.Options[string, int]) { o.FailSafeThrottle = 30 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := &tiered.Options[string, int]{Name: "a"}
			tc.opt(opts)
			c, err := tiered.New(opts)
			if tc.valid {
				if err != nil {
					t.Fatalf("New: %v, want no error", err)
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if c != nil {
				_ = c.Close()
			}
			if !errors.Is(err, tiered.ErrInvalidOptions) || !strings.HasPrefix(err.Error(), "tiered: ") {
				t.Fatalf("err = %v, want ErrInvalidOptions starting with \"tiered: \"", err)
			}
		})
	}
}
