package redistest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// EnvVar is the environment variable that turns integration tests on ("TIERCACHE_INTEGRATION").
// Any value other than "", "0" and "false" turns them on.
const EnvVar = "TIERCACHE_INTEGRATION"

// serverBinary is the executable looked up on PATH.
const serverBinary = "redis-server"

// Require skips t (with a message saying how to enable) when [EnvVar] is unset; when it is set and
// redis-server cannot be found on PATH (or /usr/bin, /usr/sbin), it fails t with a clear message.
func Require(t testing.TB) {
	t.Helper()
	if !enabled() {
		t.Skipf("integration test skipped: set %s=1 to run it against a real redis-server", EnvVar)
	}
	if _, err := findServer(); err != nil {
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

// findServer returns the path of redis-server: on PATH, else in /usr/bin or /usr/sbin.
func findServer() (string, error) {
	if path, err := exec.LookPath(serverBinary); err == nil {
		return path, nil
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin"} {
		path := dir + "/" + serverBinary
		if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0 {
			return path, nil
		}
	}
	return "", errors.New("redistest: redis-server not found on PATH, in /usr/bin or in /usr/sbin " +
		"(install Redis >= 7.0, e.g. apt-get install redis-server)")
}
