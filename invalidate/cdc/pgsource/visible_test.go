package pgsource

import (
	"reflect"
	"testing"
)

func TestParseSnapshot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want snapshot
	}{
		{"745:745:", snapshot{xmin: 745, xmax: 745}},
		{"745:750:745,748", snapshot{xmin: 745, xmax: 750, xip: []uint32{745, 748}}},
		// 64-bit ids: epoch 1; the stream's ids are the low 32 bits.
		{"4294967299:4294967302:4294967300", snapshot{xmin: 3, xmax: 6, xip: []uint32{4}}},
	} {
		got, err := parseSnapshot(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseSnapshot(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "1:2", "1:2:3:4", "a:2:", "1:b:", "1:2:x", "1:2:3,", "-1:2:"} {
		if _, err := parseSnapshot(bad); err == nil {
			t.Errorf("parseSnapshot(%q): no error", bad)
		}
	}
}

func TestSnapshotVisible(t *testing.T) {
	t.Parallel()
	sn := snapshot{xmin: 100, xmax: 105, xip: []uint32{100, 103}}
	for x, want := range map[uint32]bool{90: true, 100: false, 101: true, 103: false, 104: true, 105: false, 200: false} {
		if got := sn.visible(x); got != want {
			t.Errorf("visible(%d) = %v, want %v", x, got, want)
		}
	}
	// Around the wraparound of 32-bit ids: 4294967290 precedes 5.
	wrap := snapshot{xmin: 4294967290, xmax: 5, xip: []uint32{4294967295}}
	for x, want := range map[uint32]bool{4294967290: true, 4294967295: false, 2: true, 5: false, 6: false} {
		if got := wrap.visible(x); got != want {
			t.Errorf("across the wraparound: visible(%d) = %v, want %v", x, got, want)
		}
	}
}

// Transactions known to precede the oldest one running need no look at
// the server.
func TestVisibilityHorizon(t *testing.T) {
	t.Parallel()
	v := &visibility{}
	if v.allBefore([]uint32{1}) {
		t.Error("no horizon yet: allBefore = true")
	}
	if !v.allBefore(nil) {
		t.Error("no transaction: allBefore = false")
	}
	v.horizon, v.known = 100, true
	if !v.allBefore([]uint32{5, 99}) || v.allBefore([]uint32{5, 100}) {
		t.Error("allBefore disagrees with the horizon 100")
	}
}
