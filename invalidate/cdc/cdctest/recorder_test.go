package cdctest_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
)

func TestRecorder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := cdctest.NewRecorder()
	user, order := r.Target("user"), r.Target("order")
	_ = r.Delete(ctx, "1", "2")
	_ = user.Delete(ctx, "1")
	_ = user.InvalidateTags(ctx, "company:10")
	_ = order.Flush(ctx)
	_ = r.Delete(ctx, "1")
	if got, want := r.Calls(), []string{"delete 1 2", "user: delete 1", "user: tags company:10", "order: flush", "delete 1"}; !slices.Equal(got, want) {
		t.Errorf("Calls = %q, want %q", got, want)
	}
	if r.Count("1") != 2 || r.Count("user/1") != 1 || !r.Has("2") || r.Has("3") {
		t.Errorf("counts: 1=%d user/1=%d", r.Count("1"), r.Count("user/1"))
	}
	if got, want := r.Keys(), []string{"1", "2", "user/1"}; !slices.Equal(got, want) {
		t.Errorf("Keys = %q, want %q", got, want)
	}
	if got := r.Tags(); !slices.Equal(got, []string{"user/company:10"}) {
		t.Errorf("Tags = %q", got)
	}
	if total, distinct := r.Deletes(); total != 4 || distinct != 3 || r.Flushes() != 1 {
		t.Errorf("Deletes = %d, %d; Flushes = %d", total, distinct, r.Flushes())
	}

	down := errors.New("L2 down")
	r.FailWith(func(call string) error {
		if strings.HasPrefix(call, "delete") {
			return down
		}
		return nil
	})
	if err := user.Delete(ctx, "9"); !errors.Is(err, down) {
		t.Errorf("Delete while failing = %v", err)
	}
	if err := user.InvalidateTags(ctx, "x"); err != nil {
		t.Errorf("InvalidateTags = %v", err)
	}
	if r.Has("user/9") || r.Failed() != 1 {
		t.Errorf("a failed call recorded its key, or Failed = %d", r.Failed())
	}
	r.Reset()
	if len(r.Calls()) != 0 || len(r.Keys()) != 0 || r.Failed() != 0 {
		t.Error("Reset kept something")
	}
}

func TestFileTarget(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/keys"
	if keys, err := cdctest.ReadKeys(path); err != nil || len(keys) != 0 {
		t.Fatalf("ReadKeys of a missing file = %v, %v", keys, err)
	}
	ft, err := cdctest.NewFileTarget(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = ft.Delete(ctx, "1", "2")
	_ = ft.Delete(ctx, "1")
	if err := ft.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("3") // cut by a kill
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	keys, err := cdctest.ReadKeys(path)
	if err != nil || keys["1"] != 2 || keys["2"] != 1 || len(keys) != 2 {
		t.Errorf("ReadKeys = %v, %v; want 1 twice, 2 once, not the cut 3", keys, err)
	}
}
