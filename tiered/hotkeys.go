package tiered

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tiercache/tiercache/tiered/internal/hotlist"
)

// Defaults of hot-key recording (Options.HotKeys).
const (
	// DefaultHotKeysSample is the sampling of reads: one key read in
	// DefaultHotKeysSample, drawn at random, is recorded.
	DefaultHotKeysSample = 32
	// DefaultHotKeysSaveInterval is how often a cache saves its list of
	// hot keys to L2.
	DefaultHotKeysSaveInterval = time.Minute
	// DefaultHotKeysTTL is how long a saved list lives in L2.
	DefaultHotKeysTTL = 7 * 24 * time.Hour
)

const (
	// hotNamespace follows the cache's Name in the namespace of its list,
	// and hotListKey is the list's key there (see remote.hot).
	hotNamespace = "|hot"
	hotListKey   = "list"
	// hotKeysSlack times HotKeys is how many keys the cache counts: the
	// room that lets the most read ones stand out from the keys read once.
	hotKeysSlack = 4
	// hotKeysCloseTimeout bounds the save of Close.
	hotKeysCloseTimeout = time.Second
	// hotSampled is the probability that a read is recorded.
	hotSampled = 1.0 / DefaultHotKeysSample
)

// newHotKeys returns the counter of the n most read keys.
func newHotKeys(n int) *hotlist.Sketch {
	return hotlist.NewSketch(hotKeysSlack * min(n, math.MaxInt/hotKeysSlack))
}

// sampleRead records the read of the L1 key k, one time in
// DefaultHotKeysSample. Call it only when c.hot is set.
func (c *Cache[K, V]) sampleRead(k string) {
	if c.cfg.Rand() < hotSampled {
		c.hot.Add(k)
	}
}

// sampleReads records the reads of keys as sampleRead does; only the
// sampled keys are turned into strings.
func (c *Cache[K, V]) sampleReads(keys []K) {
	for _, key := range keys {
		if c.cfg.Rand() < hotSampled {
			if k := c.cfg.Key(key); len(k) <= MaxKeySize {
				c.hot.Add(k)
			}
		}
	}
}

// HotKeys returns the most read keys, the most read first: the list saved
// in L2 by the last instance of this Name that saved one (see
// SaveHotKeys), or, when L2 holds none (or has no list that decodes, or
// failed), this instance's own record (Options.HotKeys). It reads L2
// whatever Options.HotKeys says, so that an instance that does not record
// can still warm what others recorded. Keys that Options.ParseKey refuses
// are skipped and logged.
//
// It fails only when ctx ends, when the cache is closed, and without a
// ParseKey.
func (c *Cache[K, V]) HotKeys(ctx context.Context) ([]K, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if c.cfg.ParseKey == nil {
		var zero K
		return nil, fmt.Errorf("tiered: %s: hot keys: Options.ParseKey is needed for a custom Key or key type %T: %w",
			c.cfg.Name, zero, errors.ErrUnsupported)
	}
	var entries []hotlist.Entry
	if c.remote != nil {
		b, err := c.remote.getHotList(ctx)
		if err != nil {
			return nil, c.errCtx("hot keys", err)
		}
		if b != nil {
			if entries, err = hotlist.Decode(b, MaxKeySize); err != nil {
				c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: the saved list of hot keys does not decode; ignored",
					attrCache(c.cfg.Name), attrErr(err))
			}
		}
	}
	if len(entries) == 0 && c.hot != nil {
		entries = c.hot.Top(c.cfg.HotKeys)
	}
	keys := make([]K, 0, len(entries))
	var bad int
	var firstErr error
	for _, e := range entries {
		key, err := c.cfg.ParseKey(e.Key)
		if err != nil {
			if bad++; firstErr == nil {
				firstErr = fmt.Errorf("key %q: %w", e.Key, err)
			}
			continue
		}
		keys = append(keys, key)
	}
	if bad > 0 {
		c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: hot keys that ParseKey refused; skipped",
			attrCache(c.cfg.Name), attrKeys(bad), attrErr(firstErr))
	}
	return keys, nil
}

// WarmHot warms the keys of HotKeys, as Warm does.
func (c *Cache[K, V]) WarmHot(ctx context.Context, opts *WarmOptions) (WarmProgress, error) {
	keys, err := c.HotKeys(ctx)
	if err != nil {
		return WarmProgress{}, err
	}
	return c.Warm(ctx, slices.Values(keys), opts)
}

// SaveHotKeys writes this instance's list of its Options.HotKeys most read
// keys to L2 now, with their read counts, for DefaultHotKeysTTL. The cache
// does it every DefaultHotKeysSaveInterval and in Close too. The list has
// one place per Name, so the instances of a service replace each other's
// lists: the last writer wins, and each list is one instance's view of
// the reads. An instance that recorded nothing saves nothing.
//
// It returns an error wrapping errors.ErrUnsupported without HotKeys or
// without L2, ErrClosed after Close, and L2's error (or that L2 is being
// skipped after a failure, see Options.L2Cooldown).
func (c *Cache[K, V]) SaveHotKeys(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.saveHotKeys(ctx)
}

func (c *Cache[K, V]) saveHotKeys(ctx context.Context) error {
	if c.hot == nil || c.remote == nil {
		return fmt.Errorf("tiered: %s: save hot keys needs Options.HotKeys and an L2: %w", c.cfg.Name, errors.ErrUnsupported)
	}
	top := c.hot.Top(c.cfg.HotKeys)
	if len(top) == 0 {
		return nil
	}
	if err := c.remote.setHotList(ctx, hotlist.Encode(top), DefaultHotKeysTTL); err != nil {
		return fmt.Errorf("tiered: %s: save hot keys: %w", c.cfg.Name, err)
	}
	return nil
}

// saveHotKeysLoop saves the list of hot keys every
// DefaultHotKeysSaveInterval until Close, then once more, within
// hotKeysCloseTimeout. It runs in c.bg, started by New.
func (c *Cache[K, V]) saveHotKeysLoop() {
	defer c.bg.Done()
	tick := time.NewTicker(DefaultHotKeysSaveInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := c.saveHotKeys(c.lifetime); err != nil && c.lifetime.Err() == nil {
				c.logHotSave(err)
			}
		case <-c.lifetime.Done():
			ctx, cancel := context.WithTimeout(context.Background(), hotKeysCloseTimeout)
			if err := c.saveHotKeys(ctx); err != nil {
				c.logHotSave(err)
			}
			cancel()
			return
		}
	}
}

func (c *Cache[K, V]) logHotSave(err error) {
	c.cfg.Logger.LogAttrs(context.Background(), slogWarn, "tiercache: could not save the list of hot keys",
		attrCache(c.cfg.Name), attrErr(err))
}
