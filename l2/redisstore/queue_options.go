package redisstore

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of [QueueOptions].
const (
	// DefaultQueueShards is the number of streams a queue spreads its
	// entries over.
	DefaultQueueShards = 16
	// DefaultClaimAfter is how long an entry handed out by Read may go
	// unacknowledged before Read hands it out again, to any reader.
	DefaultClaimAfter = 30 * time.Second
	// DefaultQueueGroup is the consumer group of a queue's readers.
	DefaultQueueGroup = "tiercache"
)

// maxQueueShards bounds QueueOptions.Shards: Depth sends two commands per
// shard.
const maxQueueShards = 1024

// QueueOptions configures a [Queue]. Namespace and Consumer are required;
// the zero value of every other field is valid and documented. Every
// instance that shares a namespace's queue must use the same Prefix,
// Shards and Group.
type QueueOptions struct {
	// Namespace names the queue: the tiered cache's Name. 1-64 characters
	// from [A-Za-z0-9_.-]. Required.
	Namespace string

	// Consumer names this reader within the group: unique among the
	// instances that read the queue (a host name and process id, or a
	// random token). Redis keeps the entries handed out to a reader under
	// its name; a Queue made later with the same name continues with
	// them. Required.
	Consumer string

	// Prefix is put before the namespace in the Redis keys of the queue,
	// as [Options.Prefix] is before the keys of a Store; NewQueue appends
	// ':' to a Prefix that does not end with one. It must not contain '}'.
	// Default: DefaultPrefix, the Store's.
	Prefix string

	// Shards is the number of streams the namespace's entries are spread
	// over, by a hash of the key (CRC16 of the key modulo Shards), so that
	// on a Cluster they spread over the masters. A key always goes to the
	// same stream, which keeps its entries in order. At most 1024. Change
	// it only while the queue is empty: entries added under another value
	// sit in streams that readers no longer look at, or are acknowledged
	// in the wrong one. Default: DefaultQueueShards.
	Shards int

	// ClaimAfter is how long an entry handed out by Read may go
	// unacknowledged (its reader died, or keeps failing) before Read hands
	// it out again, to any reader (XAUTOCLAIM). A whole number of
	// milliseconds, rounded up; at least a millisecond. A reader looks for
	// such entries at most four times per ClaimAfter in each stream.
	// Default: DefaultClaimAfter.
	ClaimAfter time.Duration

	// Group is the Redis consumer group of the queue's readers. Default:
	// DefaultQueueGroup.
	Group string
}

// config returns o with its defaults applied and Prefix ending with ':',
// or the first problem found. It is the one place that checks the
// options.
func (o *QueueOptions) config() (QueueOptions, error) {
	if o == nil {
		return QueueOptions{}, errors.New("redisstore: NewQueue: nil options: Namespace and Consumer are required")
	}
	c := *o
	if err := checkNamespace(c.Namespace); err != nil {
		return c, err
	}
	if c.Consumer == "" {
		return c, errors.New("redisstore: NewQueue: Consumer is required")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if strings.Contains(c.Prefix, "}") {
		return c, fmt.Errorf("redisstore: NewQueue: Prefix %q contains '}'", c.Prefix)
	}
	if !strings.HasSuffix(c.Prefix, ":") {
		c.Prefix += ":"
	}
	switch {
	case c.Shards < 0 || c.Shards > maxQueueShards:
		return c, fmt.Errorf("redisstore: NewQueue: Shards must be 0 (default) to %d, got %d", maxQueueShards, c.Shards)
	case c.Shards == 0:
		c.Shards = DefaultQueueShards
	}
	switch {
	case c.ClaimAfter < 0:
		return c, fmt.Errorf("redisstore: NewQueue: ClaimAfter must not be negative, got %v", c.ClaimAfter)
	case c.ClaimAfter == 0:
		c.ClaimAfter = DefaultClaimAfter
	case c.ClaimAfter < time.Millisecond:
		return c, fmt.Errorf("redisstore: NewQueue: ClaimAfter is %v, under a millisecond", c.ClaimAfter)
	}
	if c.Group == "" {
		c.Group = DefaultQueueGroup
	}
	return c, nil
}

// checkNamespace checks a queue's namespace as the tiered cache checks its
// names: 1-64 characters from [A-Za-z0-9_.-].
func checkNamespace(ns string) error {
	if len(ns) == 0 || len(ns) > 64 {
		return fmt.Errorf("redisstore: NewQueue: Namespace must be 1-64 characters, got %q", ns)
	}
	for _, r := range ns {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '_', r == '.', r == '-':
		default:
			return fmt.Errorf("redisstore: NewQueue: Namespace %q has %q; use [A-Za-z0-9_.-]", ns, r)
		}
	}
	return nil
}
