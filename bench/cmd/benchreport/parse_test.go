package main

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sampleInput is two rounds of go test -bench output with the noise that
// comes with them.
const sampleInput = `goos: linux
goarch: amd64
pkg: github.com/tiercache/tiercache/bench
cpu: AMD EPYC
BenchmarkGet_L1Hit/tiercache-2         	 3301234	       363.1 ns/op	       0 B/op	       0 allocs/op
BenchmarkGet_L1Hit/go-redis-cache-2    	 2000000	       500.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkMixed_Zipf/tiercache-2   300000   30000 ns/op   33000 ops/s   80.0 l1-hit-%   98.0 hit-%   256 B/op   5 allocs/op
BenchmarkMixed_Zipf/rueidis-2   200000   41234 ns/op   24250 ops/s   61.3 l1-hit-%   97.1 hit-%   512 B/op   9 allocs/op
BenchmarkStampede/4-instances
    stampede_test.go:42: 4 instances, 1 loader call each
BenchmarkStampede/4-instances/tiercache-2   5   50000000 ns/op   1.000 loads/op
BenchmarkStampede/4-instances/go-redis-cache-2   5   52000000 ns/op   4.000 loads/op
PASS
ok  	github.com/tiercache/tiercache/bench	12.345s
goos: linux
goarch: amd64
pkg: github.com/tiercache/tiercache/bench
cpu: AMD EPYC
BenchmarkGet_L1Hit/tiercache-2         	 3301234	       373.1 ns/op	       0 B/op	       0 allocs/op
BenchmarkGet_L1Hit/go-redis-cache-2    	 2000000	       480.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkMixed_Zipf/tiercache-2   300000   31000 ns/op   32000 ops/s   82.0 l1-hit-%   98.2 hit-%   256 B/op   5 allocs/op
BenchmarkMixed_Zipf/rueidis-2   200000   40000 ns/op   25000 ops/s   60.1 l1-hit-%   97.3 hit-%   512 B/op   9 allocs/op
BenchmarkStampede/4-instances/tiercache-2   5   51000000 ns/op   1.000 loads/op
BenchmarkStampede/4-instances/go-redis-cache-2   5   53000000 ns/op   3.000 loads/op
PASS
ok  	github.com/tiercache/tiercache/bench	12.001s
`

// mustParse parses input or fails the test.
func mustParse(t *testing.T, input string) report {
	t.Helper()
	rep, err := parse(strings.NewReader(input), "sample")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return rep
}

// metric returns the stats of lib's unit in the scenario called name.
func metric(t *testing.T, rep report, name, lib, unit string) stats {
	t.Helper()
	for _, sc := range rep.Scenarios {
		if sc.Name != name {
			continue
		}
		rw, ok := sc.row(lib)
		if !ok {
			t.Fatalf("scenario %q has no library %q", name, lib)
		}
		s, ok := rw.Metrics[unit]
		if !ok {
			t.Fatalf("%s/%s has no unit %q", name, lib, unit)
		}
		return s
	}
	t.Fatalf("no scenario %q", name)
	return stats{}
}

func TestParseScenariosAndLibrariesInOrder(t *testing.T) {
	rep := mustParse(t, sampleInput)
	var names []string
	for _, sc := range rep.Scenarios {
		names = append(names, sc.Name)
	}
	if want := []string{"Get_L1Hit", "Mixed_Zipf", "Stampede/4-instances"}; !slices.Equal(names, want) {
		t.Fatalf("scenarios = %q, want %q", names, want)
	}
	var libs []string
	for _, rw := range rep.Scenarios[2].Rows {
		libs = append(libs, rw.Library)
	}
	if want := []string{"tiercache", "go-redis-cache"}; !slices.Equal(libs, want) {
		t.Fatalf("Stampede libraries = %q, want %q", libs, want)
	}
}

func TestParseMedians(t *testing.T) {
	rep := mustParse(t, sampleInput)
	tests := []struct {
		scenario, lib, unit string
		want                stats
	}{
		{"Get_L1Hit", "tiercache", "ns/op", stats{Median: 368.1, Min: 363.1, Max: 373.1, Rounds: 2}},
		{"Get_L1Hit", "go-redis-cache", "allocs/op", stats{Median: 1, Min: 1, Max: 1, Rounds: 2}},
		{"Mixed_Zipf", "rueidis", "ops/s", stats{Median: 24625, Min: 24250, Max: 25000, Rounds: 2}},
		{"Mixed_Zipf", "rueidis", "l1-hit-%", stats{Median: 60.7, Min: 60.1, Max: 61.3, Rounds: 2}},
		{"Stampede/4-instances", "go-redis-cache", "loads/op", stats{Median: 3.5, Min: 3, Max: 4, Rounds: 2}},
	}
	for _, tt := range tests {
		got := metric(t, rep, tt.scenario, tt.lib, tt.unit)
		if !near(got.Median, tt.want.Median) || !near(got.Min, tt.want.Min) ||
			!near(got.Max, tt.want.Max) || got.Rounds != tt.want.Rounds {
			t.Errorf("%s/%s %s = %+v, want %+v", tt.scenario, tt.lib, tt.unit, got, tt.want)
		}
	}
	if fewest, most := rep.rounds(); fewest != 2 || most != 2 {
		t.Errorf("rounds = %d..%d, want 2..2", fewest, most)
	}
}

// near reports whether a and b are equal but for rounding.
func near(a, b float64) bool {
	d := a - b
	return d < 1e-9 && d > -1e-9
}

func TestSummarizeOddRounds(t *testing.T) {
	got := summarize([]float64{9, 1, 5})
	if want := (stats{Median: 5, Min: 1, Max: 9, Rounds: 3, Values: []float64{9, 1, 5}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("summarize = %+v, want %+v", got, want)
	}
}

func TestParseUnitsOrder(t *testing.T) {
	rep := mustParse(t, sampleInput)
	want := []string{"ns/op", "ops/s", "l1-hit-%", "hit-%", "B/op", "allocs/op"}
	if got := rep.Scenarios[1].Units; !slices.Equal(got, want) {
		t.Fatalf("Mixed_Zipf units = %q, want %q", got, want)
	}
	if got, want := rep.Scenarios[2].Units, []string{"ns/op", "loads/op"}; !slices.Equal(got, want) {
		t.Fatalf("Stampede units = %q, want %q", got, want)
	}
}

func TestSplitName(t *testing.T) {
	tests := []struct {
		name, scenario, library string
	}{
		{"BenchmarkGet_L1Hit/tiercache-2", "Get_L1Hit", "tiercache"},
		{"BenchmarkStampede/4-instances/go-redis-cache-2", "Stampede/4-instances", "go-redis-cache"},
		{"BenchmarkGet_L1Hit/go-redis-csc-16", "Get_L1Hit", "go-redis-csc"},
		{"BenchmarkGet_L2HitRedis/go-redis+msgpack", "Get_L2HitRedis", "go-redis+msgpack"},
		{"BenchmarkStampede/4-instances/go-redis-cache", "Stampede/4-instances", "go-redis-cache"},
		{"BenchmarkInvalidateTags_100k-2", "InvalidateTags_100k", ""},
	}
	for _, tt := range tests {
		scen, lib := splitName(tt.name)
		if scen != tt.scenario || lib != tt.library {
			t.Errorf("splitName(%q) = %q, %q; want %q, %q", tt.name, scen, lib, tt.scenario, tt.library)
		}
	}
}

func TestParseLineSkipsNoise(t *testing.T) {
	for _, line := range []string{
		"goos: linux",
		"PASS",
		"ok  \tgithub.com/tiercache/tiercache/bench\t12.345s",
		"BenchmarkStampede/4-instances",
		"    stampede_test.go:42: BenchmarkStampede 5 1 ns/op",
		"BenchmarkFoo-2 notanumber 1 ns/op",
		"--- FAIL: BenchmarkFoo-2",
	} {
		if res, ok := parseLine(line); ok {
			t.Errorf("parseLine(%q) = %+v, want skipped", line, res)
		}
	}
}

func TestParseLineCustomMetrics(t *testing.T) {
	line := "BenchmarkStaleness/tiercache-2   100   1234 ns/op   0 stale-after-delivery   3 stale-first   0.40 window-p50-ms"
	res, ok := parseLine(line)
	if !ok {
		t.Fatalf("parseLine(%q) skipped it", line)
	}
	want := []measurement{{"ns/op", 1234}, {"stale-after-delivery", 0}, {"stale-first", 3}, {"window-p50-ms", 0.4}}
	if res.Scenario != "Staleness" || res.Library != "tiercache" || !slices.Equal(res.Values, want) {
		t.Fatalf("parseLine = %+v, want Staleness/tiercache %+v", res, want)
	}
}

func TestParseNoBenchmarks(t *testing.T) {
	_, err := parse(strings.NewReader("goos: linux\nPASS\nok  \tpkg\t0.1s\n"), "empty.txt")
	if !errors.Is(err, errNoBenchmarks) {
		t.Fatalf("parse = %v, want %v", err, errNoBenchmarks)
	}
	if !strings.HasPrefix(err.Error(), "benchreport: ") {
		t.Errorf("error %q lacks the benchreport: prefix", err)
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		unit string
		v    float64
		want string
	}{
		{"ns/op", 363.14, "363.1"},
		{"ns/op", 9999.94, "9,999.9"},
		{"ns/op", 41234, "41.2 µs"},
		{"ns/op", 457000, "457 µs"},
		{"ns/op", 52000000, "52.0 ms"},
		{"ns/op", 3644915819, "3.64 s"},
		{"ops/s", 24250, "24,250"},
		{"l1-hit-%", 61.26, "61.3"},
		{"B/op", 103356, "103,356"},
		{"allocs/op", 9, "9"},
		{"loads/op", 4, "4"},
		{"loads/op", 3.5, "3.5"},
		{"hit-ratio", 0.64531, "0.6453"},
		{"window-p50-ms", 0.40, "0.4"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.unit, tt.v); got != tt.want {
			t.Errorf("formatValue(%q, %v) = %q, want %q", tt.unit, tt.v, got, tt.want)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	rep := mustParse(t, sampleInput)
	var b strings.Builder
	if err := writeMarkdown(&b, rep, "sample.txt"); err != nil {
		t.Fatalf("writeMarkdown: %v", err)
	}
	md := b.String()
	for _, want := range []string{
		"medians over 2 rounds",
		"### Get_L1Hit\n",
		"| library | ns/op | B/op | allocs/op | vs tiercache |",
		"| tiercache | 368.1 [363.1–373.1] | 0 | 0 | 1.00x |",
		"| go-redis-cache | 490.0 [480.0–500.0] | 16 | 1 | 1.33x |",
		"| library | ns/op | ops/s | l1-hit-% | hit-% | B/op | allocs/op | vs tiercache |",
		"### Stampede/4-instances\n",
		"| go-redis-cache | 52.5 ms [52.0–53.0 ms] | 3.5 | 1.04x |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q; got:\n%s", want, md)
		}
	}
}

func TestWriteMarkdownWithoutTiercache(t *testing.T) {
	rep := mustParse(t, "BenchmarkPeers/rueidis-2 10 100 ns/op\nBenchmarkPeers/go-redis-csc-2 10 200 ns/op\n")
	var b strings.Builder
	if err := writeMarkdown(&b, rep, "peers.txt"); err != nil {
		t.Fatalf("writeMarkdown: %v", err)
	}
	if md := b.String(); strings.Contains(md, "| vs tiercache |") || !strings.Contains(md, "medians over 1 round ") {
		t.Errorf("unexpected markdown:\n%s", md)
	}
}

func TestRatio_PerRound(t *testing.T) {
	// Round 2 is slow for both: the per-round ratios are 2, 2 and 4
	// (median 2), while the ratio of the medians is 60/15 = 4.
	lib := summarize([]float64{20, 400, 60})
	base := summarize([]float64{10, 200, 15})
	if got := ratio(lib, base); !near(got, 2) {
		t.Errorf("ratio = %v, want 2 (median of per-round ratios)", got)
	}
	// Different round counts: the ratio of the medians, 30/15.
	if got := ratio(summarize([]float64{30}), base); !near(got, 2) {
		t.Errorf("ratio = %v, want 2 (ratio of medians)", got)
	}
}
