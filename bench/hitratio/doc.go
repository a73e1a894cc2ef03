// Package hitratio replays access traces against in-process caches and
// reports their hit ratios beside the offline optimum, so that an L1's
// policy is judged by what any policy could score on the same trace.
//
// [Traces] generates four deterministic traces (Zipf 1.01, Zipf 0.9, Zipf
// 1.01 with one-off scans, Zipf 1.01 whose popular keys change 5 times);
// [Policies] replays each read-through, from one goroutine, on [OPT]
// (Belady's optimum with bypass, the upper bound for caches that may
// refuse to admit a key), [LRU], raw otter v2 ([Otter]), raw ristretto v2
// ([Ristretto]), and tiercache over each of its L1 stores ([Tiered]).
//
//	sp := hitratio.Spec{Keys: 100_000, Accesses: 500_000, Seed: 1}
//	for _, tr := range hitratio.Traces(sp) {
//		row, err := hitratio.Replay(tr, sp.Keys, 0.01, hitratio.Policies())
//		...
//	}
//
// TestHitRatio prints the table (go test ./hitratio/ -v -run TestHitRatio;
// -hitratio.full for 1,000,000 keys and 5,000,000 accesses, -hitratio.out
// FILE to write it), and BenchmarkL1_MemoryPerEntry the bytes each store
// takes per entry.
package hitratio
