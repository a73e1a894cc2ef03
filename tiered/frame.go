package tiered

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/codec"
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
	// queued: written behind, and queued for the source (see
	// envelope.FlagQueued).
	queued bool
	// loaded: made by this instance's loader (not decoded from L2): a
	// read that gets it from a load was answered by the loader.
	loaded bool
	// held is how long after its expiry (milliseconds; 0: not held) an
	// expired entry that stood in for a load is served without one
	// (FailSafeThrottle, see Cache.hold). 32 bits, in the padding after
	// the flags: the entry stays 48 bytes with a small value.
	held atomic.Int32
	// epoch is the L1 epoch the entry was put into L1 under: once a flush
	// moves the epoch on, L1 does not serve it (see flushL1).
	epoch atomic.Uint64
}

// heldAt reports whether e is held (see held) at now, unix milliseconds.
func (e *entry[V]) heldAt(now int64) bool { return now < e.expiry+int64(e.held.Load()) }

// live reports whether e, found in L1, may be served: no flush happened
// since it was put there.
func (c *Cache[K, V]) live(e *entry[V]) bool { return e.epoch.Load() == c.gens.serving.Load() }

// entryOverhead approximates the memory of an L1 entry beyond its value and
// key (the entry, the L1 store's node and map slot), for the default cost.
const entryOverhead = 96

// frameSizeHint is the initial capacity of an encoding buffer.
const frameSizeHint = 256

// errForeign marks a frame this cache cannot read because another one wrote
// it: another schema (value type, SchemaVersion, codec), another
// compressor, or another release's frame format. It is not damage: the
// reader counts it (stats.L2Foreign), treats it as a miss and leaves it in
// L2 for its writer.
var errForeign = errors.New("tiered: value written with another schema")

// errTooLarge marks a frame whose value is larger than MaxValueSize: the
// cache does not decode it (a writer with a larger MaxValueSize, or a
// hostile one, wrote it). It is counted (stats.ValueTooLarge), treated as
// a miss and left alone, like another schema's value.
var errTooLarge = fmt.Errorf("tiered: value in L2 larger than MaxValueSize: %w", ErrValueTooLarge)

// errWrongKey marks a frame bound to another key than the one it was read
// under (see keyHash): copied there by mistake or by someone who can write
// to Redis. It is damage: counted, deleted, a miss.
var errWrongKey = fmt.Errorf("%w: written under another key", envelope.ErrCorrupt)

// encode returns e framed for L2 under the L1 key k (created now) and the
// size of its uncompressed payload. A value over MaxValueSize is an error
// wrapping ErrValueTooLarge.
func (c *Cache[K, V]) encode(k string, e *entry[V], created time.Time) ([]byte, int, error) {
	frame := envelope.Begin(make([]byte, 0, frameSizeHint))
	h := envelope.Header{Schema: c.schema, Created: created.UnixMilli(), Expiry: e.expiry, Delta: e.delta, Key: c.keyHash(k)}
	if e.queued {
		h.Flags |= envelope.FlagQueued
	}
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
	if c.cfg.MaxValueSize > 0 && size > c.cfg.MaxValueSize {
		return nil, size, fmt.Errorf("tiered: %s: %w: %d bytes, MaxValueSize is %d", c.cfg.Name, ErrValueTooLarge, size, c.cfg.MaxValueSize)
	}
	if c.cfg.Compressor != nil && size > c.cfg.CompressAbove {
		z := c.cfg.Compressor.Compress(envelope.Begin(make([]byte, 0, envelope.HeaderSize+size/2)), frame[envelope.HeaderSize:])
		if len(z) < len(frame) {
			frame = z
			h.Flags |= envelope.FlagCompressed
			h.Compressor = c.compressor
		}
	}
	envelope.Finish(frame, h)
	return frame, size, nil
}

// decode turns a frame read from L2 under the L1 key k into an entry. It
// returns the size of the uncompressed payload for the L1 cost. A frame
// another cache wrote (another schema, compressor or format version) is
// errForeign; one that is not ours at all, is damaged or was written under
// another key is an error wrapping envelope.ErrCorrupt (the caller counts
// it, deletes it, and misses).
//
// The header's times are clamped (see clampExpiry): whatever a frame
// claims, no lifetime derived from it exceeds what this cache would give.
func (c *Cache[K, V]) decode(k string, frame []byte) (*entry[V], int, error) {
	h, payload, err := envelope.Decode(frame)
	switch {
	case errors.Is(err, envelope.ErrOtherVersion):
		return nil, 0, errForeign
	case err != nil:
		return nil, 0, err
	case h.Key != c.keyHash(k):
		return nil, 0, errWrongKey
	}
	e := &entry[V]{expiry: c.clampExpiry(h.Created, h.Expiry), delta: min(h.Delta, c.cfg.LoadTimeout)}
	if h.Flags&envelope.FlagTombstone != 0 {
		e.tombstone = true // every schema honours a delete
		return e, 0, nil
	}
	if h.Schema != c.schema {
		return nil, 0, errForeign
	}
	if h.Flags&envelope.FlagQueued != 0 {
		// Queued for the source: fresh while L2 keeps it, whatever its
		// expiry (the flusher gives the key its TTL once the value is in
		// the source).
		e.queued = true
		e.expiry = c.cfg.Now().Add(c.cfg.TTL).UnixMilli()
	}
	if h.Flags&envelope.FlagNotFound != 0 {
		e.notFound = true
		return e, 0, nil
	}
	if h.Flags&envelope.FlagCompressed != 0 {
		if c.cfg.Compressor == nil || h.Compressor != c.compressor {
			return nil, 0, errForeign
		}
		if dl, ok := c.cfg.Compressor.(codec.DecodedLener); ok && c.cfg.MaxValueSize > 0 {
			if n, err := dl.DecodedLen(payload); err == nil && n > c.cfg.MaxValueSize {
				return nil, 0, errTooLarge
			}
		}
		if payload, err = c.cfg.Compressor.Decompress(nil, payload); err != nil {
			return nil, 0, fmt.Errorf("%w: %w", envelope.ErrCorrupt, err)
		}
	}
	if c.cfg.MaxValueSize > 0 && len(payload) > c.cfg.MaxValueSize {
		return nil, 0, errTooLarge
	}
	if err := c.cfg.Codec.Unmarshal(payload, &e.value); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", envelope.ErrCorrupt, err)
	}
	return e, len(payload), nil
}

// clampExpiry bounds an expiry read from a frame created at created (both
// unix milliseconds) to [0, min(created, now) + the longest lifetime this
// cache gives a frame]. A forged or damaged expiry far in the future would
// otherwise keep a value fresh for as long as L2 keeps it (and overflow
// the arithmetic of L1 TTLs into "never expires"), and one far in the past
// would overflow that of stale serving. A writer configured with a longer
// TTL only sees its values refreshed sooner here.
func (c *Cache[K, V]) clampExpiry(created, expiry int64) int64 {
	limit := min(created, c.cfg.Now().UnixMilli()) + c.maxLife.Milliseconds()
	return max(0, min(expiry, limit))
}

// keyHash returns the hash that binds a frame to the L1 key k of this
// cache: FNV-1a (32 bits) of Name, ':' and k. It is not a MAC: it catches
// a frame copied under another key, not one forged for this key.
func (c *Cache[K, V]) keyHash(k string) uint32 {
	h := c.keySeed
	for i := 0; i < len(k); i++ {
		h ^= uint32(k[i])
		h *= fnvPrime32
	}
	return h
}

// FNV-1a, 32 bits.
const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

// keySeed returns the FNV-1a state after name and ':', where every
// keyHash of the cache named name starts.
func keySeed(name string) uint32 {
	h := uint32(fnvOffset32)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= fnvPrime32
	}
	h ^= ':'
	return h * fnvPrime32
}

// tombstone returns the frame that stands for the deleted L1 key k until
// ttl from now. Its random payload makes every tombstone different, so
// that a load that read one cannot mistake another for it.
func (c *Cache[K, V]) tombstone(k string, now time.Time, ttl time.Duration) []byte {
	var id [8]byte
	u := rand.Uint64()
	for i := range id {
		id[i] = byte(u >> (8 * i))
	}
	h := envelope.Header{Flags: envelope.FlagTombstone, Created: now.UnixMilli(), Expiry: now.Add(ttl).UnixMilli(), Key: c.keyHash(k)}
	return envelope.Append(make([]byte, 0, envelope.HeaderSize+len(id)), h, id[:])
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
	return c.l1TTLAt(e, now, 0)
}

// l1TTLAt is l1TTL with limit (a per-call L1TTL) in place of Options.L1TTL;
// 0: Options.L1TTL.
func (c *Cache[K, V]) l1TTLAt(e *entry[V], now time.Time, limit time.Duration) time.Duration {
	if limit <= 0 {
		limit = c.cfg.L1TTL
	}
	// Decoded expiries are clamped (clampExpiry), so ms cannot overflow;
	// comparing in milliseconds first keeps the conversion below in range.
	ms := e.expiry - now.UnixMilli()
	if ms >= limit.Milliseconds() {
		return limit
	}
	left := time.Duration(ms)*time.Millisecond + c.fresh.extra
	if left <= 0 {
		return 0
	}
	return min(left, limit)
}

// l2TTL returns how long a value whose logical lifetime is ttl lives in L2:
// longer by the stale-serving windows, so that an expired value can still
// be served, and by LeaseTTL with early refresh, so that a refresh that
// ends after the expiry can still replace it. Tag indexes get the same
// lifetime.
func (c *Cache[K, V]) l2TTL(ttl time.Duration) time.Duration {
	return ttl + c.fresh.keep
}

// fingerprint returns the schema fingerprint of values encoded by codec (a
// description of the codec's type) with schema (SchemaVersion, or a
// description of V's type): never 0, which tombstones carry.
func fingerprint(codec, schema string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(codec))
	h.Write([]byte{0})
	h.Write([]byte(schema))
	if s := h.Sum32(); s != 0 {
		return s
	}
	return 1
}
