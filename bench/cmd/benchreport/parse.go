package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// errNoBenchmarks is returned by parse when its input holds no benchmark line.
var errNoBenchmarks = errors.New("no benchmark lines")

// Units that go test -bench reports itself; every other unit is a custom
// metric from b.ReportMetric.
const (
	unitNs     = "ns/op"
	unitBytes  = "B/op"
	unitAllocs = "allocs/op"
)

// stats summarises the values one metric of one library took over the
// rounds of a benchmark.
type stats struct {
	Median float64
	Min    float64
	Max    float64
	Rounds int
	Values []float64 // one per round, in the order of the input
}

// row is the results of one library in one scenario, keyed by unit.
type row struct {
	Library string
	Metrics map[string]stats
}

// scenario is one benchmark (the name without its last element) with the
// libraries run under it, in the order they first appear in the input.
type scenario struct {
	Name  string   // without the Benchmark prefix, e.g. "Stampede/4-instances"
	Units []string // in display order: ns/op, custom metrics, B/op, allocs/op
	Rows  []row
}

// row returns the row of library lib and whether sc has one.
func (sc scenario) row(lib string) (row, bool) {
	for _, r := range sc.Rows {
		if r.Library == lib {
			return r, true
		}
	}
	return row{}, false
}

// hasUnit reports whether any library of sc reported unit.
func (sc scenario) hasUnit(unit string) bool {
	return slices.Contains(sc.Units, unit)
}

// report is a parsed results file: its scenarios in first-seen order.
type report struct {
	Scenarios []scenario
}

// rounds returns the fewest and the most rounds any metric of r was
// measured over.
func (r report) rounds() (fewest, most int) {
	for _, sc := range r.Scenarios {
		for _, rw := range sc.Rows {
			for _, s := range rw.Metrics {
				if fewest == 0 || s.Rounds < fewest {
					fewest = s.Rounds
				}
				most = max(most, s.Rounds)
			}
		}
	}
	return fewest, most
}

// measurement is one value/unit pair of a benchmark line.
type measurement struct {
	Unit  string
	Value float64
}

// result is one parsed benchmark line.
type result struct {
	Scenario string
	Library  string
	Values   []measurement
}

// parse reads raw go test -bench output, possibly several rounds appended
// to one another, and returns the median of each metric of each library in
// each scenario. Lines other than benchmark results are skipped. name only
// labels errors.
func parse(r io.Reader, name string) (report, error) {
	var acc accumulator
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		if res, ok := parseLine(sc.Text()); ok {
			acc.add(res)
		}
	}
	if err := sc.Err(); err != nil {
		return report{}, fmt.Errorf("benchreport: reading %s: %w", name, err)
	}
	if len(acc.scenarios) == 0 {
		return report{}, fmt.Errorf("benchreport: %s: %w", name, errNoBenchmarks)
	}
	return acc.report(), nil
}

// parseLine parses one line of go test -bench output. It reports false for
// any line that is not a benchmark result: headers (goos:, pkg:, ...), PASS,
// ok, log output, and the bare benchmark name go test prints before a
// benchmark's log lines.
func parseLine(line string) (result, bool) {
	if !strings.HasPrefix(line, "Benchmark") {
		return result{}, false
	}
	fields := strings.Fields(line)
	if len(fields) < 4 {
		return result{}, false
	}
	if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
		return result{}, false
	}
	var values []measurement
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			break
		}
		values = append(values, measurement{Unit: fields[i+1], Value: v})
	}
	if len(values) == 0 {
		return result{}, false
	}
	scen, lib := splitName(fields[0])
	return result{Scenario: scen, Library: lib, Values: values}, true
}

// splitName splits a benchmark name such as
// "BenchmarkStampede/4-instances/go-redis-cache-2" into its scenario
// ("Stampede/4-instances") and its library ("go-redis-cache"): the
// GOMAXPROCS suffix and the Benchmark prefix are dropped, the library is the
// last path element and the scenario everything before it. A name without a
// slash is a scenario of its own with an empty library.
func splitName(name string) (scenario, library string) {
	name = strings.TrimPrefix(trimProcs(name), "Benchmark")
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+1:]
}

// trimProcs drops a final "-<digits>" (the GOMAXPROCS suffix go test adds)
// from a benchmark name, and nothing else: dashes inside library names stay.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || i == len(name)-1 {
		return name
	}
	for _, c := range name[i+1:] {
		if c < '0' || c > '9' {
			return name
		}
	}
	return name[:i]
}

// accumulator gathers the values of every round, remembering the order in
// which scenarios, libraries and units first appear.
type accumulator struct {
	scenarios []*scenarioValues
}

// scenarioValues holds the raw values of one scenario.
type scenarioValues struct {
	name      string
	units     []string
	libraries []string
	values    map[string]map[string][]float64 // library -> unit -> one value per round
}

// add records the values of one benchmark line.
func (a *accumulator) add(res result) {
	sv := a.scenario(res.Scenario)
	byUnit, ok := sv.values[res.Library]
	if !ok {
		byUnit = make(map[string][]float64)
		sv.values[res.Library] = byUnit
		sv.libraries = append(sv.libraries, res.Library)
	}
	for _, m := range res.Values {
		if !slices.Contains(sv.units, m.Unit) {
			sv.units = append(sv.units, m.Unit)
		}
		byUnit[m.Unit] = append(byUnit[m.Unit], m.Value)
	}
}

// scenario returns the values of the scenario called name, adding it if new.
func (a *accumulator) scenario(name string) *scenarioValues {
	for _, sv := range a.scenarios {
		if sv.name == name {
			return sv
		}
	}
	sv := &scenarioValues{name: name, values: make(map[string]map[string][]float64)}
	a.scenarios = append(a.scenarios, sv)
	return sv
}

// report summarises the gathered values.
func (a *accumulator) report() report {
	rep := report{Scenarios: make([]scenario, 0, len(a.scenarios))}
	for _, sv := range a.scenarios {
		sc := scenario{Name: sv.name, Units: orderUnits(sv.units)}
		for _, lib := range sv.libraries {
			rw := row{Library: lib, Metrics: make(map[string]stats)}
			for unit, vs := range sv.values[lib] {
				rw.Metrics[unit] = summarize(vs)
			}
			sc.Rows = append(sc.Rows, rw)
		}
		rep.Scenarios = append(rep.Scenarios, sc)
	}
	return rep
}

// orderUnits returns units in display order: ns/op first, then custom
// metrics in the order given, then B/op and allocs/op.
func orderUnits(units []string) []string {
	rank := func(u string) int {
		switch u {
		case unitNs:
			return 0
		case unitBytes:
			return 2
		case unitAllocs:
			return 3
		default:
			return 1
		}
	}
	out := slices.Clone(units)
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return out
}

// summarize returns the median, minimum, maximum and count of vs, which
// must not be empty.
func summarize(vs []float64) stats {
	sorted := slices.Clone(vs)
	slices.Sort(sorted)
	n := len(sorted)
	med := sorted[n/2]
	if n%2 == 0 {
		med = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return stats{Median: med, Min: sorted[0], Max: sorted[n-1], Rounds: n, Values: slices.Clone(vs)}
}
