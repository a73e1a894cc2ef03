package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tiercache/tiercache/internal/childproc"
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

// waitReady polls addr until process p answers, p exits or deadline passes.
// The error wraps errAddrInUse when the server could not bind its ports.
func waitReady(p *childproc.Process, addr string, deadline time.Time) error {
	for {
		if p.Exited() {
			out := p.Output()
			err := fmt.Errorf("redistest: redis-server on %s exited: %v", addr, p.Err()) //nolint:errorlint // nil after exit status 0, which %w would print as %!w(<nil>)
			if bytes.Contains(out, []byte("Address already in use")) {
				err = fmt.Errorf("%w: %w", errAddrInUse, err)
			}
			return childproc.WithTail(err, p.LogPath(), out, tailLines)
		}
		err := probe(addr, p.Pid())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("redistest: redis-server on %s not ready in time: %w", addr, err)
			return childproc.WithTail(err, p.LogPath(), p.Output(), tailLines)
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
	defer func() { _ = conn.Close() }()
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
