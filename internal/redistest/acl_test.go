package redistest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
)

// The default user of a test server may run the commands of
// redistest.ACL and no other; the admin user may run any.
func TestACL_DefaultUserIsRestricted(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	ctx := context.Background()
	user := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer func() { _ = user.Close() }()
	if err := user.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET as the default user: %v", err)
	}
	if err := user.ConfigGet(ctx, "maxmemory").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("CONFIG GET as the default user: %v, want NOPERM", err)
	}
	admin := redis.NewClient(redistest.AdminOptions(srv.Addr()))
	defer func() { _ = admin.Close() }()
	if err := admin.ConfigGet(ctx, "maxmemory").Err(); err != nil {
		t.Fatalf("CONFIG GET as the admin: %v", err)
	}
	denied, err := srv.Denied()
	if err != nil || len(denied) != 1 || !strings.Contains(denied[0], "config|get") {
		t.Fatalf("Denied = %v, %v; want the CONFIG GET", denied, err)
	}
	if _, err := admin.Do(ctx, "ACL", "LOG", "RESET").Result(); err != nil { // the refusal was the test's own
		t.Fatal(err)
	}
}

// The README's production checklist shows the ACL that the whole suite runs
// tiercache under.
func TestACLDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), redistest.ACL) {
		t.Errorf("README.md does not show the ACL rules %q", redistest.ACL)
	}
}
