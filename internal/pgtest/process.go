package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// process is one running postmaster child. Its stdout and stderr go to a log file.
type process struct {
	cmd     *exec.Cmd
	log     *os.File
	logPath string
	logFrom int64         // size of the log file when this process started
	done    chan struct{} // closed once Wait has returned
	waitErr error         // Wait's result; read it only after done is closed
}

// startProcess starts bin with args in dir as the user of cred (nil: this process's user), in a process
// group of its own, appending its output to logPath.
func startProcess(bin string, args []string, dir, logPath string, cred *syscall.Credential) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgtest: open log: %w", err)
	}
	from, err := log.Seek(0, io.SeekEnd)
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("pgtest: open log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C") // messages in English: start errors are recognised by them
	// An *os.File is handed to the child as is: exec starts no copying goroutine.
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Run as the postgres user when this process is root. The child changes user, then sets
		// Pdeathsig (a change of user would clear it).
		Credential: cred,
		// The postmaster leads a group with its children (backends, checkpointer, ...): kill kills them all.
		Setpgid: true,
		// Kill the postmaster when the test binary dies; its children notice and exit. Pdeathsig fires
		// when the thread that forked exits; the Go runtime keeps its threads alive unless a goroutine
		// exits while locked to one.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("pgtest: start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, log: log, logPath: logPath, logFrom: from, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the postmaster has ended and been reaped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the postmaster for a fast shutdown (SIGINT: roll back open transactions, disconnect
// clients, checkpoint), waits until it is reaped and closes the log. After stopTimeout it kills the
// server and returns an error.
func (p *process) stop() error {
	if !p.exited() {
		// Fails only when the process has just exited; the wait below covers both cases.
		_ = p.cmd.Process.Signal(syscall.SIGINT)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.log.Close()
	case <-timer.C:
	}
	err := fmt.Errorf("pgtest: postmaster pid %d still runs %v after SIGINT; killed", p.cmd.Process.Pid, stopTimeout)
	return errors.Join(withTail(err, p.logPath, readLog(p.logPath, p.logFrom)), p.kill())
}

// kill sends SIGKILL to the postmaster and every process of its group, as a crash would, waits until
// the postmaster is reaped and closes the log. Killing a process that has already exited is not an
// error.
func (p *process) kill() error {
	// ESRCH only: the group has already gone.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	timer := time.NewTimer(killTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		return fmt.Errorf("pgtest: postmaster pid %d not reaped %v after SIGKILL", p.cmd.Process.Pid, killTimeout)
	}
	return p.log.Close()
}

// waitReady waits until this postmaster accepts connections on 127.0.0.1:port, the process exits or
// deadline passes. Ready means that its postmaster.pid in dataDir says "ready" (so the server is this
// one, not another holding the port) and that pg_isready (at pgIsReady) agrees. The error wraps
// errAddrInUse or errOldProcesses when the server could not start for those reasons.
func (p *process) waitReady(pgIsReady, dataDir string, port int, deadline time.Time) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	notReady := errors.New("postmaster.pid does not say ready")
	for {
		if p.exited() {
			return p.exitError(addr)
		}
		err := notReady
		if pidFileReady(dataDir, p.cmd.Process.Pid) {
			if err = isReady(pgIsReady, port); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("pgtest: postgres on %s not ready in time: %w", addr, err)
			return withTail(err, p.logPath, readLog(p.logPath, p.logFrom))
		}
		time.Sleep(pollInterval)
	}
}

// exitError describes why the postmaster exited during its start, quoting its log.
func (p *process) exitError(addr string) error {
	out := readLog(p.logPath, p.logFrom)
	err := fmt.Errorf("pgtest: postgres on %s exited: %v", addr, p.waitErr)
	switch {
	case bytes.Contains(out, []byte("could not bind")), bytes.Contains(out, []byte("Address already in use")):
		err = fmt.Errorf("%w: %w", errAddrInUse, err)
	case bytes.Contains(out, []byte("pre-existing shared memory block")):
		err = fmt.Errorf("%w: %w", errOldProcesses, err)
	}
	return withTail(err, p.logPath, out)
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

// readLog returns the log from offset from on; nil when it cannot be read.
func readLog(path string, from int64) []byte {
	b, err := os.ReadFile(path)
	if err != nil || from > int64(len(b)) {
		return nil
	}
	return b[from:]
}

// withTail appends the last lines of a log to err.
func withTail(err error, path string, log []byte) error {
	return fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, path, tail(log, tailLines))
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
