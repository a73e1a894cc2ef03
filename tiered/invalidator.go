package tiered

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Invalidator removes keys, tags and prefixes of a namespace for a process
// that has no typed Cache of it: a CDC consumer, an admin tool, another
// service. Its Delete has exactly the guarantees of Cache.Delete, because
// it is the same code: tombstones (a load that read the old value cannot
// write it back), the keys' leases revoked, every instance's L1 emptied of
// the keys through the Bus, and a delete that L2 refused retried until it
// lands (and announced as unsettled meanwhile). Its InvalidateTags,
// InvalidatePrefix and Flush are those of Cache too. It has no L1 and
// does not subscribe to the namespace.
//
// Keys are given in the form the caches' Options.Key gives ("42" for the
// int64 42 by default).
type Invalidator struct {
	c *Cache[string, struct{}]
}

// InvalidatorOptions configures an [Invalidator]. Name, L2 and Bus are those
// of the namespace's caches; TTL, LoadTimeout, TombstoneTTL must match
// theirs too (the defaults match the caches' defaults).
type InvalidatorOptions struct {
	// Name is the namespace (the caches' Options.Name). Required.
	Name string
	// L2 is the caches' L2 store. Nil: only the L1s are invalidated.
	L2 l2.Store
	// Bus carries the invalidations to every instance's L1. Nil: L2 only.
	Bus invalidate.Bus
	// TTL is the longest time a value of the namespace lives in L2: the
	// caches' TTL, plus their stale-serving windows. It bounds how long a
	// tag index is kept when keys are put back into it, and how long a
	// refused delete is retried. Default DefaultTTL.
	TTL time.Duration
	// LoadTimeout is the caches' LoadTimeout: InvalidateTags runs its
	// second pass this long after the first. Default DefaultLoadTimeout.
	LoadTimeout time.Duration
	// TombstoneTTL is the caches' TombstoneTTL. Default: as for Options.
	TombstoneTTL time.Duration
	// MaxUnsettled: see Options.MaxUnsettled.
	MaxUnsettled int
	// Stats, Logger and Now: see Options.
	Stats  stats.Recorder
	Logger *slog.Logger
	Now    func() time.Time
}

// NewInvalidator returns an Invalidator of the namespace opts.Name.
func NewInvalidator(opts *InvalidatorOptions) (*Invalidator, error) {
	if opts == nil {
		return nil, fmt.Errorf("%w: nil InvalidatorOptions", ErrInvalidOptions)
	}
	c, err := newCache(&Options[string, struct{}]{
		Name: opts.Name, L1: nopL1{}, L2: opts.L2, Bus: opts.Bus,
		TTL: opts.TTL, LoadTimeout: opts.LoadTimeout, TombstoneTTL: opts.TombstoneTTL,
		MaxUnsettled: opts.MaxUnsettled, Stats: opts.Stats, Logger: opts.Logger, Now: opts.Now,
		Beta: -1, // no early refresh: TTL is the whole L2 lifetime
	}, false)
	if err != nil {
		return nil, err
	}
	return &Invalidator{c: c}, nil
}

// Delete removes the keys from L2 and from every instance's L1, as
// Cache.Delete does.
func (iv *Invalidator) Delete(ctx context.Context, keys ...string) error {
	return iv.c.Delete(ctx, keys...)
}

// InvalidateTags removes every value written with one of tags, as
// Cache.InvalidateTags does (second pass included).
func (iv *Invalidator) InvalidateTags(ctx context.Context, tags ...string) error {
	return iv.c.InvalidateTags(ctx, tags...)
}

// InvalidatePrefix removes every key that starts with prefix, as
// Cache.InvalidatePrefix does.
func (iv *Invalidator) InvalidatePrefix(ctx context.Context, prefix string) error {
	return iv.c.InvalidatePrefix(ctx, prefix)
}

// Flush empties the namespace, as Cache.Flush does.
func (iv *Invalidator) Flush(ctx context.Context) error { return iv.c.Flush(ctx) }

// Health reports the Invalidator's state (see Cache.Health).
func (iv *Invalidator) Health() Health { return iv.c.Health() }

// Close stops the Invalidator's background work (second passes of
// InvalidateTags, retries of refused deletes, after a last attempt). It is
// idempotent.
func (iv *Invalidator) Close() error { return iv.c.Close() }

// nopL1 is the L1 of an Invalidator: it holds nothing.
type nopL1 struct{}

func (nopL1) Get(string) (any, bool)                     { return nil, false }
func (nopL1) Set(string, any, int64, time.Duration) bool { return false }
func (nopL1) Wait()                                      {}
func (nopL1) Delete(string)                              {}
func (nopL1) Clear()                                     {}
func (nopL1) Close()                                     {}
