package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
)

// wrap is where every backend error of the Store passes: it adds the
// package and the operation, translates a closed client to l2.ErrClosed
// (keeping redis.ErrClosed in the chain), and marks the errors that
// concern the command's keys and not the store (see keyFault) with
// l2.ErrKeyFault (keeping the reply in the chain).
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
	switch {
	case errors.Is(err, redis.ErrClosed):
		return fmt.Errorf("redisstore: %s: %w: %w", op, l2.ErrClosed, err)
	case keyFault(err):
		return fmt.Errorf("redisstore: %s: %w: %w", op, l2.ErrKeyFault, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// keyFault reports whether err, the error of one command, concerns the
// command's keys and not the store (see l2.ErrKeyFault): a reply of the
// server, not a failure to reach it, that says
//
//   - WRONGTYPE: a key holds a hash, a list or another type where the
//     store keeps a string or a set, whether the command itself answered
//     it or a command that a Lua script called ("WRONGTYPE ... script:
//     ..." from Redis 7 on, "ERR Error running script ... WRONGTYPE ..."
//     before);
//   - a Lua error raised while a script ran ("ERR user_script:..." from
//     Redis 7 on, "ERR Error running script ..." before), unless it names
//     a reply that concerns the node (READONLY, OOM...);
//   - TRYAGAIN: a command on several keys of a slot that is being
//     migrated, some of which have moved;
//   - ASK or MOVED, which go-redis follows: it returns one only when the
//     slot moved again in the meantime, during a migration.
//
// Transport errors, timeouts, a closed client, a caller's context, and the
// other replies (CLUSTERDOWN, READONLY, LOADING, OOM, NOPERM, NOSCRIPT...)
// are not key faults.
func keyFault(err error) bool {
	var reply redis.Error
	if err == nil || errors.Is(err, redis.Nil) || !errors.As(err, &reply) {
		return false
	}
	if isWrongType(reply) || redis.IsTryAgainError(reply) {
		return true
	}
	if _, ok := redis.IsAskError(reply); ok {
		return true
	}
	if _, ok := redis.IsMovedError(reply); ok {
		return true
	}
	msg := reply.Error()
	if !strings.HasPrefix(msg, "ERR user_script:") && !strings.HasPrefix(msg, "ERR Error running script") {
		return false
	}
	// The error of a command that the script called, as Redis 6 words it.
	for _, code := range [...]string{"READONLY", "OOM", "NOPERM", "BUSY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "NOREPLICAS", "MISCONF"} {
		if strings.Contains(msg, code+" ") {
			return false
		}
	}
	return true
}

// isWrongType reports whether err is a WRONGTYPE reply, from the command
// itself or from a command that a script called: the key holds nothing the
// store wrote, and the store deletes it (see batch.fail).
func isWrongType(err error) bool {
	var reply redis.Error
	return errors.As(err, &reply) && strings.Contains(reply.Error(), "WRONGTYPE")
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
