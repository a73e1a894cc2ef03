package rediskey_test

import (
	"testing"

	"github.com/tiercache/tiercache/internal/rediskey"
)

func TestEscapeGlob(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"{tc:user:", "{tc:user:"},
		{"a*[b]?", `a\*\[b\]\?`},
		{`a\b`, `a\\b`},
		{`*?[]\`, `\*\?\[\]\\`},
		{"^-!{}", "^-!{}"}, // special only inside brackets, which are escaped
	}
	for _, tc := range tests {
		if got := rediskey.EscapeGlob(tc.in); got != tc.want {
			t.Errorf("EscapeGlob(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	value := "{tc:user:42}"
	tests := []struct {
		rk   string
		want rediskey.Kind
	}{
		{value, rediskey.Value},
		{value + rediskey.LeaseSuffix, rediskey.Lease},
		{value + rediskey.QueuedSuffix, rediskey.Queued},
		{value + rediskey.ClaimSuffix, rediskey.Claim},
		{"{tc:user" + rediskey.TagInfix + "vip}" + rediskey.TagSuffix, rediskey.TagIndex},
		{"{tc:user:42}:lease:x", rediskey.Other},
		{"{tc:user:42}:other", rediskey.Other},
		{"tc:user:42", rediskey.Other},
		// A logical key may end as a suffix does; inside the braces it is
		// a value's key all the same.
		{"{tc:user:42:lease}", rediskey.Value},
	}
	for _, tc := range tests {
		if got := rediskey.KindOf(tc.rk); got != tc.want {
			t.Errorf("KindOf(%q) = %d, want %d", tc.rk, got, tc.want)
		}
	}
}
