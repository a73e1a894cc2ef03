package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// pollInterval is the pause between two checks of a bounded wait.
	pollInterval = 10 * time.Millisecond
	// probeTimeout bounds one readiness probe.
	probeTimeout = 200 * time.Millisecond
	// killTimeout bounds the wait for a killed process to be reaped.
	killTimeout = 5 * time.Second
	// tailLines is how many lines of a server's log an error quotes.
	tailLines = 20
)

// errAddrInUse means redis-server exited because its port (or its cluster bus port) was taken.
var errAddrInUse = errors.New("redistest: address already in use")

// process is one running redis-server child. Its stdout and stderr go to a log file.
type process struct {
	cmd     *exec.Cmd
	log     *os.File
	logPath string
	logFrom int64         // size of the log file when this process started
	done    chan struct{} // closed once Wait has returned
	waitErr error         // Wait's result; read it only after done is closed
}

// startProcess starts bin with args in dir, appending its output to logPath.
func startProcess(bin, dir, logPath string, args []string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("redistest: open log: %w", err)
	}
	from, err := log.Seek(0, io.SeekEnd)
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("redistest: open log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// An *os.File is handed to the child as is: exec starts no copying goroutine.
	cmd.Stdout = log
	cmd.Stderr = log
	// Kill the server when the test binary dies. Pdeathsig fires when the thread that forked exits;
	// the Go runtime keeps its threads alive unless a goroutine exits while locked to one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("redistest: start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, log: log, logPath: logPath, logFrom: from, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended and been reaped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL, waits until the process is reaped and closes the log. Killing a process that has
// already exited is not an error.
func (p *process) kill() error {
	if !p.exited() {
		// Fails only when the process has just exited; the wait below covers both cases.
		_ = p.cmd.Process.Kill()
	}
	timer := time.NewTimer(killTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		return fmt.Errorf("redistest: pid %d not reaped %v after SIGKILL", p.cmd.Process.Pid, killTimeout)
	}
	return p.log.Close()
}

// waitReady polls addr until this process answers, the process exits or deadline passes.
// The error wraps errAddrInUse when the server could not bind its ports.
func (p *process) waitReady(addr string, deadline time.Time) error {
	for {
		if p.exited() {
			out := readLog(p.logPath, p.logFrom)
			err := fmt.Errorf("redistest: redis-server on %s exited: %v", addr, p.waitErr)
			if bytes.Contains(out, []byte("Address already in use")) {
				err = fmt.Errorf("%w: %w", errAddrInUse, err)
			}
			return withTail(err, p.logPath, out)
		}
		err := probe(addr, p.cmd.Process.Pid)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("redistest: redis-server on %s not ready in time: %w", addr, err)
			return withTail(err, p.logPath, readLog(p.logPath, p.logFrom))
		}
		time.Sleep(pollInterval)
	}
}

// probe asks addr for INFO server and checks that the answer comes from process pid (and not from
// another server that holds the port this one failed to bind).
func probe(addr string, pid int) error {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Short: a silent listener on the port must not delay noticing that our process has exited.
	if err := conn.SetDeadline(time.Now().Add(probeTimeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("AUTH " + adminUser + " " + adminPassword + "\r\nINFO server\r\n")); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	if ok, err := r.ReadString('\n'); err != nil {
		return err
	} else if strings.TrimSpace(ok) != "+OK" {
		return fmt.Errorf("AUTH answered %q", strings.TrimSpace(ok))
	}
	header, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	header = strings.TrimSpace(header)
	n, err := strconv.Atoi(strings.TrimPrefix(header, "$"))
	if !strings.HasPrefix(header, "$") || err != nil || n < 0 {
		return fmt.Errorf("INFO answered %q", header)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	if !bytes.Contains(body, []byte("\r\nprocess_id:"+strconv.Itoa(pid)+"\r\n")) {
		return errors.New("another process answers on this port")
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

// withTail appends the last lines of a server log to err.
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
