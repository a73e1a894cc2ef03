package pgtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/childproc"
)

// Servers listen on a random port in [MinPort, MaxPort]: below the ephemeral range (32768 on) and
// below the Redis Cluster bus ports of redistest (30000 on), so that the two packages' tests do not
// compete for ports.
const (
	MinPort = 22768
	MaxPort = 29999
)

const (
	// superuser is the database superuser that initdb creates; every connection uses it.
	superuser = "postgres"
	// initdbTimeout bounds initdb.
	initdbTimeout = 60 * time.Second
	// readyTimeout bounds the wait for a started server to accept connections (crash recovery included).
	readyTimeout = 30 * time.Second
	// portAttempts is how many random ports StartServer tries when a port is taken.
	portAttempts = 5
	// restartTimeout bounds how long Restart retries while the port is busy or a killed server's
	// processes are still exiting.
	restartTimeout = 10 * time.Second
	// restartInterval is the pause between two of those retries.
	restartInterval = 50 * time.Millisecond
)

// Server is one PostgreSQL server, a postgres child process on 127.0.0.1 with a cluster of its own in a
// temporary directory. Its methods are safe for concurrent use.
type Server struct {
	bins binaries
	cred *syscall.Credential // the user postgres runs as; nil: this process's user
	cfg  config
	dir  string // data/ holds the cluster, postgres.log the server's output
	port int

	mu     sync.Mutex
	proc   *childproc.Process // nil while stopped
	closed bool
}

// StartServer creates a cluster (initdb) in a new temporary directory, starts a server on it on a free
// loopback port and waits until it accepts connections. Call Close to remove it.
func StartServer(opts ...Option) (*Server, error) {
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	return startServer(bins, cred, newConfig(opts), randomPort)
}

// NewServer calls [Require], starts a server with [StartServer] and closes it with t.Cleanup. It fails t
// when the server does not start.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	Require(t)
	s, err := StartServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close postgres %s: %v", s.Addr(), err)
		}
	})
	return s
}

// Addr returns the server's address, "127.0.0.1:PORT". It does not change across Stop and Restart.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// DSN returns the URL of database db on the server as the superuser postgres, without TLS:
// "postgres://postgres@127.0.0.1:PORT/db?sslmode=disable". No password is needed (trust on loopback).
func (s *Server) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     s.Addr(),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop shuts the server down (a fast shutdown: open transactions are rolled back, clients
// disconnected, a checkpoint written) and waits until its process is reaped. The port and the data are
// kept for Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

// Kill kills the server's processes (SIGKILL, a crash) and waits until the postmaster is reaped. The port
// and the data are kept: Restart runs crash recovery, which keeps every committed transaction. Killing a
// stopped server does nothing.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killLocked()
}

// Restart starts the server again on the same address and data, and waits until it accepts
// connections; a running server is stopped first (fast shutdown). While the port is busy, or the
// processes of a killed server are still exiting, the start is retried for a bounded time.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("pgtest: restart %s: server is closed", s.Addr())
	}
	if err := s.stopLocked(); err != nil {
		return err
	}
	deadline := time.Now().Add(restartTimeout)
	for {
		err := s.startLocked()
		if err == nil || (!errors.Is(err, errAddrInUse) && !errors.Is(err, errOldProcesses)) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(restartInterval)
	}
}

// Close kills the server for good and removes its directory. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.killLocked(), os.RemoveAll(s.dir))
}

// startServer creates a directory and a cluster in it, and starts a server on ports drawn from
// nextPort until one is free (at most portAttempts).
func startServer(bins binaries, cred *syscall.Credential, cfg config, nextPort func() int) (*Server, error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{bins: bins, cred: cred, cfg: cfg, dir: dir}
	if err := s.initdb(); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
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

// initdb creates the cluster in s.dataDir(): superuser postgres, trust authentication (its pg_hba.conf
// also lets replication connections in from 127.0.0.1), UTF8, locale C, no fsync.
func (s *Server) initdb() error {
	if s.cred != nil {
		// MkdirTemp made the directory 0o700 for root; the server's user must own it.
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), initdbTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bins.initdb, "-D", s.dataDir(), "-A", "trust", "-U", superuser,
		"-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if s.cred != nil {
			err = fmt.Errorf("%w (initdb runs as user %s, who must be able to reach %s)", err, serverUser, s.dir)
		}
		return fmt.Errorf("pgtest: initdb: %w\n--- last lines of its output ---\n%s", err, childproc.Tail(out, tailLines))
	}
	return nil
}

// startLocked starts the postmaster and waits until it accepts connections. The caller holds s.mu, or
// is the only one to know s.
func (s *Server) startLocked() error {
	args := []string{"-D", s.dataDir()}
	for _, st := range s.cfg.settings {
		args = append(args, "-c", st.name+"="+st.value)
	}
	args = append(args, "-p", strconv.Itoa(s.port)) // last: the port is Addr's
	p, err := childproc.Start(s.bins.postgres, args, childproc.Options{
		Dir:     s.dir,
		LogPath: filepath.Join(s.dir, "postgres.log"),
		Env:     append(os.Environ(), "LC_ALL=C"), // messages in English: start errors are recognised by them
		// Run as the postgres user when this process is root.
		Credential: s.cred,
		// The postmaster leads a group with its children (backends, checkpointer, ...): a kill kills
		// them all, as a crash would.
		Group: true,
	})
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := waitReady(p, s.bins.pgIsReady, s.dataDir(), s.port, time.Now().Add(readyTimeout)); err != nil {
		return errors.Join(err, p.Kill(killTimeout))
	}
	s.proc = p
	return nil
}

func (s *Server) stopLocked() error {
	if s.proc == nil {
		return nil
	}
	err := stop(s.proc)
	s.proc = nil
	return err
}

func (s *Server) killLocked() error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.Kill(killTimeout)
	s.proc = nil
	return err
}

// dataDir returns the directory of the cluster.
func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// randomPort draws a port in [MinPort, MaxPort].
func randomPort() int {
	return MinPort + rand.IntN(MaxPort-MinPort+1)
}
