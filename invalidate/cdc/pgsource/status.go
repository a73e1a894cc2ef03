package pgsource

import (
	"encoding/binary"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgproto3"
)

// pgEpoch is the origin of PostgreSQL's timestamps.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// statusUpdate encodes a standby status update ('r') in a CopyData
// message, as the replication protocol has it: the WAL positions written,
// flushed and applied, the client's clock and whether the server must
// reply at once. The source gives the same position for all three: the
// flush position is the one that moves the slot.
//
// It is encoded here, and written to the socket by the session itself,
// rather than sent with pglogrepl.SendStandbyStatusUpdate: that function
// goes through pgconn's Frontend, whose buffer pgconn also uses (to say
// goodbye) when a receive fails on another goroutine, and it replaces a
// zero flush position with the write position, which would confirm what
// was never applied.
func statusUpdate(pos pglogrepl.LSN, now time.Time, replyRequested bool) []byte {
	data := make([]byte, 0, 34)
	data = append(data, pglogrepl.StandbyStatusUpdateByteID)
	data = binary.BigEndian.AppendUint64(data, uint64(pos)) // written
	data = binary.BigEndian.AppendUint64(data, uint64(pos)) // flushed
	data = binary.BigEndian.AppendUint64(data, uint64(pos)) // applied
	data = binary.BigEndian.AppendUint64(data, uint64(now.Sub(pgEpoch).Microseconds()))
	reply := byte(0)
	if replyRequested {
		reply = 1
	}
	data = append(data, reply)
	msg, _ := (&pgproto3.CopyData{Data: data}).Encode(nil) // fails only beyond 1 GiB
	return msg
}
