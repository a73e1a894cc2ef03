// Package cdctest helps test CDC sources and rules: a [Recorder] is a
// cdc.Target that records what an Engine asks it to evict, and can be
// made to fail.
//
//	rec := cdctest.NewRecorder()
//	engine, _ := cdc.New(&cdc.Options{
//		Rules:   []cdc.Rule{{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}}},
//		Targets: map[string]cdc.Target{"user": rec},
//	})
//	// ... feed the engine ...
//	rec.Calls() // ["delete 1 2"]
//
// Several namespaces can record into one Recorder, in one order, through
// [Recorder.Target].
package cdctest
