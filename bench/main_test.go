package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
)

// One redis-server serves every benchmark and test of the package; it is
// started on first use and stopped by TestMain.
var shared struct {
	once sync.Once
	srv  *redistest.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close redis-server:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// redisAddr returns the address of the shared redis-server, emptied, and
// starts it on first use. Benchmarks always run on a real server; tests
// only when TIERCACHE_INTEGRATION is set (redistest.Require).
func redisAddr(tb testing.TB) string {
	tb.Helper()
	if _, ok := tb.(*testing.T); ok {
		redistest.Require(tb)
	}
	shared.once.Do(func() {
		if shared.srv, shared.err = redistest.StartServer(); shared.err == nil {
			shared.err = allowOtherLibraries(shared.srv.Addr())
		}
	})
	if shared.err != nil {
		tb.Fatalf("start redis-server (apt-get install redis-server, or make bench): %v", shared.err)
	}
	flush(tb, shared.srv.Addr())
	return shared.srv.Addr()
}

// otherLibrariesACL is what the libraries tiercache is compared with send
// beyond redistest.ACL, which the server gives its default user: every
// Peer connects as that user (Config has no credentials). The client-side
// caches of go-redis and rueidis turn on CLIENT TRACKING, and rueidis
// (OPTIN) sends each cached read in MULTI, after CLIENT CACHING YES.
const otherLibrariesACL = "+client|tracking +client|caching +multi +exec"

// allowOtherLibraries adds otherLibrariesACL to the rights of the default
// user of the server at addr.
func allowOtherLibraries(addr string) error {
	rdb := redis.NewClient(redistest.AdminOptions(addr))
	defer func() { _ = rdb.Close() }()
	if err := rdb.ACLSetUser(context.Background(), "default", strings.Fields(otherLibrariesACL)...).Err(); err != nil {
		return fmt.Errorf("ACL SETUSER default %s: %w", otherLibrariesACL, err)
	}
	return nil
}

// flush empties the server, so that each library starts from the same
// state and Redis's memory stays bounded.
func flush(tb testing.TB, addr string) {
	tb.Helper()
	rdb := redis.NewClient(redistest.AdminOptions(addr))
	defer func() { _ = rdb.Close() }()
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		tb.Fatalf("FLUSHALL: %v", err)
	}
}

// newPeer returns an instance of lib closed at the end of tb, or nil when
// lib cannot do what cfg asks (errors.ErrUnsupported).
func newPeer(tb testing.TB, lib Library, cfg Config) Peer {
	tb.Helper()
	p, err := lib.New(cfg)
	if err != nil {
		if isUnsupported(err) {
			return nil
		}
		tb.Fatalf("%s: %v", lib.Name, err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("%s: close: %v", lib.Name, err)
		}
	})
	return p
}

func isUnsupported(err error) bool { return errors.Is(err, errors.ErrUnsupported) }

// ready waits (5 s at most) until p hears other instances' writes.
func ready(tb testing.TB, p Peer) {
	tb.Helper()
	r, ok := p.(Readier)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Ready(ctx); err != nil {
		tb.Fatalf("instance not ready: %v", err)
	}
}

// commands returns how many commands the server has processed so far
// (INFO stats total_commands_processed), including this one.
func commands(tb testing.TB, addr string) int64 {
	tb.Helper()
	rdb := redis.NewClient(redistest.AdminOptions(addr))
	defer func() { _ = rdb.Close() }()
	info, err := rdb.Info(context.Background(), "stats").Result()
	if err != nil {
		tb.Fatalf("INFO stats: %v", err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatalf("INFO stats: %q: %v", line, err)
			}
			return n
		}
	}
	tb.Fatalf("INFO stats: no total_commands_processed")
	return 0
}

// reportCommands reports the commands Redis processed per op since
// before (the INFO call that measures excluded): how often an op reaches
// Redis at all.
func reportCommands(b *testing.B, addr string, before int64) {
	b.Helper()
	n := commands(b, addr) - before - 1
	b.ReportMetric(float64(n)/float64(b.N), "redis-cmds/op")
}

// warm reads every key of keys rounds times through p, so that its local
// tier holds them (a client-side cache needs a round after its own SET's
// invalidation came back, ristretto a Wait).
func warm(b *testing.B, p Peer, keys []string, rounds int) {
	b.Helper()
	ctx := context.Background()
	for range rounds {
		for _, k := range keys {
			if _, err := p.Get(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
		waitLocal(p)
	}
}

// benchKeys returns the keys of ids 0..n-1.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = Key(int64(i))
	}
	return keys
}

// withNoLeases returns libs with tiercache without leases right after
// tiercache.
func withNoLeases(libs []Library) []Library {
	return withVariants(libs, WithoutLeases())
}

// withVariants returns libs with the given variants of tiercache right
// after tiercache.
func withVariants(libs []Library, variants ...Library) []Library {
	out := make([]Library, 0, len(libs)+len(variants))
	for _, lib := range libs {
		out = append(out, lib)
		if lib.Name == "tiercache" {
			out = append(out, variants...)
		}
	}
	return out
}

// redisCPU returns the CPU time the server has used so far (INFO cpu,
// user + system).
func redisCPU(tb testing.TB, addr string) time.Duration {
	tb.Helper()
	rdb := redis.NewClient(redistest.AdminOptions(addr))
	defer func() { _ = rdb.Close() }()
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatalf("INFO cpu: %v", err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		for _, field := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, field); ok {
				s, err := strconv.ParseFloat(v, 64)
				if err != nil {
					tb.Fatalf("INFO cpu: %q: %v", line, err)
				}
				total += s
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}
