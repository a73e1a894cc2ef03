package childproc

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Options configures [Start]. LogPath is required.
type Options struct {
	// Dir is the process's working directory. Default: this process's.
	Dir string
	// LogPath is the file the process's stdout and stderr are appended to.
	LogPath string
	// Env is the process's environment. Default: this process's.
	Env []string
	// Credential runs the process as another user (this process must be
	// root). Default: this process's user.
	Credential *syscall.Credential
	// Group puts the process in a process group of its own, which Kill
	// kills whole: a server's children die with it, as in a crash.
	Group bool
}

// Process is a running child. Its methods are safe for concurrent use.
type Process struct {
	cmd     *exec.Cmd
	log     *os.File
	logPath string
	logFrom int64         // the log's size when the process started
	group   bool          // Kill kills the process group
	done    chan struct{} // closed once Wait has returned
	waitErr error         // Wait's result; read only after done is closed
}

// Start starts bin with args. The child is killed (SIGKILL) when the
// thread that started it exits: the Go runtime keeps its threads alive
// unless a goroutine exits while locked to one, so in practice when the
// test binary dies.
func Start(bin string, args []string, opts Options) (*Process, error) {
	log, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("childproc: open log: %w", err)
	}
	from, err := log.Seek(0, io.SeekEnd)
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("childproc: open log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = opts.Dir
	cmd.Env = opts.Env
	// An *os.File is handed to the child as is: exec starts no copying goroutine.
	cmd.Stdout = log
	cmd.Stderr = log
	// With a Credential, the child changes user first, then sets Pdeathsig
	// (a change of user would clear it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: opts.Credential, Setpgid: opts.Group, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("childproc: start %s: %w", bin, err)
	}
	p := &Process{cmd: cmd, log: log, logPath: opts.LogPath, logFrom: from, group: opts.Group, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has ended and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended and been reaped.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns how the process ended (exec.Cmd.Wait's error); nil while it
// runs.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.waitErr
}

// Signal sends sig to the process. Signalling a process that has just
// exited is not an error.
func (p *Process) Signal(sig syscall.Signal) {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Wait waits until the process has been reaped, at most timeout, and
// reports whether it was; then it closes the log.
func (p *Process) Wait(timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		_ = p.log.Close()
		return true
	case <-timer.C:
		return false
	}
}

// Kill sends SIGKILL to the process (to its whole group with
// Options.Group), as a crash would, and waits until it is reaped, at most
// timeout. Killing a process that has already exited is not an error.
func (p *Process) Kill(timeout time.Duration) error {
	if p.group {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL) // ESRCH only: the group has gone
	} else {
		p.Signal(syscall.SIGKILL)
	}
	if !p.Wait(timeout) {
		return fmt.Errorf("childproc: pid %d not reaped %v after SIGKILL", p.Pid(), timeout)
	}
	return nil
}

// LogPath returns the log file's path.
func (p *Process) LogPath() string { return p.logPath }

// Output returns what the process wrote to the log since it started; nil
// when the log cannot be read.
func (p *Process) Output() []byte { return ReadLog(p.logPath, p.logFrom) }

// ReadLog returns the file at path from offset from on; nil when it
// cannot be read.
func ReadLog(path string, from int64) []byte {
	b, err := os.ReadFile(path)
	if err != nil || from > int64(len(b)) {
		return nil
	}
	return b[from:]
}

// WithTail appends the last n lines of log (read from path) to err.
func WithTail(err error, path string, log []byte, n int) error {
	return fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, path, Tail(log, n))
}

// Tail returns the last n lines of b.
func Tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
