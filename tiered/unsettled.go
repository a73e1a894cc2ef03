package tiered

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// An invalidation that the cache accepted must reach L2, whatever the
// caller does with the error: a write or delete whose L2 part failed (a
// master died, a network cut) leaves the key's older value in L2, where
// every instance would read it once L2 answers again, for up to TTL. So
// the key becomes unsettled:
//
//   - this instance writes its tombstone again (through the write path,
//     behind any later write of the key) until L2 takes it, with a backoff,
//     whether or not the breaker lets reads through, and announces the
//     keys again, without the flag, once it has;
//   - the write's message carries the Unsettled flag, and every instance
//     that hears it doubts the keys until the origin announces them
//     settled;
//   - meanwhile no instance reads a doubted key from L2: it loads it, and
//     its value stays out of L2.
//
// A doubt ends after a horizon at the latest (the longest life of a value
// in L2, plus LoadTimeout): then every value older than the invalidation
// has expired anyway, and an origin that died cannot leave a key doubted
// for good. An instance retries at most MaxUnsettled keys at once.

// minRetry and maxRetry bound the backoff between two retries of the
// unsettled keys.
const (
	minRetry = 10 * time.Millisecond
	maxRetry = 250 * time.Millisecond
)

// unsettled holds the keys whose invalidation has not reached L2: this
// instance's own (retried) and those other instances announced.
type unsettled struct {
	n       atomic.Int64 // keys held: the read path's fast check
	horizon time.Duration
	limit   int
	now     func() time.Time
	start   func() // starts the retry goroutine; called once, under mu

	mu      sync.Mutex
	seq     uint64
	own     map[string]ownKey
	others  map[string][]doubt
	started bool
	wake    chan struct{} // capacity 1: own keys wait for a retry
}

// ownKey is one of this instance's unsettled keys.
type ownKey struct {
	seq   uint64 // which failed write it stands for
	until time.Time
}

// doubt is another instance's announcement that a key is unsettled.
type doubt struct {
	origin string
	until  time.Time
}

// doubted reports whether k is unsettled, by this instance or another.
func (u *unsettled) doubted(k string) bool {
	if u.n.Load() == 0 {
		return false
	}
	now := u.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if o, ok := u.own[k]; ok {
		if now.Before(o.until) {
			return true
		}
		delete(u.own, k)
		u.n.Add(-1)
	}
	ds := u.others[k]
	live := ds[:0]
	for _, d := range ds {
		if now.Before(d.until) {
			live = append(live, d)
		}
	}
	u.setOthers(k, ds, live)
	return len(live) > 0
}

// setOthers replaces the doubts of k, ds, by live.
func (u *unsettled) setOthers(k string, ds, live []doubt) {
	switch {
	case len(live) == len(ds):
		return
	case len(live) == 0:
		delete(u.others, k)
		if len(ds) > 0 {
			u.n.Add(-1)
		}
	default:
		u.others[k] = live
	}
}

// add makes keys unsettled by this instance, and wakes the retries. It
// reports false when some of them did not fit under the limit.
func (u *unsettled) add(keys []string) bool {
	until := u.now().Add(u.horizon)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.own == nil {
		u.own = make(map[string]ownKey)
		u.wake = make(chan struct{}, 1)
	}
	all := true
	for _, k := range keys {
		_, known := u.own[k]
		if !known && len(u.own) >= u.limit {
			all = false
			continue
		}
		u.seq++
		u.own[k] = ownKey{seq: u.seq, until: until}
		if !known {
			u.n.Add(1)
		}
	}
	if !u.started {
		u.started = true
		u.start()
	}
	select {
	case u.wake <- struct{}{}:
	default:
	}
	return all
}

// settle ends the unsettled state of keys, which a write just stored in
// L2, and returns how many were unsettled.
func (u *unsettled) settle(keys []string) int {
	if u.n.Load() == 0 {
		return 0
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, k := range keys {
		if _, ok := u.own[k]; ok {
			delete(u.own, k)
			u.n.Add(-1)
			n++
		}
	}
	return n
}

// pending reports whether k is still unsettled as of the failed write
// seq (no write of k happened since).
func (u *unsettled) pending(k string, seq uint64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	o, ok := u.own[k]
	return ok && o.seq == seq
}

// next returns up to n of this instance's unsettled keys with their
// sequence numbers, dropping those past the horizon.
func (u *unsettled) next(n int) map[string]uint64 {
	now := u.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]uint64)
	for k, o := range u.own {
		if !now.Before(o.until) {
			delete(u.own, k)
			u.n.Add(-1)
			continue
		}
		if len(out) == n {
			break
		}
		out[k] = o.seq
	}
	return out
}

// heard records what another instance's message says of keys: unsettled
// (doubt them until it says otherwise), or not (it wrote them since).
func (u *unsettled) heard(origin string, keys []string, unsettled bool) {
	if !unsettled && u.n.Load() == 0 {
		return
	}
	until := u.now().Add(u.horizon)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.others == nil {
		u.others = make(map[string][]doubt)
	}
	for _, k := range keys {
		ds := u.others[k]
		live := make([]doubt, 0, len(ds)+1)
		for _, d := range ds {
			if d.origin != origin {
				live = append(live, d)
			}
		}
		if unsettled {
			live = append(live, doubt{origin: origin, until: until})
			if len(ds) == 0 {
				u.n.Add(1)
			}
			u.others[k] = live
			continue
		}
		u.setOthers(k, ds, live)
	}
}

// counts returns how many keys this instance retries and how many other
// instances announced.
func (u *unsettled) counts() (own, others int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.own), len(u.others)
}

// doubted reports whether reads must not use L2's value of k (see
// unsettled).
func (c *Cache[K, V]) doubted(k string) bool { return c.unsettled.doubted(k) }

// retryUnsettled writes the tombstones of this instance's unsettled keys
// until L2 takes them, a batch at a time, until Close (which makes a last
// attempt). It runs on a goroutine of its own from the first unsettled
// key on.
func (c *Cache[K, V]) retryUnsettled() {
	defer c.bg.Done()
	backoff := minRetry
	for {
		batch := c.unsettled.next(invalidateBatch)
		if len(batch) == 0 {
			select {
			case <-c.unsettled.wake:
				continue
			case <-c.lifetime.Done():
				return
			}
		}
		if c.lifetime.Err() != nil { // Close: one last attempt
			ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
			_, _ = c.apply(ctx, "retry", deletes[V](keysOf(batch)), batch)
			cancel()
			return
		}
		ctx, cancel := context.WithTimeout(c.lifetime, c.cfg.LoadTimeout)
		l2err, _ := c.apply(ctx, "retry", deletes[V](keysOf(batch)), batch)
		cancel()
		if l2err == nil {
			backoff = minRetry
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-c.lifetime.Done():
			t.Stop()
		}
		backoff = min(2*backoff, maxRetry)
	}
}

func keysOf(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
