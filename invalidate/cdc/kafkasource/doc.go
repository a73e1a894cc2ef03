// Package kafkasource feeds a [cdc.Engine] with the Debezium change events
// of Kafka topics: a consumer group over one topic per table
// ("prefix.schema.table"), read with franz-go, that commits a record's
// offset only once its eviction was applied.
//
//	engine, err := cdc.New(&cdc.Options{Rules: rules, Targets: targets})
//	...
//	src, err := kafkasource.New(&kafkasource.Options{
//		Brokers: []string{"kafka-1:9092", "kafka-2:9092"},
//		Group:   "orders-service-cache",
//		Topics:  []string{"dbserver1.public.users", "dbserver1.public.orders"},
//		Engine:  engine,
//	})
//	...
//	err = src.Run(ctx) // until ctx ends; then leaves the group
//
// Give every instance of a service its own Source in one group: Kafka
// shares the topics' partitions among them, and an eviction reaches every
// instance's L1 through the namespace's bus anyway. One group per
// service (or per set of namespaces) is enough.
//
// # Delivery
//
// [Source.Run] polls up to Options.MaxBatch records, decodes each with
// [cdc.DecodeDebezium], hands the changes to Engine.Apply, and commits
// exactly the records of that poll once Apply returned nil. When Apply
// fails, the same batch is applied again with a doubling backoff until it
// succeeds: nothing of it is committed meanwhile. Auto-commit is off, so
// nothing is committed on a timer, on Close or on a rebalance; rebalances
// wait for the batch in hand (kgo.BlockRebalanceOnPoll), and a batch that
// a rebalance waits for while Apply keeps failing is given back (its
// partitions rewound, nothing committed) so that the group can move on.
// A record that was not committed is read again, by this member or by the
// one that takes its partition, also after a crash (once the group's
// session timeout has passed): changes are applied at least once, which
// the engine's evictions tolerate.
//
// Tombstones (the nil value that follows each delete) and logical decoding
// messages are skipped. A record that cannot be decoded is dead-lettered
// through Engine.Reject, with its value and its position
// ("topic/partition@offset", also the Position of every event), after its
// batch was applied, and committed with it: it never stops the stream.
//
// # Visibility
//
// Debezium reads PostgreSQL's logical replication stream, which carries a
// transaction as soon as its commit record is on disk, a moment before
// other sessions can see it. The Kafka hop usually outlasts that moment,
// but not while a commit waits for a synchronous standby: an eviction
// made then can be undone by a reload that reads the old row. This source
// has no database connection to wait with (pgsource waits; see its
// documentation); with synchronous replication, prefer pgsource, or keep
// TTLs short enough for such a row.
//
// # Tests
//
// The package's tests run on kfake, franz-go's in-process Kafka cluster:
// delivery with tombstones, truncates, 64-bit ids and malformed records,
// Apply failures, a rebalance between two Sources, and a member killed
// with SIGKILL (the test binary re-run as a child process) whose
// partitions another member takes over without missing a change.
package kafkasource
