package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// reply is a Redis error reply, as go-redis returns them.
type reply string

func (r reply) Error() string { return string(r) }
func (reply) RedisError()     {}

func TestNodeChanged(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"Nil", nil, false},
		{"RedisNil", redis.Nil, false},
		{"ClientClosed", redis.ErrClosed, false},
		{"Canceled", context.Canceled, false},
		{"DeadlineExceeded", context.DeadlineExceeded, false},
		{"WrappedDeadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), false},
		{"WrongType", reply("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"ScriptError", reply("ERR user_script:1: Script attempted to access nonexistent global variable"), false},
		{"NoScript", redis.ErrNoScript, false},
		{"CrossSlot", redis.ErrCrossSlot, false},
		{"Moved", reply("MOVED 3999 127.0.0.1:6381"), false}, // go-redis follows and reloads itself
		{"Other", errors.New("redisstore: something"), false},

		{"ClusterDown", reply("CLUSTERDOWN The cluster is down"), true},
		{"MasterDown", reply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), true},
		{"ReadOnly", reply("READONLY You can't write against a read only replica."), true},
		{"Loading", reply("LOADING Redis is loading the dataset in memory"), true},
		{"TryAgain", reply("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{"WrappedReply", fmt.Errorf("pipeline: %w", reply("CLUSTERDOWN Hash slot not served")), true},
		{"ConnectionRefused", refused, true},
		{"ConnectionReset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"BareRefused", syscall.ECONNREFUSED, true},
		{"BareReset", syscall.ECONNRESET, true},
		{"EOF", io.EOF, true},
		{"UnexpectedEOF", io.ErrUnexpectedEOF, true},
		{"WrappedEOF", fmt.Errorf("reading the reply: %w", io.EOF), true},
		{"PoolTimeout", redis.ErrPoolTimeout, true},
		{"NetTimeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
	}
	for _, tc := range tests {
		if got := nodeChanged(context.Background(), tc.err); got != tc.want {
			t.Errorf("%s: nodeChanged(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}

	// Once the caller's context is done, nothing is the node's fault.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range []error{refused, io.EOF, reply("CLUSTERDOWN The cluster is down")} {
		if nodeChanged(ctx, err) {
			t.Errorf("nodeChanged(canceled context, %v) = true, want false", err)
		}
	}
}
