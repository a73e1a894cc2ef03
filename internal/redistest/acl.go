package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ACL is the access of the user tiercache connects as: the commands that its
// stores, buses and go-redis clients send (one node and Cluster), and no
// other. Every server of this package gives it to its default user, so the
// whole test suite runs tiercache under it, and a command it lacks fails a
// test (see [Server.Denied]); test code that administers or inspects Redis
// connects as the admin user instead ([AdminOptions]). The README's
// production checklist shows the same rules (TestACLDocumented).
const ACL = "~* &* -@all" +
	" +get +mget +set +del +unlink +scan +getrange +spop +sadd +pttl +pexpire" + // values, tombstones, leases, tags, prefixes
	" +evalsha +eval" + // the scripts of leases, conditional writes and tags
	" +publish +subscribe +spublish +ssubscribe +ping +xrevrange" + // the bus (XREVRANGE: its log)
	" +hello +cluster|slots +command" + // go-redis's handshake and Cluster routing (and +client|setinfo from Redis 7.2 on)
	" +asking" + // go-redis follows the ASK redirects of a slot migration with ASKING
	" +xadd +xreadgroup +xautoclaim +xpending +xack +xdel +xlen +xrange +xgroup|create" + // the durable write-behind queue (Redis Streams)
	" +info" // redisstore.Memory and promstats.NewRedisCollector (INFO memory stats replication); rueidisstore.DeletePrefix on a Cluster (INFO replication)

// The admin user of every server: all commands, for the tests' own
// administration and inspection.
const (
	adminUser     = "admin"
	adminPassword = "redistest-admin"
)

// AdminOptions returns client options that connect to addr as the admin
// user, which may run every command.
func AdminOptions(addr string) *redis.Options {
	return &redis.Options{Addr: addr, Username: adminUser, Password: adminPassword}
}

// AdminClusterOptions returns Cluster client options that connect to addrs
// as the admin user.
func AdminClusterOptions(addrs []string) *redis.ClusterOptions {
	return &redis.ClusterOptions{Addrs: addrs, Username: adminUser, Password: adminPassword}
}

// aclArgs returns the redis-server arguments that set up the two users.
func aclArgs() []string {
	args := []string{"--user", "default", "on", "nopass"}
	args = append(args, strings.Fields(ACL)...)
	return append(args, "--user", adminUser, "on", ">"+adminPassword, "~*", "&*", "+@all")
}

// Denied returns the commands that the server refused to its users since it
// started (ACL LOG), as "user: command (reason)"; empty when none was.
func (s *Server) Denied() ([]string, error) {
	c := redis.NewClient(AdminOptions(s.Addr()))
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	entries, err := c.ACLLog(ctx, 100).Result()
	if err != nil {
		return nil, fmt.Errorf("redistest: ACL LOG of %s: %w", s.Addr(), err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s: %s (%s %s, %d times)", e.Username, e.Object, e.Reason, e.Context, e.Count))
	}
	return out, nil
}

// checkDenied fails t when a server refused a command to a user: tiercache
// sent a command that ACL lacks (or a test sent an admin command as the
// default user). A stopped server is skipped.
func checkDenied(t testing.TB, servers ...*Server) {
	t.Helper()
	for _, s := range servers {
		if !s.running() {
			continue
		}
		denied, err := s.Denied()
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(denied) > 0 {
			t.Errorf("redis-server %s refused commands that redistest.ACL lacks: %s", s.Addr(), strings.Join(denied, "; "))
		}
	}
}
