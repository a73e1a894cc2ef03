package redisbus

import "testing"

func TestIDAfter(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1700000000001-0", "1700000000000-5", true},
		{"1700000000000-5", "1700000000001-0", false},
		{"1700000000000-10", "1700000000000-9", true}, // numbers, not strings
		{"1700000000000-9", "1700000000000-9", false},
		{"1-0", "0-0", true},
		{"0-0", "0-0", false},
		{"garbage", "1-0", false}, // a malformed ID reads as 0-0
	} {
		if got := idAfter(tc.a, tc.b); got != tc.want {
			t.Errorf("idAfter(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// recent keeps the last size messages, and forgets the oldest first.
func TestRecent(t *testing.T) {
	r := recent{size: 3}
	for seq := uint64(1); seq <= 5; seq++ {
		r.add(heard{"a", seq})
		r.add(heard{"a", seq}) // a duplicate takes no room
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if got, want := r.has(heard{"a", seq}), seq >= 3; got != want {
			t.Errorf("has(a, %d) = %v, want %v", seq, got, want)
		}
	}
	if len(r.ring) != 3 || len(r.set) != 3 {
		t.Errorf("ring %d, set %d, want 3 and 3", len(r.ring), len(r.set))
	}
}

func TestInfoField(t *testing.T) {
	text := "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\n# Replication\r\nrole:master\r\nmaster_replid:def\r\nmaster_replid2:0000\r\n"
	for name, want := range map[string]string{"run_id": "abc123", "role": "master", "master_replid": "def", "master_replid2": "0000", "missing": ""} {
		if got := infoField(text, name); got != want {
			t.Errorf("infoField(%q) = %q, want %q", name, got, want)
		}
	}
}
