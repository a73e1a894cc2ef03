package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
)

// Store is a Redis-backed store with queued values and leases, whose
// Redis keys a test can name.
type Store interface {
	l2.Stager
	l2.Leaser
	Key(key string) string
	LeaseKey(key string) string
	QueuedKey(key string) string
	ClaimKey(key string) string
}

// StageKeyFaults plants hashes (through admin, a client that may run every
// command) where s keeps queued values, claims and values, and checks
// that the scripts of Stage, Claim, Unstage and Lease replace a queued
// key or a claim of another type (it holds nothing the store wrote), and
// that Unstage on a value of another type fails that item alone with a
// key fault, deletes the value and its lease, and keeps the queued value
// and the claim.
func StageKeyFaults(t *testing.T, s Store, admin redis.UniversalClient) {
	ctx := t.Context()
	token := l2.NewToken()
	plant := func(t *testing.T, rk string) {
		t.Helper()
		if err := admin.Del(ctx, rk).Err(); err != nil {
			t.Fatalf("DEL %s: %v", rk, err)
		}
		if err := admin.HSet(ctx, rk, "field", "value").Err(); err != nil {
			t.Fatalf("HSET %s: %v", rk, err)
		}
	}
	gone := func(t *testing.T, rk, what string) {
		t.Helper()
		if n, err := admin.Exists(ctx, rk).Result(); err != nil || n != 0 {
			t.Errorf("EXISTS %s = %d, %v; want %s gone", rk, n, err, what)
		}
	}
	stage := func(t *testing.T, key string, want uint64) {
		t.Helper()
		n, err := s.Stage(ctx, []l2.StageItem{{Key: key, Value: []byte("v")}})
		if err != nil || !slices.Equal(n, []uint64{want}) {
			t.Fatalf("Stage(%q) = %v, %v; want [%d]", key, n, err, want)
		}
	}
	claim := func(t *testing.T, key string, want l2.Staged) {
		t.Helper()
		res, err := s.Claim(ctx, token, time.Minute, []string{key})
		if err != nil || len(res) != 1 || string(res[0].Value) != string(want.Value) || (res[0].Value == nil) != (want.Value == nil) ||
			res[0].Seq != want.Seq || res[0].Busy != want.Busy {
			t.Fatalf("Claim(%q) = %+v, %v; want [%+v]", key, res, err, want)
		}
	}

	t.Run("Stage", func(t *testing.T) {
		plant(t, s.QueuedKey("stage"))
		stage(t, "stage", 1)
		claim(t, "stage", l2.Staged{Value: []byte("v"), Seq: 1})
	})
	t.Run("ClaimQueued", func(t *testing.T) {
		plant(t, s.QueuedKey("claimq"))
		claim(t, "claimq", l2.Staged{})
		stage(t, "claimq", 1)
	})
	t.Run("Claim", func(t *testing.T) {
		stage(t, "claim", 1)
		plant(t, s.ClaimKey("claim"))
		claim(t, "claim", l2.Staged{Value: []byte("v"), Seq: 1})
	})
	t.Run("UnstageClaim", func(t *testing.T) {
		stage(t, "unstagec", 1)
		plant(t, s.ClaimKey("unstagec"))
		if err := s.Unstage(ctx, l2.NewToken(), []l2.UnstageItem{{Key: "unstagec", Seq: 1, TTL: time.Minute}}); err != nil {
			t.Fatalf("Unstage: %v", err)
		}
		gone(t, s.ClaimKey("unstagec"), "the claim of another type")
		claim(t, "unstagec", l2.Staged{Seq: 1})
	})
	t.Run("UnstageValue", func(t *testing.T) {
		stage(t, "unstagev", 1)
		stage(t, "fine", 1)
		claim(t, "unstagev", l2.Staged{Value: []byte("v"), Seq: 1})
		plant(t, s.Key("unstagev"))
		if err := admin.Set(ctx, s.LeaseKey("unstagev"), "a lease", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		err := s.Unstage(ctx, token, []l2.UnstageItem{{Key: "unstagev", Seq: 1, TTL: time.Minute}, {Key: "fine", Seq: 1, TTL: time.Minute}})
		var kf *l2.KeyFaults
		if !errors.Is(err, l2.ErrKeyFault) || !errors.As(err, &kf) || !slices.Equal(kf.Index, []int{0}) {
			t.Fatalf("Unstage = %v, want an *l2.KeyFaults of [0]", err)
		}
		gone(t, s.Key("unstagev"), "the value of another type")
		gone(t, s.LeaseKey("unstagev"), "its lease")
		claim(t, "fine", l2.Staged{Seq: 1}) // the other item was carried out
		// Nothing else changed: the value is queued, and claimed.
		claim(t, "unstagev", l2.Staged{Value: []byte("v"), Seq: 1})
		if err := s.Unstage(ctx, token, []l2.UnstageItem{{Key: "unstagev", Seq: 1, TTL: time.Minute}}); err != nil {
			t.Fatalf("Unstage after the repair: %v", err)
		}
		claim(t, "unstagev", l2.Staged{Seq: 1})
	})
	t.Run("Lease", func(t *testing.T) {
		plant(t, s.QueuedKey("lease"))
		a, err := s.Lease(ctx, token, time.Minute, []l2.Expect{{Key: "lease"}})
		if err != nil || len(a) != 1 || a[0].State != l2.LeaseGranted {
			t.Fatalf("Lease = %+v, %v; want granted", a, err)
		}
		gone(t, s.QueuedKey("lease"), "the queued key of another type")
	})
}
