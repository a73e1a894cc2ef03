package tiered

import (
	"context"
	"fmt"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/tiered/stats"
)

// publish tells the other instances about m (keys to drop, unsettled keys,
// leases that ended). It returns nil without a Bus. A write publishes after
// it released its key locks: a message only says "look again", so two
// messages of one key in either order mean the same.
func (c *Cache[K, V]) publish(ctx context.Context, m *invalidate.Message) error {
	if c.cfg.Bus == nil {
		return nil
	}
	m.Namespace = c.cfg.Name
	if err := c.cfg.Bus.Publish(ctx, m); err != nil {
		c.stats.Add(stats.PublishError, 1)
		return fmt.Errorf("tiered: %s: publish invalidation: %w", c.cfg.Name, err)
	}
	c.stats.Add(stats.Published, 1)
	return nil
}
