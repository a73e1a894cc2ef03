package redistest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/childproc"
)

// Servers listen on a random port in [MinPort, MaxPort]: below the ephemeral range, and low enough for
// the cluster bus (port+10000) to stay a valid port.
const (
	MinPort = 20000
	MaxPort = 22767
)

const (
	// serverTimeout bounds the wait for one server to answer PING.
	serverTimeout = 5 * time.Second
	// portAttempts is how many random ports StartServer tries when a port is taken.
	portAttempts = 5
	// restartBindTimeout bounds how long Restart retries a port that is briefly busy.
	restartBindTimeout = 5 * time.Second
	// restartBindInterval is the pause between two of those retries.
	restartBindInterval = 50 * time.Millisecond
)

// Server is one standalone redis-server child process on 127.0.0.1. Its methods are safe for
// concurrent use.
type Server struct {
	bin   string
	dir   string
	port  int
	extra []string // more redis-server arguments, e.g. cluster mode

	// onBusy, when set, is called each time a Restart attempt finds the port busy (a test hook).
	onBusy func()

	mu     sync.Mutex
	proc   *childproc.Process // nil while stopped
	closed bool
}

// StartServer starts a redis-server on a free loopback port (127.0.0.1) and waits until it answers PING.
// Call Close to remove it.
func StartServer() (*Server, error) {
	bin, err := findServer()
	if err != nil {
		return nil, err
	}
	return startServer(bin, randomPort, nil)
}

// NewServer calls [Require], starts a server with [StartServer] and closes it with t.Cleanup. It fails t
// when the server does not start.
func NewServer(t testing.TB) *Server {
	t.Helper()
	Require(t)
	s, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkDenied(t, s)
		if err := s.Close(); err != nil {
			t.Errorf("close redis-server %s: %v", s.Addr(), err)
		}
	})
	return s
}

// running reports whether the server's process runs (it was not stopped).
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Addr returns the server's address, "127.0.0.1:PORT". It does not change across Stop and Restart.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Stop kills the process (SIGKILL, to simulate an outage) and reaps it. The port and the directory are
// kept for Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

// Restart starts the server again on the same address and waits until it answers PING; a running server
// is stopped first. Data is not kept (persistence is off). While the port is briefly busy, the bind is
// retried for a bounded time.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("redistest: restart %s: server is closed", s.Addr())
	}
	if err := s.stopLocked(); err != nil {
		return err
	}
	deadline := time.Now().Add(restartBindTimeout)
	for {
		err := s.startLocked()
		if err == nil || !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			return err
		}
		if s.onBusy != nil {
			s.onBusy()
		}
		time.Sleep(restartBindInterval)
	}
}

// Close stops the server for good and removes its directory. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.stopLocked(), os.RemoveAll(s.dir))
}

// startServer creates a directory and starts a server in it, on ports drawn from nextPort until one
// is free (at most portAttempts). extra, when not nil, returns more arguments given the directory.
func startServer(bin string, nextPort func() int, extra func(dir string) []string) (*Server, error) {
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	s := &Server{bin: bin, dir: dir}
	if extra != nil {
		s.extra = extra(dir)
	}
	for range portAttempts {
		s.port = nextPort()
		if err = s.startLocked(); !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	return s, nil
}

// startLocked starts the process and waits until it answers PING. The caller holds s.mu, or is the only
// one to know s.
func (s *Server) startLocked() error {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
		"--save", "",
		"--appendonly", "no",
	}
	args = append(args, aclArgs()...)
	p, err := childproc.Start(s.bin, append(args, s.extra...), childproc.Options{Dir: s.dir, LogPath: filepath.Join(s.dir, "redis.log")})
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	if err := waitReady(p, s.Addr(), time.Now().Add(serverTimeout)); err != nil {
		return errors.Join(err, p.Kill(killTimeout))
	}
	s.proc = p
	return nil
}

func (s *Server) stopLocked() error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.Kill(killTimeout)
	s.proc = nil
	return err
}

// logTail returns the last lines of the server's log, for error messages.
func (s *Server) logTail() string {
	path := filepath.Join(s.dir, "redis.log")
	return fmt.Sprintf("--- last lines of %s ---\n%s", path, childproc.Tail(childproc.ReadLog(path, 0), tailLines))
}

// randomPort draws a port in [MinPort, MaxPort].
func randomPort() int {
	return MinPort + rand.IntN(MaxPort-MinPort+1)
}
