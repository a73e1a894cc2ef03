package pgsource

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// The status update has the layout of the replication protocol: a
// CopyData ('d', length) holding 'r', the written, flushed and applied
// positions, the client's clock in microseconds since 2000 and the reply
// flag. All three positions are the one given, never zero for another.
func TestStatusUpdate(t *testing.T) {
	t.Parallel()
	now := pgEpoch.Add(90 * time.Second)
	msg := statusUpdate(0x1_0000_00AB, now, true)
	want := []byte{'d', 0, 0, 0, 38, 'r'}
	for range 3 {
		want = binary.BigEndian.AppendUint64(want, 0x1_0000_00AB)
	}
	want = binary.BigEndian.AppendUint64(want, 90_000_000)
	want = append(want, 1)
	if !bytes.Equal(msg, want) {
		t.Errorf("statusUpdate:\n got % x\nwant % x", msg, want)
	}
	if msg := statusUpdate(1, now, false); msg[len(msg)-1] != 0 {
		t.Errorf("reply flag %d, want 0", msg[len(msg)-1])
	}
}
