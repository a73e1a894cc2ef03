package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/redisstore"
)

// replyError is an error reply of the server, as go-redis reads one.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// refuseSet answers every SET with err, as a server that refuses the
// write would (an ACL without +set, OOM under noeviction, a replica).
type refuseSet struct{ err error }

func (h refuseSet) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h refuseSet) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "set" {
			cmd.SetErr(h.err)
			return h.err
		}
		return next(ctx, cmd)
	}
}

func (h refuseSet) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestGetLease_RefusedWrite: a server that refuses GetLease's SET NX GET
// is read with GET instead: the value, or no value and no lease; any other
// error is returned.
func TestGetLease_RefusedWrite(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	for _, reply := range []string{
		"NOPERM User tiercache has no permissions to run the 'set' command",
		"OOM command not allowed when used memory > 'maxmemory'.",
		"READONLY You can't write against a read only replica.",
		"ERR syntax error",
	} {
		t.Run(reply[:4], func(t *testing.T) {
			ctx := t.Context()
			client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr(), Protocol: 2}))
			s := redisstore.New(client, &redisstore.Options{Prefix: "refused" + reply[:2], NoAutoPipeline: true})
			if err := s.Set(ctx, "v", []byte("value"), time.Minute); err != nil {
				t.Fatal(err)
			}
			client.AddHook(refuseSet{err: replyError(reply)})
			tok := l2.NewToken()
			if v, granted, err := s.GetLease(ctx, "v", tok, time.Minute); err != nil || string(v) != "value" || granted {
				t.Errorf("GetLease(v) = %q, %v, %v; want the value, not granted", v, granted, err)
			}
			if v, granted, err := s.GetLease(ctx, "absent", tok, time.Minute); err != nil || v != nil || granted {
				t.Errorf("GetLease(absent) = %q, %v, %v; want nil, not granted, no error", v, granted, err)
			}
		})
	}
	t.Run("OtherError", func(t *testing.T) {
		ctx := t.Context()
		client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr(), Protocol: 2}))
		s := redisstore.New(client, &redisstore.Options{Prefix: "other", NoAutoPipeline: true})
		down := errors.New("connection reset")
		client.AddHook(refuseSet{err: down})
		if _, granted, err := s.GetLease(ctx, "k", l2.NewToken(), time.Minute); !errors.Is(err, down) || granted {
			t.Errorf("GetLease = %v, granted %v; want the error", err, granted)
		}
	})
}
