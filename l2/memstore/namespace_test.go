package memstore_test

import (
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/l2test"
	"github.com/tiercache/tiercache/l2/memstore"
)

// A namespace view is a Store of its own: it passes the suite.
func TestNamespaceConformance(t *testing.T) {
	for _, ns := range []string{"user", "", "a:b"} {
		t.Run("ns="+ns, func(t *testing.T) {
			l2test.Run(t, l2test.Harness{New: func(t *testing.T) l2.Store {
				s := memstore.New(nil)
				t.Cleanup(func() { _ = s.Close() })
				return s.Namespace(ns)
			}})
		})
	}
}

// Key k of the view ns is key ns:k of the store, and no other key.
func TestNamespaceKeys(t *testing.T) {
	ctx := t.Context()
	s := memstore.New(nil)
	defer func() { _ = s.Close() }()
	set := func(st l2.Store, k, v string) {
		t.Helper()
		if err := st.Set(ctx, k, []byte(v), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	get := func(st l2.Store, k string) string {
		t.Helper()
		b, err := st.Get(ctx, k)
		if err != nil {
			return "<miss>"
		}
		return string(b)
	}
	user := s.Namespace("user")
	set(user, "42", "a")
	set(s, "x", "no namespace")
	set(s, ":x", "empty namespace")
	set(s, "a:b:c", "nested")
	for _, tc := range []struct {
		st   l2.Store
		k    string
		want string
	}{
		{s, "user:42", "a"},
		{user, "42", "a"},
		{s, "42", "<miss>"},
		{user, "user:42", "<miss>"},
		{s, "x", "no namespace"},
		{s, ":x", "empty namespace"},
		{s.Namespace(""), "x", "empty namespace"},
		{s.Namespace("a"), "b:c", "nested"},
		{s.Namespace("a:b"), "c", "nested"},
		{s.Namespace("a").(l2.Namespacer).Namespace("b"), "c", "nested"},
	} {
		if got := get(tc.st, tc.k); got != tc.want {
			t.Errorf("Get(%q) = %q, want %q", tc.k, got, tc.want)
		}
	}
	if err := user.Delete(ctx, "42"); err != nil {
		t.Fatal(err)
	}
	if got := get(s, "user:42"); got != "<miss>" {
		t.Errorf("after the view's Delete, the store reads %q", got)
	}
	if s.Len() != 3 {
		t.Errorf("Len = %d, want 3", s.Len())
	}
}
