package redisstore

import "testing"

// The expected slots are CLUSTER KEYSLOT answers of redis-server 7.0.15; the
// first ones are the examples of the Redis Cluster specification.
func TestKeySlot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want uint16
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"123456789", 12739}, // CRC-16/XMODEM check value 0x31C3
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", 8363},    // empty tag: the whole key
		{"foo{{bar}}zap", 4015}, // tag "{bar"
		{"foo{bar}{zap}", 5061}, // tag "bar", as "bar"
		{"{}", 15257},
		{"}{", 12793},
		{"", 0},
		{"a", 15495},
		{"a\x00b", 8383},
		{"user:42", 15880},
		{"tc:user:42", 3709},
		{"{tc:user:42}", 3709},
		{"{tc:user:42}:lease", 3709},
		{"{tc:a}", 7270},
		{"{tc:a}b}", 7270},
		{"{tc:{a}}", 15566}, // tag "tc:{a"
	}
	for _, tc := range tests {
		if got := keySlot(tc.key); got != tc.want {
			t.Errorf("keySlot(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
}

func BenchmarkKeySlot(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		keySlot("{tc:user:1234567}")
	}
}
