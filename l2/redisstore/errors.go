package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
)

// wrap is where every backend error of the Store passes: it adds the
// package and the operation, and translates a closed client to
// l2.ErrClosed (keeping redis.ErrClosed in the chain).
//
// When the error says that a node may be gone or has changed role (see
// nodeChanged), wrap also asks a Cluster client to reload its slot map.
// go-redis reloads it by itself only every ClusterStateReloadInterval (60 s
// by default) and on MOVED, and a dial error does not trigger a reload:
// after a master dies, commands for its slots would go on failing against
// its address for up to a minute, although a replica took over within
// seconds. ReloadState is lazy (it runs in the background) and go-redis
// rate-limits it, so calling it on every such error is cheap.
func (s *Store) wrap(ctx context.Context, op string, err error) error {
	if s.reload != nil && nodeChanged(ctx, err) {
		s.reload(ctx)
	}
	if errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("redisstore: %s: %w: %w", op, l2.ErrClosed, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// nodeChanged reports whether err, the error of a command sent with ctx,
// says that the node that should have served it may be gone or may no
// longer serve its slots: a transport error (the connection failed, was
// refused, reset or closed, or no connection came free in time), or one of
// the replies CLUSTERDOWN, MASTERDOWN, READONLY, LOADING and TRYAGAIN. Not
// when ctx is done (the caller's deadline or cancellation, whatever error
// it caused), nor for other replies (WRONGTYPE, script errors, NOSCRIPT,
// which Store.send handles), nor for redis.Nil or a closed client.
func nodeChanged(ctx context.Context, err error) bool {
	switch {
	case err == nil, errors.Is(err, redis.Nil), errors.Is(err, redis.ErrClosed):
		return false
	case ctx.Err() != nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		// The node answered; these answers say it cannot serve its slots.
		return redis.IsClusterDownError(reply) || redis.IsMasterDownError(reply) ||
			redis.IsReadOnlyError(reply) || redis.IsLoadingError(reply) || redis.IsTryAgainError(reply)
	}
	var nerr net.Error
	return errors.As(err, &nerr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, redis.ErrPoolTimeout)
}
