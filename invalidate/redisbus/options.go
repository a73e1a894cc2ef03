package redisbus

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
)

// Defaults of [Options].
const (
	// DefaultPrefix starts the channel names: namespace ns is published on
	// DefaultPrefix + ns (see [Bus.Channel]).
	DefaultPrefix = "tc:inv:"
	// DefaultMaxMessageSize caps the payloads the bus sends and accepts,
	// 256 KiB: a few thousand keys.
	DefaultMaxMessageSize = 256 << 10
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

// Limits of [Options].
const (
	// minMaxMessageSize is the smallest MaxMessageSize: a message naming
	// one key of the longest a cache allows (1 KiB) always fits.
	minMaxMessageSize = 4 << 10
	// maxKeys bounds Options.Keys: each payload is checked against every
	// key.
	maxKeys = 4
	// minKeySize is the shortest key of Options.Keys.
	minKeySize = 16
	// maxScope bounds the length of Options.Scope.
	maxScope = 64
	// minLogLength and maxLogLength bound a positive Options.LogLength.
	minLogLength = 100
	maxLogLength = 1_000_000
)

// Options configures a [Bus]. The zero value of every field is valid.
type Options struct {
	// ID identifies this instance in the messages it publishes; receivers
	// skip their own messages by it. It must be unique among the instances
	// that share the Redis. Default: 26 random characters.
	ID string
	// Prefix starts every channel name. A Prefix that does not end with
	// ':' is given one ("tc:inv" becomes "tc:inv:"), so that the prefix and
	// the names after it never run into each other. Default DefaultPrefix.
	Prefix string
	// Scope names the application, when several share a Redis server: the
	// channel of namespace ns becomes Prefix + Scope + ":" + ns, so that
	// two applications with caches of the same name do not hear each
	// other. At most 64 characters, without ':' or white space, and not
	// "db" and digits (the form of the database part of a channel, see
	// [Bus.Channel]). Default "": no scope.
	Scope string
	// Keys, when not empty, authenticate the messages: the bus signs each
	// payload it publishes with Keys[0] (HMAC-SHA256 over the channel name
	// and the message, truncated to 16 bytes, appended to the message), and
	// accepts a payload signed with any of Keys, dropping every other
	// (reported as [invalidate.Rejected] to an [invalidate.Observer]). At
	// most 4 keys, each of at least 16 bytes (32 random bytes is right).
	//
	// Every instance that shares the channels needs the same keys. To
	// rotate without downtime, deploy [old, new] everywhere (signs with
	// old, accepts both), then [new, old], then [new]. The bus keeps its
	// own copy. Default: none, messages are neither signed nor checked.
	Keys [][]byte
	// MaxMessageSize caps the payloads of the bus, in bytes. The bus never
	// publishes a larger one: it splits a message that would be into
	// several (each with its own sequence number), and merges messages
	// only up to it. It drops a larger payload that it receives before
	// reading it ([invalidate.Rejected]; without Keys, also
	// Lost(Malformed), since it may have been an invalidation). All
	// instances should use the same cap. 0 means the default; otherwise at
	// least 4096. Default DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxBatch is the most keys the bus merges into one message when
	// messages of a namespace are published faster than one round trip;
	// 1 turns merging off (every Publish is its own message, sent one at a
	// time). Merging also stops at MaxMessageSize. A single message with
	// more keys is sent as it is (split only if larger than
	// MaxMessageSize). Default DefaultMaxBatch.
	MaxBatch int
	// MaxPending bounds the keys waiting to be sent again while Redis
	// fails; beyond it they become one flush of the namespace. Default
	// DefaultMaxPending.
	MaxPending int
	// LogLength, when positive, keeps the last LogLength messages of each
	// namespace (about that many: Redis trims in whole blocks) in a Redis
	// stream beside its channel (see [Bus.LogKey]), so that a subscription
	// that broke replays what it missed instead of making the handler drop
	// everything: the handler hears Lost(Suspended) and Lost(Resumed), and
	// the missed messages through Receive in between. The bus falls back
	// to Lost(Resubscribed) or Lost(Gap) when it cannot tell what it
	// missed: the log does not reach back far enough, the server that
	// holds it changed (a failover or a restart may have lost its last
	// entries), or a recent publisher is not in it (an instance that does
	// not log, during a rolling deploy).
	//
	// Each message then costs Redis a script (XADD and PUBLISH) instead of
	// a PUBLISH, about 6-9 µs more of its CPU, once whatever the number of
	// instances; 10,000 entries take about 0.7 MB. Every instance that
	// shares the channels should log. 0 means no log; otherwise at least
	// 100 and at most 1,000,000. Incompatible with Publish. Default 0.
	LogLength int
	// HealthCheck: see DefaultHealthCheck. Default DefaultHealthCheck.
	HealthCheck time.Duration
	// RetryBackoff caps the exponential backoff between retries (it starts
	// at 10 ms). Default DefaultRetryBackoff.
	RetryBackoff time.Duration
	// Logger receives lost and restored subscriptions and failed
	// publishes, and, at most once a minute per subscription (with the
	// count of those not logged), payloads dropped or undecodable.
	// Default: discards.
	Logger *slog.Logger
	// Publish, when set, sends every payload of the bus in place of its
	// client: PUBLISH channel payload, or SPUBLISH when sharded is true
	// (the bus's client is a *redis.ClusterClient, whose subscriptions
	// are sharded). It lets another client carry the messages: the
	// Publish method of l2/rueidisstore's Store puts them on the
	// pipelined connection that already carries the cache's commands,
	// which costs less than a round trip of the bus's own. Subscriptions
	// stay on the bus's client. payload is the bus's buffer: Publish
	// must not keep it after it returns. Default: the bus's client.
	Publish func(ctx context.Context, channel string, payload []byte, sharded bool) error
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
	if err := validScope(c.Scope); err != nil {
		return c, err
	}
	if len(c.Keys) > maxKeys {
		return c, fmt.Errorf("redisbus: at most %d Keys, got %d", maxKeys, len(c.Keys))
	}
	keys := make([][]byte, len(c.Keys))
	for i, k := range c.Keys {
		if len(k) < minKeySize {
			return c, fmt.Errorf("redisbus: Keys[%d] has %d bytes, want at least %d", i, len(k), minKeySize)
		}
		keys[i] = bytes.Clone(k)
	}
	c.Keys = keys
	if c.MaxMessageSize != 0 && c.MaxMessageSize < minMaxMessageSize {
		return c, fmt.Errorf("redisbus: MaxMessageSize must be 0 (the default) or at least %d, got %d", minMaxMessageSize, c.MaxMessageSize)
	}
	switch {
	case c.LogLength < 0 || c.LogLength > 0 && (c.LogLength < minLogLength || c.LogLength > maxLogLength):
		return c, fmt.Errorf("redisbus: LogLength must be 0 (no log) or between %d and %d, got %d", minLogLength, maxLogLength, c.LogLength)
	case c.LogLength > 0 && c.Publish != nil:
		return c, fmt.Errorf("redisbus: LogLength and Publish cannot be combined: a logged message is sent by a script on the bus's client")
	}
	c.MaxMessageSize = cmp.Or(c.MaxMessageSize, DefaultMaxMessageSize)
	c.Prefix = cmp.Or(c.Prefix, DefaultPrefix)
	if !strings.HasSuffix(c.Prefix, ":") {
		c.Prefix += ":"
	}
	c.MaxBatch = cmp.Or(c.MaxBatch, DefaultMaxBatch)
	c.MaxPending = cmp.Or(c.MaxPending, DefaultMaxPending)
	c.HealthCheck = cmp.Or(c.HealthCheck, DefaultHealthCheck)
	c.RetryBackoff = cmp.Or(c.RetryBackoff, DefaultRetryBackoff)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// validScope checks Options.Scope.
func validScope(scope string) error {
	switch {
	case len(scope) > maxScope:
		return fmt.Errorf("redisbus: Scope must be at most %d characters, got %d", maxScope, len(scope))
	case strings.ContainsFunc(scope, func(r rune) bool { return r == ':' || unicode.IsSpace(r) }):
		return fmt.Errorf("redisbus: Scope must hold no ':' and no white space, got %q", scope)
	case isDBPart(scope):
		return fmt.Errorf("redisbus: Scope %q has the form of a database number; choose another", scope)
	}
	return nil
}

// isDBPart reports whether s has the form "db" and digits, the part of a
// channel name that holds a database number.
func isDBPart(s string) bool {
	digits, ok := strings.CutPrefix(s, "db")
	return ok && digits != "" && strings.Trim(digits, "0123456789") == ""
}
