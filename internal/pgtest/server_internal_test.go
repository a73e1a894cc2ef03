package pgtest

import (
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestStartServer_TwoAtOnceAndClose starts two servers at once, one of them first on a busy port, and
// closes them.
func TestStartServer_TwoAtOnceAndClose(t *testing.T) {
	t.Parallel()
	Require(t)
	bins, _ := findBinaries()
	cred, _ := serverCredential()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	busy := l.Addr().(*net.TCPAddr).Port
	calls := 0
	busyFirst := func() int {
		calls++
		if calls == 1 {
			return busy
		}
		return randomPort()
	}

	var (
		wg   sync.WaitGroup
		a, b *Server
		errA error
		errB error
	)
	wg.Go(func() { a, errA = startServer(bins, cred, newConfig(nil), randomPort) })
	wg.Go(func() { b, errB = startServer(bins, cred, newConfig(nil), busyFirst) })
	wg.Wait()
	if a != nil {
		t.Cleanup(func() { _ = a.Close() })
	}
	if b != nil {
		t.Cleanup(func() { _ = b.Close() })
	}
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if calls < 2 || b.port == busy {
		t.Errorf("after %d ports the server listens on %d, the busy port", calls, b.port)
	}
	if a.port == b.port {
		t.Fatalf("two servers on port %d", a.port)
	}
	for _, s := range []*Server{a, b} {
		if s.port < MinPort || s.port > MaxPort {
			t.Errorf("port %d outside [%d, %d]", s.port, MinPort, MaxPort)
		}
		if got, err := s.SQL(t.Context(), "postgres", "SELECT inet_server_port()"); err != nil || got != strconv.Itoa(s.port) {
			t.Errorf("server on %s says its port is %q, %v", s.Addr(), got, err)
		}
	}

	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close in %v", time.Since(start).Round(time.Millisecond))
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(a.dir); !os.IsNotExist(err) {
		t.Errorf("after Close, stat %s: %v; want it removed", a.dir, err)
	}
	if conn, err := net.DialTimeout("tcp", a.Addr(), time.Second); err == nil {
		_ = conn.Close()
		t.Fatalf("%s still accepts connections after Close", a.Addr())
	}
	if err := a.Restart(); err == nil {
		t.Fatal("Restart after Close succeeded")
	}
	if got, err := b.SQL(t.Context(), "postgres", "SELECT 1"); err != nil || got != "1" {
		t.Errorf("the other server answers %q, %v; want 1", got, err)
	}
}

func TestCompareVersionDirs(t *testing.T) {
	t.Parallel()
	dirs := []string{
		"/usr/lib/postgresql/15/bin",
		"/usr/lib/postgresql/9.6/bin",
		"/usr/lib/postgresql/devel/bin",
		"/usr/lib/postgresql/16/bin",
		"/usr/lib/postgresql/10/bin",
	}
	slices.SortFunc(dirs, compareVersionDirs)
	want := []string{
		"/usr/lib/postgresql/devel/bin",
		"/usr/lib/postgresql/9.6/bin",
		"/usr/lib/postgresql/10/bin",
		"/usr/lib/postgresql/15/bin",
		"/usr/lib/postgresql/16/bin",
	}
	if !slices.Equal(dirs, want) {
		t.Errorf("sorted = %v, want %v", dirs, want)
	}
}
