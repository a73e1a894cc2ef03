package kafkasource

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

const (
	// DefaultMaxBatch is how many records one Engine.Apply takes at most.
	DefaultMaxBatch = 1000
	// DefaultRetryBackoff is the wait before a batch whose Apply failed is
	// applied again; it doubles at each failure, up to
	// DefaultMaxRetryBackoff.
	DefaultRetryBackoff = 100 * time.Millisecond
	// DefaultMaxRetryBackoff bounds the wait between two Applies of a
	// batch.
	DefaultMaxRetryBackoff = 10 * time.Second
)

// commitTimeout bounds a commit of offsets. A commit runs even after Run's
// context ended, when the batch was applied: redelivering applied records
// would do no harm, but there is no reason to.
const commitTimeout = 10 * time.Second

// leaveTimeout bounds the leave of the group when Run ends: a leave that
// waits longer (a broker that does not answer, a rebalance that does not
// end) is abandoned, and the group drops the member after its session
// timeout instead, as after a crash.
const leaveTimeout = 5 * time.Second

// Options configures a [Source]. Brokers, Group, Engine and one of Topics
// and TopicRegex are required.
type Options struct {
	// Brokers are the seed brokers, "host:port".
	Brokers []string
	// Group is the consumer group. Sources of one group share the topics'
	// partitions; a partition's offset is committed for the group once
	// its records were applied.
	Group string
	// Topics are the Debezium topics to read, one per table
	// ("prefix.schema.table", such as "dbserver1.public.users").
	Topics []string
	// TopicRegex, instead of Topics, is a regular expression of the topics
	// to read, matched anywhere in a topic's name (anchor it:
	// `^dbserver1\.public\.`). Topics created later that match are read
	// too, once the client's metadata sees them.
	TopicRegex string

	// Engine applies the changes. Required.
	Engine *cdc.Engine
	// MaxBatch is how many records one Engine.Apply takes at most: the
	// Source polls up to MaxBatch records, decodes and applies them, then
	// commits exactly those records. Default DefaultMaxBatch.
	MaxBatch int
	// RetryBackoff is the first wait before a batch whose Apply failed is
	// applied again; the wait doubles at each failure up to
	// MaxRetryBackoff. Default DefaultRetryBackoff.
	RetryBackoff time.Duration
	// MaxRetryBackoff bounds the wait between two Applies of a batch.
	// Default DefaultMaxRetryBackoff.
	MaxRetryBackoff time.Duration

	// ClientOptions are more franz-go options: TLS (kgo.DialTLSConfig),
	// SASL (kgo.SASL), timeouts (kgo.SessionTimeout), a balancer, where a
	// group without commits starts (kgo.ConsumeStartOffset; default: the
	// start of each partition), kgo.WithLogger. The Source adds its own
	// after them, so these cannot be changed here: the brokers, group and
	// topics above, kgo.DisableAutoCommit, kgo.BlockRebalanceOnPoll and the
	// OnPartitionsAssigned, OnPartitionsRevoked, OnPartitionsLost and
	// OnPartitionsCallbackBlocked callbacks.
	ClientOptions []kgo.Opt

	// Logger receives failures (of Apply, of commits, of fetches) and
	// rebalances. Default: discards.
	Logger *slog.Logger
}

// config returns a validated copy of o with its defaults filled in.
func (o *Options) config() (Options, error) {
	if o == nil {
		return Options{}, errors.New("kafkasource: nil Options")
	}
	cfg := *o
	cfg.Brokers = slices.Clone(o.Brokers)
	cfg.Topics = slices.Clone(o.Topics)
	cfg.ClientOptions = slices.Clone(o.ClientOptions)
	switch {
	case cfg.Engine == nil:
		return cfg, errors.New("kafkasource: no Engine")
	case len(cfg.Brokers) == 0:
		return cfg, errors.New("kafkasource: no Brokers")
	case cfg.Group == "":
		return cfg, errors.New("kafkasource: no Group")
	case len(cfg.Topics) == 0 && cfg.TopicRegex == "":
		return cfg, errors.New("kafkasource: no Topics nor TopicRegex")
	case len(cfg.Topics) > 0 && cfg.TopicRegex != "":
		return cfg, errors.New("kafkasource: both Topics and TopicRegex")
	case slices.Contains(cfg.Topics, ""):
		return cfg, errors.New("kafkasource: an empty topic in Topics")
	case cfg.MaxBatch < 0:
		return cfg, fmt.Errorf("kafkasource: MaxBatch must not be negative, got %d", cfg.MaxBatch)
	case cfg.RetryBackoff < 0 || cfg.MaxRetryBackoff < 0:
		return cfg, fmt.Errorf("kafkasource: negative RetryBackoff (%v) or MaxRetryBackoff (%v)", cfg.RetryBackoff, cfg.MaxRetryBackoff)
	}
	if cfg.TopicRegex != "" {
		if _, err := regexp.Compile(cfg.TopicRegex); err != nil {
			return cfg, fmt.Errorf("kafkasource: TopicRegex: %w", err)
		}
	}
	cfg.MaxBatch = cmp.Or(cfg.MaxBatch, DefaultMaxBatch)
	cfg.RetryBackoff = cmp.Or(cfg.RetryBackoff, DefaultRetryBackoff)
	cfg.MaxRetryBackoff = max(cmp.Or(cfg.MaxRetryBackoff, DefaultMaxRetryBackoff), cfg.RetryBackoff)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}
