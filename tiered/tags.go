package tiered

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// invalidateBatch is how many keys InvalidateTags and InvalidatePrefix take
// from L2 at a time (and the retry of unsettled keys writes at a time):
// each batch is removed from L2 and L1 and published as one message.
const invalidateBatch = 1000

// InvalidateTags removes every value written with one of tags (by
// SetTagged, or through Options.Tags) from L2, from this instance's L1 and,
// through the Bus, from every other instance's L1.
//
// The tag index in L2 is taken apart atomically, a batch at a time, and
// each batch is deleted like Delete deletes (tombstones included), so a
// value tagged while InvalidateTags runs either goes with it or stays
// indexed for the next call; an index outlives every entry it lists.
//
// A load that read the source before the change, in any instance, may
// index and store its value after the index was taken apart. So
// InvalidateTags runs a second pass over the same tags LoadTimeout later,
// in the background, when every such load has ended (Close cancels it):
// such a value lives at most LoadTimeout.
//
// It needs an L2 store that keeps tag indexes (l2.Tagger): without one it
// returns an error that wraps errors.ErrUnsupported.
func (c *Cache[K, V]) InvalidateTags(ctx context.Context, tags ...string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.remote == nil || c.remote.tagger == nil {
		return c.errNoTags()
	}
	if len(tags) == 0 {
		return nil
	}
	err := c.invalidateTags(ctx, tags)
	c.passLater(slices.Clone(tags))
	return err
}

// passLater runs invalidateTags over tags again once LoadTimeout has
// passed, unless the cache closes first.
func (c *Cache[K, V]) passLater(tags []string) {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closing { // closing: Close may be waiting already
		return
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		t := time.NewTimer(c.cfg.LoadTimeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.lifetime.Done():
			return
		}
		ctx, cancel := context.WithTimeout(c.lifetime, c.cfg.LoadTimeout)
		defer cancel()
		if err := c.invalidateTags(ctx, tags); err != nil && c.lifetime.Err() == nil {
			c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: second pass of InvalidateTags failed",
				attrCache(c.cfg.Name), attrErr(err))
		}
	}()
}

// invalidateTags takes the indexes of tags apart and deletes their keys.
func (c *Cache[K, V]) invalidateTags(ctx context.Context, tags []string) error {
	for _, tag := range tags {
		for {
			keys, err := c.remote.popTagged(ctx, tag, invalidateBatch)
			if err != nil {
				return fmt.Errorf("tiered: %s: invalidate tag %q: %w", c.cfg.Name, tag, err)
			}
			if len(keys) == 0 {
				break
			}
			l2err, puberr := c.apply(ctx, "invalidate tags", deletes[V](keys), nil)
			if l2err != nil {
				// The keys left the index but maybe not L2 (they are
				// unsettled, and retried): list them again for the next
				// call, for as long as an entry lives in L2.
				if err := c.remote.tag(ctx, []string{tag}, keys, c.l2TTL(c.cfg.TTL)); err != nil {
					c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: cannot put keys back into their tag index",
						attrCache(c.cfg.Name), attrTag(tag), attrErr(err))
				}
			}
			if err := errors.Join(l2err, puberr); err != nil {
				return err
			}
			if len(keys) < invalidateBatch {
				break
			}
		}
	}
	return nil
}
