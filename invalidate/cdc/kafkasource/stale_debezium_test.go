package kafkasource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
)

// staleRow is a row of public.rows, the value type of the stale test's
// caches.
type staleRow struct {
	ID   int64
	V    int64
	Note string
}

// staleFeed runs the stale test's SQL statements and emulates Debezium:
// each committed change of public.rows becomes its Debezium change event
// (and, after a delete, the Kafka tombstone), produced to the row's
// partition (id mod stalePartitions) right after the commit returned.
//
// Debezium's order per row is the commit order. Here each id belongs to
// one writer (id mod staleWriters), which runs one statement at a time and
// hands its events to the producer before the next: the writes of a row
// are serialized, and one producer keeps the order of the records of a
// partition, so the order of a row's events in its partition is the order
// of its commits. An event is produced only once its commit returned, so
// its change is visible by then: the visibility gap that real Debezium
// can open (see the package documentation) is not exercised here.
type staleFeed struct {
	db   *pgxpool.Pool
	prod *kgo.Client

	statements                atomic.Int64 // committed
	inserts, updates, deletes atomic.Int64
	changes, tombstones       atomic.Int64 // records produced
	produceErr                atomic.Pointer[error]

	// commits counts each id's committed statements: a loader that sees
	// it move while it runs raced a commit of its row.
	commits [staleMaxID + 1]atomic.Int64
	// next holds, per writer, the id it writes next: readers read these
	// rows on purpose, so that their loads race the writes.
	next [staleWriters]atomic.Int64
	// history holds each id's last changes, for failure reports; only the
	// id's writer touches it while the writers run.
	history [staleMaxID + 1][]string
}

// run runs staleStatements statements, shared among staleWriters writers,
// and returns when they are all done and their events produced. Failures
// are reported through errorf.
func (f *staleFeed) run(ctx context.Context, errorf func(string, ...any)) {
	var wg sync.WaitGroup
	for w := range staleWriters {
		n := staleStatements / staleWriters
		if w < staleStatements%staleWriters {
			n++
		}
		wg.Go(func() {
			if err := f.write(ctx, w, n); err != nil {
				errorf("writer %d: %v", w, err)
			}
		})
	}
	wg.Wait()
	if err := f.prod.Flush(ctx); err != nil {
		errorf("flush the producer: %v", err)
	}
	if err := f.produceErr.Load(); err != nil {
		errorf("produce: %v", *err)
	}
}

// produced counts a record that Kafka took, or keeps the first error.
func (f *staleFeed) produced(r *kgo.Record, err error) {
	switch {
	case err != nil:
		f.produceErr.CompareAndSwap(nil, &err)
	case len(r.Value) > 0:
		f.changes.Add(1)
	default:
		f.tombstones.Add(1)
	}
}

// The statements, in autocommit transactions. RETURNING gives the row
// after (insert, update) or before (delete) the change, the transaction's
// id, and a WAL position read during the statement (a little before the
// commit's LSN, which Debezium reports; the decoder does not read it).
const (
	staleReturning = ` RETURNING id, v, note, txid_current(), (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint`
	staleInsert    = `INSERT INTO public.rows (id, v, note) VALUES ($1, $2, $3)` + staleReturning
	staleUpdate    = `UPDATE public.rows SET v = v + 1 WHERE id = $1` + staleReturning
	staleDelete    = `DELETE FROM public.rows WHERE id = $1` + staleReturning
)

// write runs n statements on the ids of writer w.
func (f *staleFeed) write(ctx context.Context, w, n int) error {
	rnd := rand.New(rand.NewPCG(uint64(w), 13))
	var ids []int64
	for id := int64(1); id <= staleMaxID; id++ {
		if id%staleWriters == int64(w) {
			ids = append(ids, id)
		}
	}
	exists := make(map[int64]bool)
	for _, id := range ids {
		exists[id] = id <= staleRows
	}
	// lastV is each id's last v: every version of a row, across deletes
	// and inserts, has a v of its own, so that no stale row can pass for
	// the current one.
	lastV := make(map[int64]int64)
	var recent []int64 // the last ids written, written again on purpose
	for s := range n {
		id := ids[rnd.IntN(len(ids))]
		if len(recent) > 0 && rnd.IntN(10) < 4 {
			id = recent[rnd.IntN(len(recent))]
		}
		f.next[w].Store(id)
		var (
			op, query string
			args      []any
			kind      *atomic.Int64
			r         staleRow
			txID, lsn int64
		)
		switch {
		case !exists[id]:
			op, query, args, kind = "c", staleInsert, []any{id, lastV[id] + 1, fmt.Sprintf("w%d s%d", w, s)}, &f.inserts
		case rnd.IntN(10) < 3:
			op, query, args, kind = "d", staleDelete, []any{id}, &f.deletes
		default:
			op, query, args, kind = "u", staleUpdate, []any{id}, &f.updates
		}
		if err := f.db.QueryRow(ctx, query, args...).Scan(&r.ID, &r.V, &r.Note, &txID, &lsn); err != nil {
			return fmt.Errorf("statement %d (%s of id %d): %w", s, op, id, err)
		}
		// Committed: the commit returned with the RETURNING row. Its
		// events go to the producer at once.
		committed := time.Now()
		for _, rec := range staleEvents(s, op, r, txID, lsn, committed) {
			f.prod.Produce(ctx, rec, f.produced)
		}
		f.commits[id].Add(1)
		kind.Add(1)
		f.statements.Add(1)
		exists[id] = op != "d"
		lastV[id] = r.V
		f.history[id] = append(f.history[id], fmt.Sprintf("%s v=%d at %s", op, r.V, committed.Format("15:04:05.000000")))
		if len(recent) == 3 {
			recent = recent[1:]
		}
		recent = append(recent, id)
	}
	return nil
}

// staleHistory returns the last changes of id, oldest first.
func (f *staleFeed) staleHistory(id int64) string {
	h := f.history[id]
	return strings.Join(h[max(0, len(h)-5):], "; ")
}

// staleEvents returns the Kafka records Debezium's PostgreSQL connector
// writes for the s-th statement of a writer, of operation op ("c", "u" or
// "d") on row r (the row after the change; before it for a delete): the
// change event, keyed by the row's primary key, and after a delete the
// tombstone (same key, nil value). The forms vary with s: the JSON
// converter's schemas.enable alternates (value and key in the
// {"schema":..., "payload":...} wrapper, or bare), and the old row of
// updates and deletes is sometimes the full row (REPLICA IDENTITY FULL)
// and sometimes what REPLICA IDENTITY DEFAULT gives (no old row on an
// update, the key alone on a delete).
func staleEvents(s int, op string, r staleRow, txID, lsn int64, committed time.Time) []*kgo.Record {
	full := (s/2)%2 == 0
	payload := stalePayload{
		Op:     op,
		TsMs:   time.Now().UnixMilli(),
		Source: staleDbzSource(txID, lsn, committed),
	}
	row := &staleDbzRow{ID: r.ID, V: &r.V, Note: &r.Note}
	switch op {
	case "c":
		payload.After = row
	case "u":
		payload.After = row
		if full {
			old := r.V - 1
			payload.Before = &staleDbzRow{ID: r.ID, V: &old, Note: &r.Note}
		}
	case "d":
		payload.Before = row
		if !full {
			// DEFAULT: the key's columns, the others at their defaults.
			zero := int64(0)
			payload.Before = &staleDbzRow{ID: r.ID, V: &zero}
		}
	}
	key := []byte(`{"id":` + strconv.FormatInt(r.ID, 10) + `}`)
	var value any = payload
	if s%2 == 1 {
		key = []byte(`{"schema":` + staleKeySchema + `,"payload":` + string(key) + `}`)
		value = staleWrapped{Schema: json.RawMessage(staleValueSchema), Payload: payload}
	}
	v, err := json.Marshal(value)
	if err != nil {
		panic(err) // plain structs: cannot fail
	}
	partition := int32(r.ID % stalePartitions)
	records := []*kgo.Record{{Topic: staleTopic, Partition: partition, Key: key, Value: v}}
	if op == "d" {
		records = append(records, &kgo.Record{Topic: staleTopic, Partition: partition, Key: key})
	}
	return records
}

// staleDbzRow is a row of public.rows in a Debezium event: v and note are
// null when absent.
type staleDbzRow struct {
	ID   int64   `json:"id"`
	V    *int64  `json:"v"`
	Note *string `json:"note"`
}

// stalePayload is a Debezium change event, the payload of the wrapper
// when schemas are enabled.
type stalePayload struct {
	Before      *staleDbzRow    `json:"before"`
	After       *staleDbzRow    `json:"after"`
	Source      staleSource     `json:"source"`
	Op          string          `json:"op"`
	TsMs        int64           `json:"ts_ms"`
	Transaction json.RawMessage `json:"transaction"`
}

// staleSource is the source block of a Debezium 3 PostgreSQL connector's
// event.
type staleSource struct {
	Version   string          `json:"version"`
	Connector string          `json:"connector"`
	Name      string          `json:"name"`
	TsMs      int64           `json:"ts_ms"`
	Snapshot  string          `json:"snapshot"`
	DB        string          `json:"db"`
	Sequence  string          `json:"sequence"`
	Schema    string          `json:"schema"`
	Table     string          `json:"table"`
	TxID      int64           `json:"txId"`
	LSN       int64           `json:"lsn"`
	Xmin      json.RawMessage `json:"xmin"`
}

func staleDbzSource(txID, lsn int64, committed time.Time) staleSource {
	return staleSource{
		Version: "3.0.5.Final", Connector: "postgresql", Name: staleTopicPrefix, TsMs: committed.UnixMilli(),
		Snapshot: "false", DB: "postgres", Sequence: fmt.Sprintf(`[null,"%d"]`, lsn), Schema: "public", Table: "rows",
		TxID: txID, LSN: lsn, Xmin: json.RawMessage("null"),
	}
}

// staleWrapped is a value as the JSON converter writes it with
// schemas.enable.
type staleWrapped struct {
	Schema  json.RawMessage `json:"schema"`
	Payload stalePayload    `json:"payload"`
}

// The Connect schemas of the topic's keys and values.
const (
	staleKeySchema = `{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],` +
		`"optional":false,"name":"` + staleTopic + `.Key"}`
	staleRowSchema = `"fields":[{"type":"int64","optional":false,"field":"id"},` +
		`{"type":"int64","optional":false,"field":"v"},{"type":"string","optional":true,"field":"note"}],` +
		`"optional":true,"name":"` + staleTopic + `.Value"`
	staleValueSchema = `{"type":"struct","fields":[` +
		`{"type":"struct",` + staleRowSchema + `,"field":"before"},` +
		`{"type":"struct",` + staleRowSchema + `,"field":"after"},` +
		`{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},` +
		`{"type":"string","optional":false,"field":"connector"},{"type":"string","optional":false,"field":"name"},` +
		`{"type":"int64","optional":false,"field":"ts_ms"},{"type":"string","optional":true,"field":"snapshot"},` +
		`{"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"sequence"},` +
		`{"type":"string","optional":false,"field":"schema"},{"type":"string","optional":false,"field":"table"},` +
		`{"type":"int64","optional":true,"field":"txId"},{"type":"int64","optional":true,"field":"lsn"},` +
		`{"type":"int64","optional":true,"field":"xmin"}],"optional":false,` +
		`"name":"io.debezium.connector.postgresql.Source","field":"source"},` +
		`{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},` +
		`{"type":"struct","fields":[{"type":"string","optional":false,"field":"id"},` +
		`{"type":"int64","optional":false,"field":"total_order"},` +
		`{"type":"int64","optional":false,"field":"data_collection_order"}],"optional":true,` +
		`"name":"event.block","field":"transaction"}],` +
		`"optional":false,"name":"` + staleTopic + `.Envelope","version":2}`
)
