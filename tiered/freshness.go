package tiered

import (
	"cmp"
	"math"
	"time"
)

// freshness decides what a read does with an entry it found: serve it, serve
// it and refresh it in the background, or load the key.
type freshness struct {
	beta float64 // XFetch's beta; <= 0: no early refresh
	swr  int64   // StaleWhileRevalidate in milliseconds
	sie  int64   // StaleIfError in milliseconds
	// extra is how much longer than their TTL values are kept in L1
	// (within L1TTL), so that stale serving finds them.
	extra time.Duration
	// keep is how much longer than their TTL values are kept in L2: extra,
	// or, with early refresh, at least LeaseTTL (see newFreshness).
	keep time.Duration
	rand func() float64
}

// check reports whether a read that finds an entry with load time delta in
// L1 must look at the clock. L1 drops an entry when it expires, so a hit
// needs the time only to serve stale values or to draw an early refresh,
// which a value that was not loaded (written by Set: delta 0) never gets.
func (f *freshness) check(delta time.Duration) bool {
	return f.extra > 0 || f.beta > 0 && delta > 0
}

func newFreshness[K comparable, V any](cfg *Options[K, V]) freshness {
	f := freshness{
		beta:  cfg.Beta,
		swr:   cfg.StaleWhileRevalidate.Milliseconds(),
		sie:   cfg.StaleIfError.Milliseconds(),
		extra: max(cfg.StaleWhileRevalidate, cfg.StaleIfError),
		rand:  cfg.Rand,
	}
	f.keep = f.extra
	if f.beta > 0 {
		// A refresh drawn just before the expiry writes its value only if
		// L2 still holds the one it replaces: keep that one in L2 for as
		// long as a load is expected to take, or the refresh is refused
		// and the key expires anyway. Readers treat it as expired all the
		// same.
		f.keep = max(f.keep, cmp.Or(max(cfg.LeaseTTL, 0), DefaultLeaseTTL))
	}
	return f
}

// verdict is what a read does with an entry.
type verdict uint8

const (
	// serve: the entry is fresh.
	serve verdict = iota
	// serveRefresh: serve the entry and refresh it in the background: it
	// is fresh but XFetch drew it for early refresh, or it is past its
	// expiry by less than StaleWhileRevalidate.
	serveRefresh
	// reload: the entry is past its expiry and StaleWhileRevalidate; load
	// the key (the entry may still rescue a failed load: see rescues).
	reload
)

// xfetchCutoff bounds the draw of XFetch: an entry further from its expiry
// than xfetchCutoff times delta*beta is not drawn (the chance that it
// would be is e^-xfetchCutoff, 4e-18), so that most hits skip the
// logarithm and the random number.
const xfetchCutoff = 40

// judge returns what a read at now (unix milliseconds) does with an entry
// that expires at expiry (unix milliseconds) and took delta to load. It
// reports stale when the entry is past its expiry.
func (f *freshness) judge(expiry int64, delta time.Duration, now int64) (v verdict, stale bool) {
	left := expiry - now
	if left > 0 {
		if f.due(delta, left) {
			return serveRefresh, false
		}
		return serve, false
	}
	if -left < f.swr {
		return serveRefresh, true
	}
	return reload, true
}

// due reports whether XFetch draws an entry with left milliseconds to live
// and a load time of delta for early refresh: when
// delta*beta*-ln(rand) >= left, rand uniform in (0, 1]. Values never loaded
// (delta 0) are never drawn.
func (f *freshness) due(delta time.Duration, left int64) bool {
	if f.beta <= 0 || delta <= 0 {
		return false
	}
	scale := f.beta * float64(delta) / float64(time.Millisecond)
	if float64(left) > scale*xfetchCutoff {
		return false
	}
	return scale*-math.Log(1-f.rand()) >= float64(left)
}

// rescues reports whether an entry that expired at expiry may be served at
// now because loading its key failed (StaleIfError).
func (f *freshness) rescues(expiry, now int64) bool {
	return now-expiry < f.sie
}
