package tiered

import (
	"fmt"
	"time"

	"github.com/tiercache/tiercache/tiered/internal/envelope"
)

// entry is what L1 holds for a key: the decoded value (or a cached "not
// found"), its logical expiry and how long its load took (for early refresh).
type entry[V any] struct {
	value    V
	expiry   int64 // unix milliseconds
	delta    time.Duration
	notFound bool
	// tombstone: the key was deleted (never in L1; see Cache.Delete).
	tombstone bool
}

// entryOverhead approximates the memory of an L1 entry beyond its value and
// key (the entry, ristretto's item and map slot), for the default cost.
const entryOverhead = 96

// frameSizeHint is the initial capacity of an encoding buffer.
const frameSizeHint = 256

// encode returns e framed for L2 (created now) and the size of its
// uncompressed payload.
func (c *Cache[K, V]) encode(e *entry[V], created time.Time) ([]byte, int, error) {
	frame := envelope.Begin(make([]byte, 0, frameSizeHint))
	h := envelope.Header{Created: created.UnixMilli(), Expiry: e.expiry, Delta: e.delta}
	if e.notFound {
		h.Flags |= envelope.FlagNotFound
	} else {
		var err error
		frame, err = c.cfg.Codec.Marshal(frame, e.value)
		if err != nil {
			return nil, 0, fmt.Errorf("tiered: %s: encode: %w", c.cfg.Name, err)
		}
	}
	size := len(frame) - envelope.HeaderSize
	if c.cfg.Compressor != nil && size > c.cfg.CompressAbove {
		z := c.cfg.Compressor.Compress(envelope.Begin(make([]byte, 0, envelope.HeaderSize+size/2)), frame[envelope.HeaderSize:])
		if len(z) < len(frame) {
			frame = z
			h.Flags |= envelope.FlagCompressed
		}
	}
	envelope.Finish(frame, h)
	return frame, size, nil
}

// decode turns a frame read from L2 into an entry. It returns the size of
// the uncompressed payload for the L1 cost. A frame that is not ours or is
// damaged is an error (the caller counts it, deletes it, and misses).
func (c *Cache[K, V]) decode(frame []byte) (*entry[V], int, error) {
	h, payload, err := envelope.Decode(frame)
	if err != nil {
		return nil, 0, err
	}
	e := &entry[V]{expiry: h.Expiry, delta: h.Delta}
	if h.Flags&envelope.FlagTombstone != 0 {
		e.tombstone = true
		return e, 0, nil
	}
	if h.Flags&envelope.FlagNotFound != 0 {
		e.notFound = true
		return e, 0, nil
	}
	if h.Flags&envelope.FlagCompressed != 0 {
		if c.cfg.Compressor == nil {
			return nil, 0, fmt.Errorf("%w: compressed value but no Compressor configured", envelope.ErrCorrupt)
		}
		if payload, err = c.cfg.Compressor.Decompress(nil, payload); err != nil {
			return nil, 0, fmt.Errorf("%w: %w", envelope.ErrCorrupt, err)
		}
	}
	if err := c.cfg.Codec.Unmarshal(payload, &e.value); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", envelope.ErrCorrupt, err)
	}
	return e, len(payload), nil
}

// cost returns the L1 cost of e stored under key with a payload of size
// bytes.
func (c *Cache[K, V]) cost(key string, e *entry[V], size int) int64 {
	if c.cfg.Cost != nil && !e.notFound {
		return c.cfg.Cost(e.value)
	}
	return int64(len(key) + size + entryOverhead)
}

// ttl returns the L2 lifetime of a new value: TTL (or NotFoundTTL) minus
// the jitter.
func (c *Cache[K, V]) ttl(notFound bool) time.Duration {
	ttl := c.cfg.TTL
	if notFound {
		ttl = c.cfg.NotFoundTTL
	}
	if c.cfg.Jitter > 0 {
		ttl -= time.Duration(c.cfg.Jitter * c.cfg.Rand() * float64(ttl))
		if ttl < time.Millisecond {
			ttl = time.Millisecond
		}
	}
	return ttl
}

// l1TTL returns how long e may stay in L1 at now: L1TTL, but never past its
// logical expiry plus the stale-serving windows. It returns 0 when that is
// already past.
func (c *Cache[K, V]) l1TTL(e *entry[V], now time.Time) time.Duration {
	left := time.Duration(e.expiry-now.UnixMilli())*time.Millisecond + c.fresh.extra
	if left <= 0 {
		return 0
	}
	return min(left, c.cfg.L1TTL)
}

// l2TTL returns how long a value whose logical lifetime is ttl lives in L2:
// longer by the stale-serving windows, so that an expired value can still
// be served, and by LeaseTTL with early refresh, so that a refresh that
// ends after the expiry can still replace it. Tag indexes get the same
// lifetime.
func (c *Cache[K, V]) l2TTL(ttl time.Duration) time.Duration {
	return ttl + c.fresh.keep
}
