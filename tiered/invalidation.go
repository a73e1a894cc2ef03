package tiered

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tiercache/tiercache/invalidate"
)

// invalidateBatch is how many keys InvalidateTags and InvalidatePrefix take
// from L2 at a time: each batch is removed from L2 and L1 and published as
// one message.
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
	if c.tagger == nil {
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
	c.passes.Add(1)
	go func() {
		defer c.passes.Done()
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
		index := tag
		if c.l2prefix != "" {
			index = c.l2Key(tag)
		}
		for {
			keys, err := c.tagger.PopTagged(ctx, index, invalidateBatch)
			if err != nil {
				c.l2Failed("pop tagged", err)
				return fmt.Errorf("tiered: %s: invalidate tag %q: %w", c.cfg.Name, tag, err)
			}
			if len(keys) == 0 {
				break
			}
			for i, k := range keys {
				keys[i] = c.l1Key(k)
			}
			l2err, puberr := c.delete(ctx, keys)
			if l2err != nil {
				// The keys left the index but maybe not L2: list them
				// again, so that the next call finds them.
				if err := c.tag(ctx, []string{tag}, keys, c.cfg.TTL); err != nil {
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

// InvalidatePrefix removes every key that starts with prefix (in the form
// Options.Key gives) from L2 (a SCAN of every master, UNLINK in batches),
// from this instance's L1 and from every other instance's L1. Keys written
// while it runs may survive it. It needs an L2 store that can delete by
// prefix (l2.PrefixDeleter): without one it returns an error that wraps
// errors.ErrUnsupported. An empty prefix flushes the namespace (see Flush).
func (c *Cache[K, V]) InvalidatePrefix(ctx context.Context, prefix string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if prefix == "" {
		return c.Flush(ctx)
	}
	if c.prefixes == nil {
		return c.errNoPrefix()
	}
	err := c.prefixes.DeletePrefix(ctx, c.l2Key(prefix), invalidateBatch, func(keys []string) error {
		for i, k := range keys {
			keys[i] = c.l1Key(k)
		}
		c.dropL1(keys)
		return c.publish(ctx, &invalidate.Message{Keys: keys})
	})
	if err != nil {
		return fmt.Errorf("tiered: %s: invalidate prefix %q: %w", c.cfg.Name, prefix, err)
	}
	return nil
}

// Flush empties the namespace: every key of the cache leaves L2 (when the
// store can delete by prefix), this instance's L1 and every other
// instance's L1. Without L2, or with a store that cannot delete by prefix,
// only the L1s are flushed and the error wraps errors.ErrUnsupported.
func (c *Cache[K, V]) Flush(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	var err error
	if c.prefixes != nil {
		// Every key of a namespaced view, or the keys under "<Name>:".
		err = c.prefixes.DeletePrefix(ctx, c.l2Key(""), invalidateBatch, func([]string) error { return nil })
		if err != nil {
			err = fmt.Errorf("tiered: %s: flush: %w", c.cfg.Name, err)
		}
	} else if c.cfg.L2 != nil {
		err = c.errNoPrefix()
	}
	c.flushL1()
	return errors.Join(err, c.publish(ctx, &invalidate.Message{Flush: true}))
}

func (c *Cache[K, V]) errNoPrefix() error {
	return fmt.Errorf("tiered: %s: the L2 store cannot delete by prefix (l2.PrefixDeleter): %w",
		c.cfg.Name, errors.ErrUnsupported)
}
