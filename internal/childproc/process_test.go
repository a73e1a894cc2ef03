package childproc

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitOutput waits until p's output holds s, at most 10 s.
func waitOutput(t *testing.T, p *Process, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Contains(p.Output(), []byte(s)) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want %q in it", p.Output(), s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStartKill(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "log")
	for i, group := range []bool{false, true} {
		p, err := Start("/bin/sh", []string{"-c", "echo started; exec sleep 60"}, Options{LogPath: log, Group: group})
		if err != nil {
			t.Fatal(err)
		}
		waitOutput(t, p, "started")
		if got := strings.Count(string(p.Output()), "started"); got != 1 {
			t.Errorf("run %d: output %q holds the earlier run's", i, p.Output())
		}
		if p.Exited() || p.Err() != nil {
			t.Fatalf("run %d: exited before the kill: %v", i, p.Err())
		}
		if err := p.Kill(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if !p.Exited() || p.Err() == nil {
			t.Errorf("run %d: after Kill: exited %v, err %v", i, p.Exited(), p.Err())
		}
		if err := syscall.Kill(p.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("run %d: pid %d after Kill: kill(0) = %v, want ESRCH (reaped)", i, p.Pid(), err)
		}
		if err := p.Kill(time.Second); err != nil { // again: nothing to kill
			t.Errorf("run %d: second Kill: %v", i, err)
		}
	}
}

func TestSignalAndWait(t *testing.T) {
	t.Parallel()
	p, err := Start("/bin/sh", []string{"-c", "trap 'echo bye; exit 3' INT; echo ready; while :; do sleep 0.01; done"},
		Options{LogPath: filepath.Join(t.TempDir(), "log")})
	if err != nil {
		t.Fatal(err)
	}
	waitOutput(t, p, "ready")
	p.Signal(syscall.SIGINT)
	if !p.Wait(10 * time.Second) {
		t.Fatal("not reaped after SIGINT")
	}
	if !strings.Contains(string(p.Output()), "bye") || p.Err() == nil {
		t.Errorf("output %q, err %v; want bye and exit status 3", p.Output(), p.Err())
	}
}

func TestStartFails(t *testing.T) {
	t.Parallel()
	if _, err := Start("/nonexistent/binary", nil, Options{LogPath: filepath.Join(t.TempDir(), "log")}); err == nil {
		t.Error("Start of a missing binary: no error")
	}
	if _, err := Start("/bin/sh", nil, Options{LogPath: "/nonexistent/dir/log"}); err == nil {
		t.Error("Start with a log in a missing directory: no error")
	}
}

func TestWithTail(t *testing.T) {
	t.Parallel()
	err := WithTail(errors.New("boom"), "x.log", []byte("a\nb\nc\n"), 2)
	if got := err.Error(); got != "boom\n--- last lines of x.log ---\nb\nc" {
		t.Errorf("WithTail = %q", got)
	}
	if got := Tail([]byte("a"), 5); got != "a" {
		t.Errorf("Tail = %q", got)
	}
}
