package rueidisstore

import (
	"context"

	"github.com/redis/rueidis"
)

// Publish sends payload on channel over the store's client: SPUBLISH
// when sharded, else PUBLISH. Its signature is that of the Publish option
// of invalidate/redisbus, so that an invalidation bus can send its
// messages on the connection that already carries the cache's commands
// (rueidis pipelines them together) instead of a round trip of its own:
//
//	bus, err := redisbus.New(rdb, &redisbus.Options{Publish: store.Publish})
//
// The channel is used as it is: the store's prefix and namespace do not
// apply to it. Publish copies payload before it returns.
func (s *Store) Publish(ctx context.Context, channel string, payload []byte, sharded bool) error {
	// A copy: rueidis may still hold the command when ctx ends, and the
	// caller reuses its buffer.
	msg := string(payload)
	var cmd rueidis.Completed
	if sharded {
		cmd = s.c.B().Spublish().Channel(channel).Message(msg).Build()
	} else {
		cmd = s.c.B().Publish().Channel(channel).Message(msg).Build()
	}
	return wrap("publish", s.c.Do(ctx, cmd).Error())
}
