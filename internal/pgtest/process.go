package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tiercache/tiercache/internal/childproc"
)

const (
	// pollInterval is the pause between two checks of a bounded wait.
	pollInterval = 20 * time.Millisecond
	// probeTimeout bounds one run of pg_isready.
	probeTimeout = 2 * time.Second
	// stopTimeout bounds a fast shutdown; then the server is killed.
	stopTimeout = 30 * time.Second
	// killTimeout bounds the wait for a killed postmaster to be reaped.
	killTimeout = 5 * time.Second
	// tailLines is how many lines of a server's log an error quotes.
	tailLines = 20
)

var (
	// errAddrInUse means postgres exited because it could not bind its port.
	errAddrInUse = errors.New("pgtest: address already in use")
	// errOldProcesses means postgres exited because processes of a killed server still hold the data
	// directory's shared memory; they are about to exit.
	errOldProcesses = errors.New("pgtest: processes of the previous server still hold the data directory")
)

// stop asks postmaster p for a fast shutdown (SIGINT: roll back open transactions, disconnect clients,
// checkpoint) and waits until it is reaped. After stopTimeout it kills the server and returns an error.
func stop(p *childproc.Process) error {
	p.Signal(syscall.SIGINT)
	if p.Wait(stopTimeout) {
		return nil
	}
	err := fmt.Errorf("pgtest: postmaster pid %d still runs %v after SIGINT; killed", p.Pid(), stopTimeout)
	return errors.Join(childproc.WithTail(err, p.LogPath(), p.Output(), tailLines), p.Kill(killTimeout))
}

// waitReady waits until postmaster p accepts connections on 127.0.0.1:port, p exits or deadline
// passes. Ready means that its postmaster.pid in dataDir says "ready" (so the server is this
// one, not another holding the port) and that pg_isready (at pgIsReady) agrees. The error wraps
// errAddrInUse or errOldProcesses when the server could not start for those reasons.
func waitReady(p *childproc.Process, pgIsReady, dataDir string, port int, deadline time.Time) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	notReady := errors.New("postmaster.pid does not say ready")
	for {
		if p.Exited() {
			return exitError(p, addr)
		}
		err := notReady
		if pidFileReady(dataDir, p.Pid()) {
			if err = isReady(pgIsReady, port); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("pgtest: postgres on %s not ready in time: %w", addr, err)
			return childproc.WithTail(err, p.LogPath(), p.Output(), tailLines)
		}
		time.Sleep(pollInterval)
	}
}

// exitError describes why postmaster p exited during its start, quoting its log.
func exitError(p *childproc.Process, addr string) error {
	out := p.Output()
	err := fmt.Errorf("pgtest: postgres on %s exited: %v", addr, p.Err()) //nolint:errorlint // nil after exit status 0, which %w would print as %!w(<nil>)
	switch {
	case bytes.Contains(out, []byte("could not bind")), bytes.Contains(out, []byte("Address already in use")):
		err = fmt.Errorf("%w: %w", errAddrInUse, err)
	case bytes.Contains(out, []byte("pre-existing shared memory block")):
		err = fmt.Errorf("%w: %w", errOldProcesses, err)
	}
	return childproc.WithTail(err, p.LogPath(), out, tailLines)
}

// pidFileReady reports whether dataDir/postmaster.pid names postmaster pid and says "ready": its first
// line is the pid, its eighth the status, which becomes "ready" when the server accepts connections
// (pg_ctl start -w waits for the same).
func pidFileReady(dataDir string, pid int) bool {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) >= 8 && strings.TrimSpace(lines[0]) == strconv.Itoa(pid) && strings.TrimSpace(lines[7]) == "ready"
}

// isReady runs pg_isready against 127.0.0.1:port.
func isReady(pgIsReady string, port int) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgIsReady, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-U", superuser, "-d", "postgres", "-t", "1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_isready: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
