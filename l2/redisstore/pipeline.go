package redisstore

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// sender is what roundTrip gives its caller to queue commands on: the
// client, which sends a command at once, or a pipeline.
type sender interface {
	redis.Scripter
	Process(ctx context.Context, cmd redis.Cmder) error
}

// roundTrip sends n commands in one round trip per node: queue gets the
// client (or its AutoPipeliner) when n is 1, which sends the one command at
// once (a command, not a pipeline of one), and a pipeline otherwise, which roundTrip then
// executes (a Cluster client splits it per node and sends to the nodes in
// parallel). Each command carries its own reply and error. When n is 0
// nothing is sent and queue is not called.
func (s *Store) roundTrip(ctx context.Context, n int, queue func(sender)) {
	switch n {
	case 0:
	case 1:
		queue(s.single)
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

// piped sends commands through a go-redis AutoPipeliner (its blocking
// face) while others are in flight, and straight through the client
// otherwise. The AutoPipeliner makes the commands that goroutines send
// while a batch is in flight go together in the next one; but it hands
// each command to a goroutine of its own, which costs a command sent alone
// about 30% more time (BenchmarkGet_L2Hit): such a command goes straight.
//
// The AutoPipeliner does not look at a command's context once it has
// queued the command, so piped fails a command whose context has already
// ended instead of queuing it, as a client does while it waits for a
// connection.
type piped struct {
	ap     *redis.AutoPipeliner
	client sender
	// busy counts the commands in flight through this piped, for all
	// views of the Store.
	busy *atomic.Int64
}

// via returns the sender of the next command, and the function that the
// caller calls once the command is done.
func (p piped) via() (sender, func()) {
	if p.busy.Add(1) == 1 {
		return p.client, p.done
	}
	return p.ap, p.done
}

func (p piped) done() { p.busy.Add(-1) }

func (p piped) Process(ctx context.Context, cmd redis.Cmder) error {
	if err := ctx.Err(); err != nil {
		cmd.SetErr(err)
		return err
	}
	snd, done := p.via()
	defer done()
	return snd.Process(ctx, cmd)
}

func (p piped) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	if err := ctx.Err(); err != nil {
		return failedCmd(ctx, err)
	}
	snd, done := p.via()
	defer done()
	return snd.EvalSha(ctx, sha1, keys, args...)
}

func (p piped) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	if err := ctx.Err(); err != nil {
		return failedCmd(ctx, err)
	}
	snd, done := p.via()
	defer done()
	return snd.Eval(ctx, script, keys, args...)
}

func (p piped) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.Eval(ctx, script, keys, args...) // not used by the Store
}

func (p piped) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.EvalSha(ctx, sha1, keys, args...) // not used by the Store
}

func (p piped) ScriptExists(ctx context.Context, hashes ...string) *redis.BoolSliceCmd {
	return p.client.ScriptExists(ctx, hashes...)
}

func (p piped) ScriptLoad(ctx context.Context, script string) *redis.StringCmd {
	return p.client.ScriptLoad(ctx, script)
}

// failedCmd returns a command that was not sent because of err.
func failedCmd(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}
