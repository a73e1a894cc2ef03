package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
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

// TestKeyFault runs keyFault on the errors go-redis returns: the replies
// below, as a server sends them (miniredis's SetError answers every
// command with one, which go-redis parses into its typed errors), and
// errors that are no reply. wrap must add l2.ErrKeyFault to the key faults
// alone, and keep the operation and the go-redis error.
func TestKeyFault(t *testing.T) {
	t.Parallel()
	replies := []struct {
		name string
		msg  string
		want bool
	}{
		{"WrongType", "WRONGTYPE Operation against a key holding the wrong kind of value", true},
		// Redis 7 passes on the error of a command a script called.
		{"ScriptWrongType", "WRONGTYPE Operation against a key holding the wrong kind of value script: d1ad8397c172dc0a63e271f0c4c4250ca8d5d1fb, on @user_script:1.", true},
		{"Redis6ScriptWrongType", "ERR Error running script (call to f_d1ad8397c172dc0a63e271f0c4c4250ca8d5d1fb): @user_script:1: WRONGTYPE Operation against a key holding the wrong kind of value", true},
		{"MiniredisScriptWrongType", "ERR Error compiling script (new function): :2: WRONGTYPE Operation against a key holding the wrong kind of value stack traceback:", true},
		{"ScriptRuntimeError", "ERR user_script:1: bad argument #1 to 'sub' (string expected, got nil) script: 9c70f3592cc883e654ce3d75b5a01dc0a2df7885, on @user_script:1.", true},
		{"Redis6ScriptRuntimeError", "ERR Error running script (call to f_9c70f3592cc883e654ce3d75b5a01dc0a2df7885): @user_script:1: user_script:1: bad argument #1 to 'sub'", true},
		{"TryAgain", "TRYAGAIN Multiple keys request during rehashing of slot", true},
		{"Ask", "ASK 3999 127.0.0.1:6381", true},
		{"Moved", "MOVED 3999 127.0.0.1:6381", true},

		{"ClusterDown", "CLUSTERDOWN The cluster is down", false},
		{"SlotNotServed", "CLUSTERDOWN Hash slot not served", false},
		{"ReadOnly", "READONLY You can't write against a read only replica.", false},
		{"Redis6ScriptReadOnly", "ERR Error running script (call to f_8b8d1c4e): @user_script:3: -READONLY You can't write against a read only replica.", false},
		{"Redis6ScriptOOM", "ERR Error running script (call to f_8b8d1c4e): @user_script:3: -OOM command not allowed when used memory > 'maxmemory'.", false},
		{"ScriptOOM", "OOM command not allowed when used memory > 'maxmemory'. script: 8b8d1c4e, on @user_script:3.", false},
		{"Loading", "LOADING Redis is loading the dataset in memory", false},
		{"MasterDown", "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", false},
		{"Busy", "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", false},
		{"NoPerm", "NOPERM this user has no permissions to run the 'hset' command", false},
		{"NoScript", "NOSCRIPT No matching script. Please use EVAL.", false},
		{"CrossSlot", "CROSSSLOT Keys in request don't hash to the same slot", false},
		{"WrongArgs", "ERR wrong number of arguments for 'get' command", false},
	}
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	defer func() { _ = client.Close() }()
	s := New(client, nil)
	ctx := t.Context()
	if err := client.Ping(ctx).Err(); err != nil { // connect before the errors
		t.Fatal(err)
	}
	check := func(name string, err error, want bool) {
		t.Helper()
		for _, e := range []error{err, fmt.Errorf("pipeline: %w", err)} {
			if got := keyFault(e); got != want {
				t.Errorf("%s: keyFault(%v) = %v, want %v", name, e, got, want)
			}
		}
		w := s.wrap(ctx, "get", err)
		if errors.Is(w, l2.ErrKeyFault) != want || !errors.Is(w, err) || !strings.HasPrefix(w.Error(), "redisstore: get: ") {
			t.Errorf("%s: wrap = %v; want the operation, %v, and ErrKeyFault %v", name, w, err, want)
		}
	}
	for _, tc := range replies {
		m.SetError(tc.msg)
		err := client.Get(ctx, "k").Err()
		var reply redis.Error
		if !errors.As(err, &reply) || err.Error() != tc.msg {
			t.Fatalf("%s: GET = %#v, want the reply %q", tc.name, err, tc.msg)
		}
		check(tc.name, err, tc.want)
	}
	m.SetError("")

	miss := client.Get(ctx, "absent").Err()
	if !errors.Is(miss, redis.Nil) {
		t.Fatalf("GET absent = %v, want redis.Nil", miss)
	}
	others := []struct {
		name string
		err  error
	}{
		{"RedisNil", miss},
		{"ClientClosed", redis.ErrClosed},
		{"Canceled", context.Canceled},
		{"DeadlineExceeded", context.DeadlineExceeded},
		{"ConnectionRefused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
		{"ConnectionReset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}},
		{"NetTimeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}},
		{"EOF", io.EOF},
		{"PoolTimeout", redis.ErrPoolTimeout},
		{"NoScriptValue", redis.ErrNoScript},
		{"CrossSlotValue", redis.ErrCrossSlot},
		{"Other", errors.New("redisstore: something")},
	}
	for _, tc := range others {
		check(tc.name, tc.err, false)
	}
	if keyFault(nil) {
		t.Error("keyFault(nil) = true")
	}
}
