package redistest

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestStartServer_RetriesBusyPort(t *testing.T) {
	t.Parallel()
	Require(t)
	bin, _ := findServer()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	busy := l.Addr().(*net.TCPAddr).Port

	calls := 0
	next := func() int {
		calls++
		if calls == 1 {
			return busy
		}
		return randomPort()
	}
	s, err := startServer(bin, next, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if calls < 2 || s.port == busy {
		t.Errorf("after %d ports the server listens on %d, the busy port", calls, s.port)
	}
}

func TestRestart_RetriesBusyPort(t *testing.T) {
	t.Parallel()
	Require(t)
	bin, _ := findServer()
	s, err := startServer(bin, randomPort, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	busy := 0
	s.onBusy = func() {
		busy++
		_ = l.Close()
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if busy != 1 {
		t.Errorf("Restart found the port busy %d times, want 1", busy)
	}
	if err := probe(s.Addr(), s.proc.Pid()); err != nil {
		t.Errorf("after Restart: %v", err)
	}
}

func TestStop_ReapsProcess(t *testing.T) {
	t.Parallel()
	Require(t)
	s, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	pid := s.proc.Pid()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A zombie still accepts signal 0; a reaped process is gone.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d after Close: kill(0) = %v, want ESRCH", pid, err)
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after Close: stat = %v, want it removed", s.dir, err)
	}
}

func TestStartServer_ErrorQuotesLog(t *testing.T) {
	t.Parallel()
	Require(t)
	bin, _ := findServer()
	calls := 0
	next := func() int { calls++; return randomPort() }
	bad := func(string) []string { return []string{"--no-such-directive", "x"} }
	_, err := startServer(bin, next, bad)
	if err == nil {
		t.Fatal("startServer with a bad directive succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "last lines of") || !strings.Contains(msg, "no-such-directive") {
		t.Errorf("error does not quote the log:\n%s", msg)
	}
	if calls != 1 {
		t.Errorf("tried %d ports for an error that is not a busy port", calls)
	}
}

func TestMasterSlots_CoverAllSlots(t *testing.T) {
	next := 0
	for i, r := range masterSlots() {
		if r[0] != next || r[1] < r[0] {
			t.Fatalf("master %d has slots %d-%d, want a range from %d", i, r[0], r[1], next)
		}
		next = r[1] + 1
	}
	if next != 16384 {
		t.Fatalf("slots end at %d, want 16383", next-1)
	}
	if MaxPort+10000 > 55535 || MinPort+10000 <= MaxPort {
		t.Fatalf("port range %d-%d: bus ports overlap or exceed 55535", MinPort, MaxPort)
	}
}
