// Command benchreport turns the raw output of go test -bench into a
// Markdown report and a PNG bar chart.
//
// The input may hold several rounds appended to one file, so that the same
// benchmark appears several times; benchreport takes the median of each
// metric over the rounds. A benchmark name such as
// BenchmarkStampede/4-instances/go-redis-cache-2 is read as the scenario
// Stampede/4-instances run with the library go-redis-cache (the -2
// GOMAXPROCS suffix is dropped). Lines that are not benchmark results are
// skipped.
//
// The Markdown has a table per scenario, one row per library, a column per
// unit and, where the scenario has a tiercache row, the ns/op of each
// library relative to tiercache. The chart has a bar per library in a
// panel per scenario and unit: ops/s and the local hit ratio of a
// throughput workload, the 90th percentile of the staleness window,
// loader calls of a stampede, ns/op of the others. A bar more than four
// times the panel's median is cut there and its value marked ">>".
//
// Usage, from the bench module:
//
//	go run ./cmd/benchreport -in results/peers.txt -md results/peers.md -png results/peers.png
//
// An empty -md or -png skips that output.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// main runs benchreport and exits non-zero on failure.
func main() {
	err := run(os.Args[1:], os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// options are benchreport's command-line flags.
type options struct {
	in  string
	md  string
	png string
}

// parseFlags parses args into options, printing usage to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.in, "in", "results/peers.txt", "`file` of raw go test -bench output to read")
	fs.StringVar(&o.md, "md", "results/peers.md", "`file` to write the Markdown report to (empty: none)")
	fs.StringVar(&o.png, "png", "results/peers.png", "`file` to write the PNG chart to (empty: none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("benchreport: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("benchreport: unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return o, nil
}

// run reads the input named by args and writes the report and the chart.
func run(args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rep, err := readReport(o.in)
	if err != nil {
		return err
	}
	if o.md != "" {
		if err := writeMarkdownFile(o.md, rep, o.in); err != nil {
			return err
		}
	}
	if o.png != "" {
		if err := ensureDir(o.png); err != nil {
			return err
		}
		if err := writePNG(o.png, renderChart(rep, defaultChartStyle())); err != nil {
			return err
		}
	}
	return nil
}

// readReport parses the results file at path.
func readReport(path string) (report, error) {
	f, err := os.Open(path)
	if err != nil {
		return report{}, fmt.Errorf("benchreport: %w", err)
	}
	defer func() { _ = f.Close() }()
	return parse(f, path)
}

// writeMarkdownFile writes the Markdown report of rep to path.
func writeMarkdownFile(path string, rep report, source string) error {
	if err := ensureDir(path); err != nil {
		return err
	}
	var b strings.Builder
	if err := writeMarkdown(&b, rep, filepath.Base(source)); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("benchreport: %w", err)
	}
	return nil
}

// ensureDir creates the directory that will hold the file at path.
func ensureDir(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("benchreport: %w", err)
	}
	return nil
}
