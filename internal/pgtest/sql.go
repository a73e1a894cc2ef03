package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// psqlWaitDelay bounds the wait for psql's output once ctx is done and psql has been killed.
const psqlWaitDelay = time.Second

// SQL runs query in database db with psql as the superuser (psql -X -A -t -v ON_ERROR_STOP=1) and
// returns its output, trimmed: unaligned rows without headers, one a line, columns separated by "|".
// It is meant for setting up tests that have no Go driver. db may also be a connection string, as for
// psql -d ("dbname=postgres replication=database"); host, port and user are the server's. Errors
// quote psql's messages.
func (s *Server) SQL(ctx context.Context, db, query string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bins.psql, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", superuser, "-d", db, "-c", query)
	cmd.Env = append(os.Environ(), "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
	cmd.WaitDelay = psqlWaitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("pgtest: psql on %s, database %s: %w: %s", s.Addr(), db, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}
