package tiered

import (
	"context"
	"errors"
	"fmt"

	"github.com/tiercache/tiercache/invalidate"
)

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
	if c.remote == nil || c.remote.prefix == nil {
		return c.errNoPrefix()
	}
	err := c.remote.deletePrefix(ctx, prefix, invalidateBatch, func(keys []string) error {
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
	switch {
	case c.remote != nil && c.remote.prefix != nil:
		err = c.remote.deletePrefix(ctx, "", invalidateBatch, func([]string) error { return nil })
		if err != nil {
			err = fmt.Errorf("tiered: %s: flush: %w", c.cfg.Name, err)
		}
	case c.remote != nil:
		err = c.errNoPrefix()
	}
	c.flushL1()
	return errors.Join(err, c.publish(ctx, &invalidate.Message{Flush: true}))
}

func (c *Cache[K, V]) errNoPrefix() error {
	return fmt.Errorf("tiered: %s: the L2 store cannot delete by prefix (l2.PrefixDeleter): %w",
		c.cfg.Name, errors.ErrUnsupported)
}
