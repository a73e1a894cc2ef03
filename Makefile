# tiercache: the one test command is `make test`.
#
# make test   installs redis-server and postgresql where missing (apt-get),
#             then runs go vet, gofmt, golangci-lint and every test with
#             -race, integration tests on real Redis (one node and a 3+3
#             Cluster) and PostgreSQL included, over every module.
# make lint   runs golangci-lint v2 over every module, with the one
#             configuration .golangci.yml at the root; any finding fails.
# make bench  runs every scenario of the bench module (tiercache beside
#             go-redis/cache, rueidis, go-redis's client-side cache, raw
#             ristretto and raw go-redis) on its own redis-server, writes
#             bench/results/peers.txt and draws bench/results/peers.md and
#             bench/results/peers.png from it.
# make bench-foundation
#             runs the foundation benchmarks of package tiered beside their
#             baselines and writes bench/results/foundation.txt.
# make bench-invalidation
#             runs the invalidation benchmarks (latency over 10,000 deletes,
#             deletes/s with and without batching, InvalidateTags over
#             100,000 keys on a 3+3 Cluster) and writes
#             bench/results/invalidation.txt.
# make bench-stampede
#             replays a Zipf workload (100,000 keys, TTL 2 s, a 5 ms loader)
#             against 4 instances on one redis-server, with XFetch and
#             leases on and off, and writes bench/results/stampede.txt.
# make bench-writes
#             measures accepted writes/s of write-through and write-behind
#             (memory and durable) beside a direct UPDATE, on a real
#             PostgreSQL (fsync off and on) and redis-server, WRITESCOUNT
#             rounds, and writes bench/results/writes.txt.
# make fuzz   runs each fuzz target for FUZZTIME (default 60s).

SHELL := /bin/bash
GO ?= go
export PATH := $(PATH):/usr/local/go/bin:/usr/sbin
# Every Go module of the repository (nested ones included).
MODULES := $(shell find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sort)
FUZZTIME ?= 60s
BENCHTIME ?= 500ms
BENCHCOUNT ?= 10

# The linter, pinned; `go run` fetches it through the module proxy once
# (the first build takes a few minutes).
GOLANGCI_LINT ?= github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

.PHONY: test deps vet lint fuzz bench bench-foundation bench-invalidation bench-stampede

deps:
	@command -v redis-server >/dev/null || { \
		echo "installing redis-server"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
	@redis-server --version
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing postgresql"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }
	@# The binaries internal/pgtest runs: beside initdb on PATH, else the highest /usr/lib/postgresql/*/bin.
	@if command -v initdb >/dev/null; then bin=$$(dirname "$$(readlink -f "$$(command -v initdb)")"); \
	else bin=$$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); fi; \
	"$$bin/postgres" --version

vet:
	@for m in $(MODULES); do \
		echo "== go vet $$m"; \
		(cd $$m && $(GO) vet ./...) || exit 1; \
		unformatted=$$(cd $$m && gofmt -l .); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi; \
	done

# Every module is linted from its own directory with the root's
# configuration; all of them run, and any finding fails the target.
lint:
	@status=0; for m in $(MODULES); do \
		echo "== golangci-lint $$m"; \
		(cd $$m && $(GO) run $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...) || status=1; \
	done; exit $$status

# The allocation tests (Test...Alloc...) run once more without -race, which
# changes allocation counts; modules without one skip that pass (it links
# every test binary again).
test: deps vet lint
	@for m in $(MODULES); do \
		if (cd $$m && $(GO) list -f '{{range .TestGoFiles}}{{$$.Dir}}/{{.}} {{end}}{{range .XTestGoFiles}}{{$$.Dir}}/{{.}} {{end}}' ./... | xargs -r grep -lE '^func Test[A-Za-z0-9_]*Alloc' | grep -q .); then \
			echo "== allocation tests of $$m without -race (the race detector changes allocation counts)"; \
			(cd $$m && set -o pipefail && $(GO) test -count=1 -run 'Alloc' ./... | { grep -v 'no test' || true; }) || exit 1; \
		fi; \
		echo "== every test of $$m with -race"; \
		(cd $$m && TIERCACHE_INTEGRATION=1 $(GO) test -race -count=1 -timeout 10m ./...) || exit 1; \
	done

# Go 1.26's fuzz coordinator can fail a target with "context deadline
# exceeded" at the end of -fuzztime without having found anything
# (golang/go#75804, fixed in Go 1.27): a failure counts only when it wrote a
# crasher under testdata/fuzz.
fuzz:
	@for target in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/func //' | sort -u); do \
		pkg=$$(grep -rlE "^func $$target\(" --include='*_test.go' . | head -1 | xargs dirname); \
		before=$$(ls $$pkg/testdata/fuzz/$$target 2>/dev/null | wc -l); \
		echo "== fuzz $$target in $$pkg for $(FUZZTIME)"; \
		if ! $(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg; then \
			after=$$(ls $$pkg/testdata/fuzz/$$target 2>/dev/null | wc -l); \
			if [ "$$after" -gt "$$before" ]; then echo "crasher written to $$pkg/testdata/fuzz/$$target"; exit 1; fi; \
			echo "no crasher written: the coordinator race of golang/go#75804, not a finding"; \
		fi; \
	done

# The peer benchmarks. One test binary runs PEERSCOUNT rounds of the short
# scenarios (each library after the other, so that a noisy minute of the VM
# does not land on one library only), ZIPFCOUNT rounds of the mixed Zipf
# workload and one of the stampede and staleness scenarios; benchreport
# takes the median of the rounds. Nothing else should run on the machine
# meanwhile: loopback latency here depends on how busy the cores are.
PEERSCOUNT ?= 7
PEERSTIME ?= 300ms
ZIPFCOUNT ?= 3
bench: deps
	@mkdir -p bench/results bin
	cd bench && $(GO) test -c -o ../bin/peers.test .
	@: > bench/results/peers.txt
	@set -o pipefail; for i in $$(seq $(PEERSCOUNT)); do \
		echo "== round $$i of $(PEERSCOUNT): hits, misses, GetMany"; \
		(cd bench && ../bin/peers.test -test.run='^$$' -test.bench='^Benchmark(Get_|GetMany)' -test.benchmem -test.benchtime=$(PEERSTIME)) | grep -E '^(Benchmark|goos|goarch|pkg|cpu|--- FAIL|FAIL)' | tee -a bench/results/peers.txt || exit 1; \
	done
	@set -o pipefail; for i in $$(seq $(ZIPFCOUNT)); do \
		echo "== round $$i of $(ZIPFCOUNT): mixed Zipf workload"; \
		(cd bench && ../bin/peers.test -test.run='^$$' -test.bench='^BenchmarkMixed_Zipf' -test.benchmem -test.benchtime=200000x) | grep -E '^(Benchmark|--- FAIL|FAIL)' | tee -a bench/results/peers.txt || exit 1; \
	done
	@echo "== stampede and cross-instance staleness"
	@set -o pipefail; (cd bench && ../bin/peers.test -test.run='^$$' -test.bench='^BenchmarkStampede' -test.benchmem -test.benchtime=5x) | grep -E '^(Benchmark|--- FAIL|FAIL)' | tee -a bench/results/peers.txt
	@set -o pipefail; (cd bench && ../bin/peers.test -test.run='^$$' -test.bench='^BenchmarkStaleness' -test.benchmem -test.benchtime=100x) | grep -E '^(Benchmark|--- FAIL|FAIL)' | tee -a bench/results/peers.txt
	cd bench && $(GO) run ./cmd/benchreport -in results/peers.txt -md results/peers.md -png results/peers.png
	@cat bench/results/peers.md

# The foundation benchmarks run on one CPU (less noise from the VM's second
# core and the concurrent GC), except the RunParallel ones, which need both.
# The test binary runs BENCHCOUNT times with -count=1 so that each benchmark
# and its baseline alternate: with -count=N, go test runs one sub-benchmark
# N times before the next, and a noisy minute of the VM lands on one side
# only.
bench-foundation: deps
	@mkdir -p bench/results bin
	$(GO) test -c -o bin/tiered.test ./tiered/
	@: > bench/results/foundation.txt
	@for i in $$(seq $(BENCHCOUNT)); do \
		echo "== round $$i of $(BENCHCOUNT)"; \
		TIERCACHE_INTEGRATION=1 ./bin/tiered.test -test.run='^$$' -test.bench='^Benchmark(Get|GetMany)_' -test.benchmem -test.cpu=1 -test.benchtime=$(BENCHTIME) 2>/dev/null | grep -v '/parallel' | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' >> bench/results/foundation.txt; \
		TIERCACHE_INTEGRATION=1 ./bin/tiered.test -test.run='^$$' -test.bench='L1Hit' -test.benchmem -test.cpu=2 -test.benchtime=$(BENCHTIME) 2>/dev/null | grep '/parallel' >> bench/results/foundation.txt; \
	done
	@cat bench/results/foundation.txt

# Each op of the latency benchmark is one Delete followed to its eviction in
# another instance's L1: 10,000 of them, three rounds alternating with the
# go-redis baselines. Throughput runs with both cores.
INVCOUNT ?= 3
bench-invalidation: deps
	@mkdir -p bench/results bin
	$(GO) test -c -o bin/tiered.test ./tiered/
	@: > bench/results/invalidation.txt
	@for i in $$(seq $(INVCOUNT)); do \
		echo "== round $$i of $(INVCOUNT)"; \
		TIERCACHE_INTEGRATION=1 ./bin/tiered.test -test.run='^$$' -test.bench='^BenchmarkInvalidation_Latency' -test.benchmem -test.benchtime=10000x 2>/dev/null | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' >> bench/results/invalidation.txt; \
		TIERCACHE_INTEGRATION=1 ./bin/tiered.test -test.run='^$$' -test.bench='^BenchmarkInvalidation_DeleteThroughput' -test.benchmem -test.benchtime=20000x 2>/dev/null | grep -E '^Benchmark' >> bench/results/invalidation.txt; \
	done
	TIERCACHE_INTEGRATION=1 ./bin/tiered.test -test.run='^$$' -test.bench='^BenchmarkInvalidateTags_100k' -test.benchmem -test.benchtime=1x -test.v 2>/dev/null | grep -E '^(Benchmark|.*keys \(in L1)' >> bench/results/invalidation.txt
	@cat bench/results/invalidation.txt

# Each round runs one test binary that replays the same Zipf workload with
# XFetch + leases on, then off (about 13 s each, on an emptied Redis with new
# instances): rounds alternate the two modes, as above. Both cores, as in
# production. The lines "replay <mode>:" spell the figures out.
STAMPEDECOUNT ?= 3
bench-stampede: deps
	@mkdir -p bench/results bin
	$(GO) test -c -o bin/tiered.test ./tiered/
	@: > bench/results/stampede.txt
	@set -o pipefail; for i in $$(seq $(STAMPEDECOUNT)); do \
		echo "== round $$i of $(STAMPEDECOUNT)"; \
		TIERCACHE_INTEGRATION=1 ./bin/tiered.test -test.run='^$$' -test.bench='^BenchmarkCache_ZipfReplay$$' -test.benchmem -test.benchtime=1x 2>&1 | grep -E '^(Benchmark|goos|goarch|pkg|cpu|--- FAIL|FAIL)| replay ' | tee -a bench/results/stampede.txt || exit 1; \
	done

# The write patterns on real PostgreSQL and Redis: accepted writes/s of
# write-through and write-behind (memory, durable) beside a direct UPDATE,
# and the source calls and rows write-behind needed per accepted write.
WRITESCOUNT ?= 3
.PHONY: bench-writes
bench-writes: deps
	@mkdir -p bench/results bin
	cd bench && $(GO) test -c -o ../bin/bench.test .
	@: > bench/results/writes.txt
	@set -o pipefail; for i in $$(seq $(WRITESCOUNT)); do \
		echo "== round $$i of $(WRITESCOUNT)"; \
		TIERCACHE_INTEGRATION=1 ./bin/bench.test -test.run='^$$' -test.bench='^BenchmarkWrite_Patterns$$' -test.benchmem -test.benchtime=2s 2>&1 | grep -E '^(Benchmark|goos|goarch|pkg|cpu|--- FAIL|FAIL)' | tee -a bench/results/writes.txt || exit 1; \
	done

# The CDC benchmarks on real PostgreSQL and Redis: the lag from a single-row
# UPDATE's commit to its eviction from 4 instances' L1 (10,000 of them, beside
# a writer's own Delete), and one 100,000-row UPDATE (changes/s, peak heap).
CDCCOUNT ?= 3
.PHONY: bench-cdc
bench-cdc: deps
	@mkdir -p bench/results bin
	cd invalidate/cdc/pgsource && $(GO) test -c -o ../../../bin/pgsource.test .
	@: > bench/results/cdc.txt
	@set -o pipefail; for i in $$(seq $(CDCCOUNT)); do \
		echo "== round $$i of $(CDCCOUNT)"; \
		TIERCACHE_INTEGRATION=1 ./bin/pgsource.test -test.run='^$$' -test.bench='^BenchmarkSource_Lag$$' -test.benchtime=10000x 2>&1 | grep -E '^(Benchmark|goos|goarch|pkg|cpu|--- FAIL|FAIL)| lag [a-z_]+ over [0-9]{2,}' | tee -a bench/results/cdc.txt || exit 1; \
		TIERCACHE_INTEGRATION=1 ./bin/pgsource.test -test.run='^$$' -test.bench='^BenchmarkSource_BulkUpdate$$' -test.benchtime=1x 2>&1 | grep -E '^(Benchmark|--- FAIL|FAIL)| bulk UPDATE ' | tee -a bench/results/cdc.txt || exit 1; \
	done

# Hit ratios of the L1 backends (tiercache over otter and over ristretto,
# raw otter, raw ristretto, LRU) against Belady's OPT, replayed over four
# traces of 5,000,000 accesses to 1,000,000 keys at L1 sizes of 0.1% and 1%
# (about 15 minutes on 2 cores), then the memory per entry of each.
.PHONY: bench-hitratio
bench-hitratio:
	@mkdir -p bench/results
	cd bench && $(GO) test -count=1 -timeout 60m -run '^TestHitRatio$$' ./hitratio/ -hitratio.full -hitratio.out $(CURDIR)/bench/results/hitratio.txt -v | grep -E '^(---|ok|FAIL)'
	cd bench && $(GO) test -count=1 -run '^$$' -bench '^BenchmarkL1_MemoryPerEntry' -benchtime 1x ./hitratio/ | grep -E '^(Benchmark|ok|FAIL)' | tee -a results/hitratio.txt

# The cost of metrics on the hot path: an L1 hit with the Prometheus
# recorder beside the no-op recorder (the default) and stats.Counter, on one
# goroutine and on both cores, METRICSCOUNT rounds alternating the three.
METRICSCOUNT ?= 10
.PHONY: bench-metrics
bench-metrics:
	@mkdir -p bench/results bin
	cd tiered/stats/promstats && $(GO) test -c -o ../../../bin/promstats.test .
	@: > bench/results/metrics.txt
	@set -o pipefail; for i in $$(seq $(METRICSCOUNT)); do \
		echo "== round $$i of $(METRICSCOUNT)"; \
		./bin/promstats.test -test.run='^$$' -test.bench='^BenchmarkGet_L1Hit$$' -test.benchmem -test.cpu=2 -test.benchtime=$(BENCHTIME) 2>&1 | grep -E '^(Benchmark|goos|goarch|pkg|cpu|--- FAIL|FAIL)' | tee -a bench/results/metrics.txt || exit 1; \
	done
