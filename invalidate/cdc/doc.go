// Package cdc turns changes made straight in the database (by migrations,
// admin tools, batch jobs, other services) into evictions from every tier
// of every instance's cache: change data capture.
//
// A source reads the database's changes (PostgreSQL logical replication,
// or Debezium events from Kafka: see [DecodeDebezium]) as [Event]s, and
// hands them in batches to an [Engine]. The engine maps each changed row
// to the keys and tags of one or more cache namespaces with [Rule]s and
// evicts them through each namespace's [Target], a *tiered.Invalidator,
// whose Delete has the guarantees of Cache.Delete: a tombstone in L2, the
// key's lease revoked, every instance's L1 emptied through the bus, and a
// delete that L2 refused retried until it lands.
//
//	users, _ := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: "user", L2: store, Bus: bus})
//	engine, err := cdc.New(&cdc.Options{
//		Rules: []cdc.Rule{
//			{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}, Tags: []string{"company:{company_id}"}},
//		},
//		Targets: map[string]cdc.Target{"user": users},
//	})
//	err = engine.Apply(ctx, events) // nil: every eviction applied; confirm the batch's position
//
// # Rows and keys
//
// A [Row] holds columns in their text form, integers in exact decimal, so
// that a template such as "{id}" gives exactly the key that the typed
// cache's Options.Key gives (tiered writes the int64 42 as "42").
// An update evicts what both the old and the new row map to; a create
// evicts the new row's keys too (a cache may hold the row's absence); a
// truncate evicts every namespace its table maps to.
//
// # Delivery
//
// Sources confirm a position to the database (or commit a Kafka offset)
// only after Apply returned nil for every change up to it: at least once.
// Evictions are idempotent, so a batch applied twice after a crash does no
// harm. A change that cannot be decoded or mapped never stops the stream:
// it goes to Options.DeadLetters and is counted.
package cdc
