package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Source reads Debezium topics as a member of a Kafka consumer group and
// applies their changes through a cdc.Engine, committing a record's offset
// only once Engine.Apply returned nil for it. Make it with [New]; run it
// with [Source.Run].
type Source struct {
	cfg     Options
	running atomic.Bool
	// afterApply, when set (by tests), is called with each batch's records
	// after Apply returned nil for them and before they are committed.
	afterApply func([]*kgo.Record)
}

// New returns a Source of opts, or an error when an option is missing or
// invalid (ClientOptions included). It connects to nothing: Run does.
func New(opts *Options) (*Source, error) {
	cfg, err := opts.config()
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg}
	if err := kgo.ValidateOpts(s.clientOptions(nil)...); err != nil {
		return nil, fmt.Errorf("kafkasource: ClientOptions: %w", err)
	}
	return s, nil
}

// Run joins the group and applies the changes of the partitions it is
// given until ctx ends; then it leaves the group (waiting at most 5 s for
// the broker), closes its client and returns nil. It returns an error only when the client cannot be made or
// when Run is already running. Each poll of up to Options.MaxBatch records
// is decoded, applied (again and again, with backoff, until Apply returns
// nil) and committed before the next poll, and rebalances wait for the
// commit: a record is committed only after it was applied, and a record
// that was not committed is read again, by this Source or by the member
// that takes its partition. Records are applied at least once.
func (s *Source) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("kafkasource: Run called while running")
	}
	defer s.running.Store(false)
	// wanted receives a signal when a rebalance waits for the batch in
	// hand: a batch that cannot be applied is then given back.
	wanted := make(chan struct{}, 1)
	cl, err := kgo.NewClient(s.clientOptions(wanted)...)
	if err != nil {
		return fmt.Errorf("kafkasource: %w", err)
	}
	defer s.close(cl)
	for {
		drain(wanted)
		fetches := cl.PollRecords(ctx, s.cfg.MaxBatch)
		if ctx.Err() != nil {
			return nil // what was polled and not applied is read again
		}
		if fetches.IsClientClosed() {
			return errors.New("kafkasource: client closed")
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			s.cfg.Logger.Warn("tiercache: kafka fetch failed", "topic", topic, "partition", partition, "err", err)
		})
		if records := fetches.Records(); len(records) > 0 {
			s.batch(ctx, cl, records, wanted)
		}
		cl.AllowRebalance()
	}
}

// close leaves the group, once the last batch was committed or given back
// (AllowRebalance first, or the leave would wait for it), within
// leaveTimeout, and closes the client: Close alone waits for the leave
// however long it takes.
func (s *Source) close(cl *kgo.Client) {
	cl.AllowRebalance()
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	if err := cl.LeaveGroupContext(ctx); err != nil {
		s.cfg.Logger.Warn("tiercache: kafka group not left; the group drops the member after its session timeout", "err", err)
	}
	cl.Close()
}

// clientOptions returns the franz-go options of the Source's client: the
// caller's, then those the Source's guarantees rest on.
func (s *Source) clientOptions(wanted chan<- struct{}) []kgo.Opt {
	log := s.cfg.Logger
	opts := append(slices.Clone(s.cfg.ClientOptions),
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ConsumerGroup(s.cfg.Group),
		// Nothing is committed but what Run commits after Apply: not on
		// a timer, not on Close, not on a rebalance.
		kgo.DisableAutoCommit(),
		// Rebalances wait between batches, so that a batch is committed
		// by the member that owns its partitions.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) {
			if wanted != nil {
				signal(wanted)
			}
		}),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
			log.Info("tiercache: kafka partitions assigned", "partitions", assigned)
		}),
		// Revoked or lost partitions have nothing to commit: each batch
		// was committed, or given back, before the rebalance could run.
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
			log.Info("tiercache: kafka partitions revoked", "partitions", revoked)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			log.Warn("tiercache: kafka partitions lost", "partitions", lost)
		}),
	)
	if s.cfg.TopicRegex != "" {
		return append(opts, kgo.ConsumeTopics(s.cfg.TopicRegex), kgo.ConsumeRegex())
	}
	return append(opts, kgo.ConsumeTopics(s.cfg.Topics...))
}

// signal sends on c without waiting.
func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// drain empties c.
func drain(c <-chan struct{}) {
	select {
	case <-c:
	default:
	}
}
