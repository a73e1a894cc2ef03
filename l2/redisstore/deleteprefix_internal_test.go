package redisstore

import "testing"

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
		if got := escapeGlob(tc.in); got != tc.want {
			t.Errorf("escapeGlob(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
