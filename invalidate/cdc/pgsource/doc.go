// Package pgsource feeds a [cdc.Engine] with the changes of a PostgreSQL
// database, read through logical replication: the pgoutput plugin
// (PostgreSQL 10 and later), protocol version 1, from a permanent
// replication slot. It lives in a module of its own so that only the
// services that use it link pgx and pglogrepl.
//
//	engine, _ := cdc.New(&cdc.Options{
//		Rules:   []cdc.Rule{{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}}},
//		Targets: map[string]cdc.Target{"user": users}, // a *tiered.Invalidator
//	})
//	src, err := pgsource.New(&pgsource.Options{
//		DSN:               "postgres://cdc@db:5432/app",
//		Engine:            engine,
//		CreatePublication: true, // FOR TABLE public.users: the rules' tables
//		CreateSlot:        true,
//	})
//	if err != nil {
//		return err
//	}
//	err = src.Run(ctx) // until ctx ends; reconnects meanwhile
//
// The server needs wal_level=logical, and the user the REPLICATION
// attribute (and, to create the publication, to own the tables).
//
// # Delivery
//
// A [Source] confirms a position to the server (the flush position of a
// standby status update, which moves the slot) only once the engine has
// applied every change before it: the end of the last transaction applied
// whole, or, while no change is pending, the end of the WAL the server has
// decoded (so that writes to other tables do not make the slot keep WAL
// forever). The changes after it are sent again by the server after a
// reconnection or a restart of the source, and applied again: at least
// once. Evictions are idempotent, so that does no harm. The position a
// server confirmed survives its own crash only once it wrote a checkpoint:
// after a crash, the server may send changes again too.
//
// Changes go to the engine in batches of at most Options.MaxBatch, each
// made of whole transactions, as soon as nothing more has arrived; a
// transaction larger than a batch goes in parts, and is confirmed after its
// last. A batch the engine fails to apply is applied again, with backoff,
// before anything else; a change the engine cannot map goes to its dead
// letters and never stops the stream.
//
// # Rows
//
// Each change becomes a [cdc.Event] of its table (Database the DSN's
// database, Schema and Name the table's), with its transaction's commit
// time and its WAL position ("0/16B3748"). Columns are in PostgreSQL's
// text form, integers digit for digit ("9007199254740993"); NULLs are
// absent, and so are unchanged TOASTed values of an update's new row,
// unless the old row carries them. An insert is a [cdc.Create], an update
// a [cdc.Update], a delete a [cdc.Delete], and a TRUNCATE one
// [cdc.Truncate] per table.
//
// What an update's or a delete's old row holds is the table's REPLICA
// IDENTITY: with DEFAULT, only the primary key (and on an update that
// keeps the key, nothing). A rule that maps other columns (a tag
// "company:{company_id}", a key "{email}") needs REPLICA IDENTITY FULL to
// evict what the old row mapped to: [Source.Check] says which rules, and
// Run logs it when it starts.
//
// # Visibility
//
// The server may send a transaction as soon as its commit record is on
// disk, a moment before other sessions can see it (under load, about one
// update in 10,000 on a small machine; for as long as a commit waits for a
// synchronous standby). A cache that evicted the row then and reloaded it
// at once would read the previous version and keep it until the row's
// next change. So, before applying a batch, the source waits until the
// batch's transactions are visible to new queries, looking at
// pg_current_snapshot() on an ordinary connection (once per batch, unless
// an earlier look showed them visible already). Options.SkipVisibilityWait
// turns the wait off.
package pgsource
