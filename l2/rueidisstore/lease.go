package rueidisstore

import (
	"context"
	"crypto/sha1" //nolint:gosec // the name Redis gives a script (EVALSHA), not a security boundary
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/tiercache/tiercache/internal/rediskey"
	"github.com/tiercache/tiercache/internal/redislua"
	"github.com/tiercache/tiercache/l2"
)

var (
	_ l2.Conditional = (*Store)(nil)
	_ l2.Leaser      = (*Store)(nil)
	_ l2.LeaseReader = (*Store)(nil)
)

// The scripts, shared with l2/redisstore.
var (
	leaseScript     = newScript(redislua.Lease)
	setLeasedScript = newScript(redislua.SetLeased)
	releaseScript   = newScript(redislua.Release)
	setIfScript     = newScript(redislua.SetIf)
)

// script is a Lua script and its SHA-1.
type script struct{ src, sha string }

func newScript(src string) script {
	sum := sha1.Sum([]byte(src)) //nolint:gosec // the name Redis gives a script
	return script{src: src, sha: hex.EncodeToString(sum[:])}
}

// call is one call of a script.
type call struct{ keys, args []string }

// run sends the calls of sc together, each as EVALSHA, then, together
// again, as EVAL the calls that a server answered NOSCRIPT (it restarted,
// was promoted, or flushed its scripts). It needs no SCRIPT LOAD, which
// rueidis's own Lua.ExecMulti sends and tiercache's ACL does not grant.
func (s *Store) run(ctx context.Context, sc script, calls []call) []rueidis.RedisResult {
	cmds := make(rueidis.Commands, len(calls))
	for i, c := range calls {
		cmds[i] = s.c.B().Evalsha().Sha1(sc.sha).Numkeys(int64(len(c.keys))).Key(c.keys...).Arg(c.args...).Build()
	}
	res := s.c.DoMulti(ctx, cmds...)
	var retry []int
	for i, r := range res {
		if err := r.Error(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) == 0 {
		return res
	}
	cmds = cmds[:0]
	for _, i := range retry {
		c := calls[i]
		cmds = append(cmds, s.c.B().Eval().Script(sc.src).Numkeys(int64(len(c.keys))).Key(c.keys...).Arg(c.args...).Build())
	}
	for j, r := range s.c.DoMulti(ctx, cmds...) {
		res[retry[j]] = r
	}
	return res
}

// SetIf stores item only if its key holds item.Old (nothing when nil): SET
// NX PX, or the compare-and-set script. See [l2.Conditional].
func (s *Store) SetIf(ctx context.Context, item l2.CondItem) (bool, error) {
	stored, err := s.SetManyIf(ctx, []l2.CondItem{item})
	if err != nil {
		return false, err
	}
	return stored[0], nil
}

// SetManyIf does SetIf for every item, sent together. It checks every TTL
// first and writes nothing when one is not positive.
func (s *Store) SetManyIf(ctx context.Context, items []l2.CondItem) ([]bool, error) {
	for i := range items {
		if items[i].TTL <= 0 {
			return nil, fmt.Errorf("rueidisstore: setif: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	stored := make([]bool, len(items))
	var plain rueidis.Commands
	var plainIdx, scriptIdx []int
	var execs []call
	for i, it := range items {
		rk := s.Key(it.Key)
		if it.Old == nil {
			plain = append(plain, s.c.B().Set().Key(rk).Value(rueidis.BinaryString(it.Value)).Nx().PxMilliseconds(millis(it.TTL)).Build())
			plainIdx = append(plainIdx, i)
			continue
		}
		_, n, d := redislua.Expect(it.Old)
		execs = append(execs, call{keys: []string{rk}, args: []string{rueidis.BinaryString(it.Value), millisArg(it.TTL), n, d}})
		scriptIdx = append(scriptIdx, i)
	}
	for j, r := range s.c.DoMulti(ctx, plain...) {
		switch err := r.Error(); {
		case rueidis.IsRedisNil(err): // the key holds something
		case err != nil:
			return nil, wrap("setif", err)
		default:
			stored[plainIdx[j]] = true
		}
	}
	for j, r := range s.run(ctx, setIfScript, execs) {
		n, err := r.AsInt64()
		if err != nil {
			return nil, wrap("setif", err)
		}
		stored[scriptIdx[j]] = n == 1
	}
	return stored, nil
}

// GetLease returns the value of key, or takes its lease for token when it
// holds none, with SET key lease NX GET PX ttl (see [l2.LeaseReader]).
func (s *Store) GetLease(ctx context.Context, key string, token l2.Token, ttl time.Duration) ([]byte, bool, error) {
	if ttl <= 0 {
		return nil, false, fmt.Errorf("rueidisstore: getlease: ttl must be positive, got %v", ttl)
	}
	lease := redislua.LeaseMark + string(token[:])
	b, err := s.c.Do(ctx, s.c.B().Set().Key(s.Key(key)).Value(lease).Nx().Get().PxMilliseconds(millis(ttl)).Build()).AsBytes()
	switch {
	case rueidis.IsRedisNil(err):
		return nil, true, nil
	case err != nil:
		return nil, false, wrap("getlease", err)
	case redislua.IsLease(b):
		return nil, string(b[len(redislua.LeaseMark):redislua.LeaseLen]) == string(token[:]), nil
	}
	return value(b), false, nil
}

// Lease asks for the lease of each key for token (see [l2.Leaser]): one
// call of the lease script per key, sent together.
func (s *Store) Lease(ctx context.Context, token l2.Token, ttl time.Duration, keys []l2.Expect) ([]l2.LeaseAnswer, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("rueidisstore: lease: ttl must be positive, got %v", ttl)
	}
	execs := make([]call, len(keys))
	for i, e := range keys {
		rk := s.Key(e.Key)
		m, n, d := redislua.Expect(e.Old)
		execs[i] = call{keys: []string{rk, rk + rediskey.LeaseSuffix, rk + rediskey.QueuedSuffix}, args: []string{string(token[:]), millisArg(ttl), m, n, d}}
	}
	answers := make([]l2.LeaseAnswer, len(keys))
	for i, r := range s.run(ctx, leaseScript, execs) {
		arr, err := r.ToArray()
		if err != nil {
			return nil, wrap("lease", err)
		}
		if answers[i], err = leaseAnswer(arr); err != nil {
			return nil, err
		}
	}
	return answers, nil
}

// leaseAnswer decodes the reply of the lease script.
func leaseAnswer(arr []rueidis.RedisMessage) (l2.LeaseAnswer, error) {
	var code int64
	if len(arr) > 0 {
		code, _ = arr[0].AsInt64()
	}
	switch code {
	case 1:
		return l2.LeaseAnswer{State: l2.LeaseGranted}, nil
	case 2:
		return l2.LeaseAnswer{State: l2.LeaseHeld}, nil
	case 3:
		if len(arr) == 2 {
			if b, err := arr[1].AsBytes(); err == nil {
				return l2.LeaseAnswer{State: l2.LeaseChanged, Value: value(b)}, nil
			}
		}
	case 4:
		return l2.LeaseAnswer{State: l2.LeaseChanged}, nil
	}
	return l2.LeaseAnswer{}, fmt.Errorf("rueidisstore: lease: unexpected answer of %d values, code %d", len(arr), code)
}

// SetLeased stores each item under token's lease (see [l2.Leaser]): one
// call of the script per item, sent together. It checks every TTL first.
func (s *Store) SetLeased(ctx context.Context, token l2.Token, items []l2.CondItem) ([]l2.LeaseResult, error) {
	for i := range items {
		if items[i].TTL <= 0 {
			return nil, fmt.Errorf("rueidisstore: setleased: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	execs := make([]call, len(items))
	for i, it := range items {
		rk := s.Key(it.Key)
		m, n, d := redislua.Expect(it.Old)
		execs[i] = call{keys: []string{rk, rk + rediskey.LeaseSuffix, rk + rediskey.QueuedSuffix},
			args: []string{string(token[:]), rueidis.BinaryString(it.Value), millisArg(it.TTL), m, n, d}}
	}
	results := make([]l2.LeaseResult, len(items))
	for i, r := range s.run(ctx, setLeasedScript, execs) {
		v, err := r.AsIntSlice()
		if err != nil {
			return nil, wrap("setleased", err)
		}
		if len(v) != 2 {
			return nil, fmt.Errorf("rueidisstore: setleased: unexpected answer %v", v)
		}
		results[i] = l2.LeaseResult{Stored: v[0] == 1, Waited: v[1] == 1}
	}
	return results, nil
}

// Release ends token's lease of each key and reports its waited mark.
func (s *Store) Release(ctx context.Context, token l2.Token, keys ...string) ([]bool, error) {
	execs := make([]call, len(keys))
	for i, k := range keys {
		rk := s.Key(k)
		execs[i] = call{keys: []string{rk, rk + rediskey.LeaseSuffix}, args: []string{string(token[:])}}
	}
	waited := make([]bool, len(keys))
	for i, r := range s.run(ctx, releaseScript, execs) {
		n, err := r.AsInt64()
		if err != nil {
			return nil, wrap("release", err)
		}
		waited[i] = n == 1
	}
	return waited, nil
}

// Revoke stores every item and ends the lease of its key: SET PX and DEL
// of the lease key for each item, sent together. It checks every TTL
// first.
func (s *Store) Revoke(ctx context.Context, items []l2.Item) error {
	for i := range items {
		if items[i].TTL <= 0 {
			return fmt.Errorf("rueidisstore: revoke: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	cmds := make(rueidis.Commands, 0, 2*len(items))
	for _, it := range items {
		cmds = append(cmds, s.setCmd(it.Key, it.Value, it.TTL), s.c.B().Del().Key(s.LeaseKey(it.Key)).Build())
	}
	return firstErr("revoke", s.c.DoMulti(ctx, cmds...))
}
