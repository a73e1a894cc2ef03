package redisbus

import (
	"cmp"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults of [Options].
const (
	// DefaultPrefix starts the channel names: namespace ns is published on
	// DefaultPrefix + ns.
	DefaultPrefix = "tc:inv:"
	// DefaultMaxBatch is how many keys one message may carry when the bus
	// merges messages published faster than it can send them.
	DefaultMaxBatch = 1000
	// DefaultMaxPending is how many keys may wait for a Redis that is down
	// before the bus replaces them with a flush of the namespace.
	DefaultMaxPending = 100_000
	// DefaultHealthCheck is how long a subscription may stay silent before
	// the bus pings its connection (and, without an answer after as long
	// again, replaces it).
	DefaultHealthCheck = 3 * time.Second
	// DefaultRetryBackoff is the longest wait between two attempts to
	// resubscribe or to send a message that failed.
	DefaultRetryBackoff = time.Second
)

// Options configures a [Bus]. The zero value of every field is valid.
type Options struct {
	// ID identifies this instance in the messages it publishes; receivers
	// skip their own messages by it. It must be unique among the instances
	// that share the Redis. Default: 26 random characters.
	ID string
	// Prefix starts every channel name. Default DefaultPrefix.
	Prefix string
	// MaxBatch is the most keys the bus merges into one message when
	// messages of a namespace are published faster than one round trip;
	// 1 turns merging off (every Publish is its own message, sent one at a
	// time). A single message with more keys is sent as it is. Default
	// DefaultMaxBatch.
	MaxBatch int
	// MaxPending bounds the keys waiting to be sent again while Redis
	// fails; beyond it they become one flush of the namespace. Default
	// DefaultMaxPending.
	MaxPending int
	// HealthCheck: see DefaultHealthCheck. Default DefaultHealthCheck.
	HealthCheck time.Duration
	// RetryBackoff caps the exponential backoff between retries (it starts
	// at 10 ms). Default DefaultRetryBackoff.
	RetryBackoff time.Duration
	// Logger receives lost and restored subscriptions and failed
	// publishes. Default: discards.
	Logger *slog.Logger
}

func (o *Options) config() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.MaxBatch < 0 || c.MaxPending < 0 || c.HealthCheck < 0 || c.RetryBackoff < 0 {
		return c, fmt.Errorf("redisbus: MaxBatch, MaxPending, HealthCheck and RetryBackoff must not be negative")
	}
	if strings.ContainsAny(c.ID, " \n") || len(c.ID) > 128 {
		return c, fmt.Errorf("redisbus: ID must be at most 128 characters without spaces, got %q", c.ID)
	}
	c.Prefix = cmp.Or(c.Prefix, DefaultPrefix)
	c.MaxBatch = cmp.Or(c.MaxBatch, DefaultMaxBatch)
	c.MaxPending = cmp.Or(c.MaxPending, DefaultMaxPending)
	c.HealthCheck = cmp.Or(c.HealthCheck, DefaultHealthCheck)
	c.RetryBackoff = cmp.Or(c.RetryBackoff, DefaultRetryBackoff)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
