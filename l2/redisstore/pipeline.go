package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// sender is what roundTrip gives its caller to queue commands on: the
// client, which sends a command at once, or a pipeline.
type sender interface {
	redis.Scripter
	Process(ctx context.Context, cmd redis.Cmder) error
}

// roundTrip sends n commands in one round trip per node: queue gets the
// client when n is 1, which sends the one command at once (a command, not
// a pipeline of one), and a pipeline otherwise, which roundTrip then
// executes (a Cluster client splits it per node and sends to the nodes in
// parallel). Each command carries its own reply and error. When n is 0
// nothing is sent and queue is not called.
func (s *Store) roundTrip(ctx context.Context, n int, queue func(sender)) {
	switch n {
	case 0:
	case 1:
		queue(s.client)
	default:
		pipe := s.client.Pipeline()
		queue(pipe)
		_, _ = pipe.Exec(ctx)
	}
}

// exec sends cmds in one round trip per node (see roundTrip).
func exec[C redis.Cmder](ctx context.Context, s *Store, cmds []C) {
	s.roundTrip(ctx, len(cmds), func(snd sender) {
		for _, cmd := range cmds {
			_ = snd.Process(ctx, cmd)
		}
	})
}

// sendGrouped sends one command per group of rkeys (see Store.groups), made
// by newCmd with the name and the keys of its group, in one round trip per
// node, and returns the commands in the order of groups.
func sendGrouped[C redis.Cmder](ctx context.Context, s *Store, newCmd func(context.Context, ...any) C,
	name string, rkeys []string, groups [][]int) []C {
	cmds := make([]C, len(groups))
	for g, idx := range groups {
		cmds[g] = newCmd(ctx, commandArgs(name, rkeys, idx)...)
	}
	exec(ctx, s, cmds)
	return cmds
}

// commandArgs returns the arguments of a multi-key command over the keys of
// rkeys at the indexes idx.
func commandArgs(name string, rkeys []string, idx []int) []any {
	args := make([]any, 1+len(idx))
	args[0] = name
	for j, i := range idx {
		args[1+j] = rkeys[i]
	}
	return args
}

// call is one command of a batch that [Store.send] sends: a plain command,
// or a call of a Lua script.
type call struct {
	// cmd is the plain command. For a script call, send sets it to the
	// EVALSHA it sent, or to the EVAL that replaced it: a *redis.Cmd.
	cmd    redis.Cmder
	script *redis.Script // nil for a plain command
	keys   []string
	args   []any
}

// scriptCall returns a call of script with keys and args.
func scriptCall(script *redis.Script, keys []string, args ...any) call {
	return call{script: script, keys: keys, args: args}
}

// reply returns the reply of a script call, after send.
func (c *call) reply() *redis.Cmd {
	return c.cmd.(*redis.Cmd)
}

// send is the one way the Store runs its scripts. It sends calls in one
// round trip per node (see roundTrip: one call is one command), each script
// call as EVALSHA of the script's SHA-1, which go-redis computes without
// asking the server. Then it sends again, as EVAL in a second round trip,
// the script calls that a server answered NOSCRIPT: it restarted, or is a
// replica promoted since the script was loaded, or its scripts were
// flushed. Each call's cmd then carries its reply and its error; send
// returns nothing. No calls, no round trip.
func (s *Store) send(ctx context.Context, calls []call) {
	s.roundTrip(ctx, len(calls), func(snd sender) {
		for i := range calls {
			c := &calls[i]
			if c.script == nil {
				_ = snd.Process(ctx, c.cmd)
			} else {
				c.cmd = c.script.EvalSha(ctx, snd, c.keys, c.args...)
			}
		}
	})
	var retry []*call
	for i := range calls {
		if c := &calls[i]; c.script != nil && redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			retry = append(retry, c)
		}
	}
	s.roundTrip(ctx, len(retry), func(snd sender) {
		for _, c := range retry {
			c.cmd = c.script.Eval(ctx, snd, c.keys, c.args...)
		}
	})
}
