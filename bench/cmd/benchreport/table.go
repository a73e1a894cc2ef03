package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// baseline is the library every other one is compared with.
const baseline = "tiercache"

// writeMarkdown writes rep as Markdown: a line on how the figures were
// obtained, then a heading and a table per scenario. source names the input
// in that first line.
func writeMarkdown(w io.Writer, rep report, source string) error {
	var b strings.Builder
	b.WriteString(summaryLine(rep, source))
	for _, sc := range rep.Scenarios {
		b.WriteString("\n")
		writeTable(&b, sc)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("benchreport: writing markdown: %w", err)
	}
	return nil
}

// summaryLine says how many rounds the medians are taken over.
func summaryLine(rep report, source string) string {
	fewest, most := rep.rounds()
	rounds := fmt.Sprintf("%d rounds", most)
	switch {
	case most == 1:
		rounds = "1 round"
	case fewest != most:
		rounds = fmt.Sprintf("%d to %d rounds", fewest, most)
	}
	line := fmt.Sprintf("Figures are medians over %s of `go test -bench` (`%s`)", rounds, source)
	if most > 1 {
		line += "; ns/op shows [min–max] across rounds"
	}
	return line + ". `vs tiercache` is ns/op relative to tiercache, the median of the per-round ratios (below 1.00x is faster).\n"
}

// writeTable writes the heading and table of one scenario.
func writeTable(b *strings.Builder, sc scenario) {
	base, compare := baselineNs(sc)
	header := append([]string{"library"}, sc.Units...)
	align := []string{"---"}
	for range sc.Units {
		align = append(align, "---:")
	}
	if compare {
		header = append(header, "vs tiercache")
		align = append(align, "---:")
	}
	fmt.Fprintf(b, "### %s\n\n", escapeCell(sc.Name))
	writeTableRow(b, header)
	writeTableRow(b, align)
	for _, rw := range sc.Rows {
		cells := []string{escapeCell(libraryLabel(rw.Library))}
		for _, unit := range sc.Units {
			cells = append(cells, formatCell(unit, rw.Metrics[unit]))
		}
		if compare {
			cells = append(cells, formatRatio(rw, base))
		}
		writeTableRow(b, cells)
	}
}

// writeTableRow writes one Markdown table row.
func writeTableRow(b *strings.Builder, cells []string) {
	b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

// escapeCell keeps a pipe in s from ending a table cell.
func escapeCell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// libraryLabel is how a library is named in the table and the chart; a
// benchmark without sub-benchmarks has no library name.
func libraryLabel(lib string) string {
	if lib == "" {
		return "-"
	}
	return lib
}

// baselineNs returns tiercache's ns/op in sc, and whether the scenario can
// be compared with it at all.
func baselineNs(sc scenario) (stats, bool) {
	rw, ok := sc.row(baseline)
	if !ok {
		return stats{}, false
	}
	s, ok := rw.Metrics[unitNs]
	if !ok || s.Median <= 0 {
		return stats{}, false
	}
	return s, true
}

// formatRatio formats rw's ns/op relative to base's, like "1.26x": the
// median of the per-round ratios when both ran the same rounds (a library
// and tiercache run in the same round, minutes apart at most, so a noisy
// round weighs on both), else the ratio of the medians.
func formatRatio(rw row, base stats) string {
	s, ok := rw.Metrics[unitNs]
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2fx", ratio(s, base))
}

// ratio returns s relative to base, as formatRatio describes.
func ratio(s, base stats) float64 {
	if len(s.Values) != len(base.Values) || len(s.Values) == 0 {
		return s.Median / base.Median
	}
	rs := make([]float64, 0, len(s.Values))
	for i, v := range s.Values {
		if base.Values[i] <= 0 {
			return s.Median / base.Median
		}
		rs = append(rs, v/base.Values[i])
	}
	return summarize(rs).Median
}

// formatCell formats the median of one metric, with the range across rounds
// for ns/op when there was more than one round and the values differ.
func formatCell(unit string, s stats) string {
	if s.Rounds == 0 {
		return "-"
	}
	if unit != unitNs || s.Rounds < 2 || s.Min == s.Max {
		return formatValue(unit, s.Median)
	}
	sc := durationScale(s.Median)
	return fmt.Sprintf("%s [%s–%s%s]", sc.format(s.Median), sc.number(s.Min), sc.number(s.Max), sc.suffix)
}

// formatValue formats v, a value of unit, for a reader: durations get a
// unit suffix, percentages one decimal, counts thousands separators.
func formatValue(unit string, v float64) string {
	switch {
	case unit == unitNs:
		return durationScale(v).format(v)
	case strings.HasSuffix(unit, "%"):
		return groupThousands(strconv.FormatFloat(v, 'f', 1, 64))
	case unit == unitBytes || unit == unitAllocs:
		return groupThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	default:
		return formatNumber(v)
	}
}

// formatNumber formats a custom metric: whole and large numbers as integers
// with thousands separators, others with up to four significant digits.
func formatNumber(v float64) string {
	if v == math.Trunc(v) || math.Abs(v) >= 1000 {
		return groupThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	}
	rounded, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	if err != nil {
		rounded = v
	}
	return strconv.FormatFloat(rounded, 'f', -1, 64)
}

// scale is how a duration in nanoseconds is shown: divided by div, with
// prec decimals and then suffix.
type scale struct {
	div    float64
	prec   int
	suffix string
}

// durationScale picks the scale for ns: plain ns/op below 10,000, then µs,
// ms and s.
func durationScale(ns float64) scale {
	abs := math.Abs(ns)
	switch {
	case abs < 1e4:
		return scale{div: 1, prec: 1}
	case abs < 1e5:
		return scale{div: 1e3, prec: 1, suffix: " µs"}
	case abs < 1e7:
		return scale{div: 1e3, prec: 0, suffix: " µs"}
	case abs < 1e9:
		return scale{div: 1e6, prec: 1, suffix: " ms"}
	default:
		return scale{div: 1e9, prec: 2, suffix: " s"}
	}
}

// number formats ns in the scale without the suffix.
func (s scale) number(ns float64) string {
	return groupThousands(strconv.FormatFloat(ns/s.div, 'f', s.prec, 64))
}

// format formats ns in the scale with its suffix.
func (s scale) format(ns float64) string {
	return s.number(ns) + s.suffix
}

// groupThousands puts commas between the thousands of the integer part of
// a formatted number, e.g. "1234567.5" becomes "1,234,567.5".
func groupThousands(num string) string {
	sign := ""
	if strings.HasPrefix(num, "-") {
		sign, num = "-", num[1:]
	}
	intPart, frac := num, ""
	if i := strings.IndexByte(num, '.'); i >= 0 {
		intPart, frac = num[:i], num[i:]
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String() + frac
}
