package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// EnvVar is the environment variable that turns integration tests on ("TIERCACHE_INTEGRATION"). It has
// the same value as redistest.EnvVar, so that one switch runs every integration test. Any value other
// than "", "0" and "false" turns them on.
const EnvVar = "TIERCACHE_INTEGRATION"

// serverUser is the OS user that runs initdb and postgres when this process is root (PostgreSQL refuses
// to run as root).
const serverUser = "postgres"

// Require skips t (with a message saying how to enable) when [EnvVar] is unset; when it is set and the
// PostgreSQL binaries cannot be found (or, for root, the postgres user), it fails t with a clear message.
func Require(t testing.TB) {
	t.Helper()
	if !enabled() {
		t.Skipf("integration test skipped: set %s=1 to run it against a real PostgreSQL server", EnvVar)
	}
	if _, err := findBinaries(); err != nil {
		t.Fatalf("%s is set but %v", EnvVar, err)
	}
	if _, err := serverCredential(); err != nil {
		t.Fatalf("%s is set but %v", EnvVar, err)
	}
}

// Enabled reports whether [EnvVar] turns integration tests on.
func Enabled() bool { return enabled() }

func enabled() bool {
	switch strings.ToLower(os.Getenv(EnvVar)) {
	case "", "0", "false":
		return false
	}
	return true
}

// binaries are the paths of the PostgreSQL programs pgtest runs.
type binaries struct {
	initdb, postgres, pgIsReady, psql string
}

// findBinaries looks for initdb on PATH (following symlinks), else in the highest
// /usr/lib/postgresql/VERSION/bin, and takes postgres, pg_isready and psql from the same directory, or
// else from PATH.
func findBinaries() (binaries, error) {
	dir, err := binDir()
	if err != nil {
		return binaries{}, err
	}
	var b binaries
	for _, f := range []struct {
		name string
		path *string
	}{{"initdb", &b.initdb}, {"postgres", &b.postgres}, {"pg_isready", &b.pgIsReady}, {"psql", &b.psql}} {
		path := filepath.Join(dir, f.name)
		if !executable(path) {
			if path, err = exec.LookPath(f.name); err != nil {
				return binaries{}, fmt.Errorf("pgtest: %s not found in %s or on PATH "+
					"(install PostgreSQL, e.g. apt-get install postgresql)", f.name, dir)
			}
		}
		*f.path = path
	}
	return b, nil
}

// binDir returns the directory of initdb: the one found on PATH (symlinks resolved), else the
// /usr/lib/postgresql/VERSION/bin of the highest version that holds an initdb.
func binDir() (string, error) {
	if path, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(path); err == nil {
			return filepath.Dir(resolved), nil
		}
		return filepath.Dir(path), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin") // the pattern is valid
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return !executable(filepath.Join(d, "initdb")) })
	if len(dirs) == 0 {
		return "", errors.New("pgtest: initdb not found on PATH or in /usr/lib/postgresql/*/bin " +
			"(install PostgreSQL, e.g. apt-get install postgresql)")
	}
	return slices.MaxFunc(dirs, compareVersionDirs), nil
}

// compareVersionDirs orders /usr/lib/postgresql/VERSION/bin directories by VERSION, numerically
// ("9.6" < "15" < "16"); what does not parse sorts first.
func compareVersionDirs(a, b string) int {
	return slices.Compare(versionOf(a), versionOf(b))
}

// versionOf returns the numbers of VERSION in .../VERSION/bin, nil when it is not a version.
func versionOf(binDir string) []int {
	var v []int
	for part := range strings.SplitSeq(filepath.Base(filepath.Dir(binDir)), ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil
		}
		v = append(v, n)
	}
	return v
}

// executable reports whether path is a regular file that someone may execute.
func executable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}

// serverCredential returns the user and group that initdb and postgres run as: nil (this process's
// own) unless this process is root, which PostgreSQL refuses; then those of the postgres user.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return nil, fmt.Errorf("pgtest: PostgreSQL refuses to run as root and there is no %q user to run it: %w",
			serverUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: user %s: uid %q: %w", serverUser, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: user %s: gid %q: %w", serverUser, u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
