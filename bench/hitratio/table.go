package hitratio

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// A Row is one trace replayed at one cache size by every policy.
type Row struct {
	Trace    string
	Share    float64 // the cache's capacity as a share of the Zipf key space
	Capacity int
	Accesses int
	// Hits[i] is the hits of policy i of Policies; Took[i] how long its
	// replay took.
	Hits []int
	Took []time.Duration
}

// Ratio returns the hit ratio of policy i.
func (r Row) Ratio(i int) float64 { return float64(r.Hits[i]) / float64(r.Accesses) }

// Replay runs every policy on t with a cache of share × keys entries.
func Replay(t Trace, keys int, share float64, policies []Policy) (Row, error) {
	row := Row{Trace: t.Name, Share: share, Capacity: max(1, int(float64(keys)*share)), Accesses: len(t.Accesses)}
	for _, p := range policies {
		start := time.Now()
		hits, err := p.Replay(t, row.Capacity)
		if err != nil {
			return row, fmt.Errorf("%s on %s: %w", p.Name, t.Name, err)
		}
		row.Hits = append(row.Hits, hits)
		row.Took = append(row.Took, time.Since(start))
	}
	return row, nil
}

// WriteTable writes rows as one table: a row per trace and size, a column
// per policy, each cell the hit ratio in percent and, but for the first
// policy (the optimum), its share of the first policy's.
func WriteTable(w io.Writer, policies []Policy, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"trace", "L1 entries"}
	for _, p := range policies {
		head = append(head, p.Name)
	}
	if _, err := fmt.Fprintln(tw, strings.Join(head, "\t")); err != nil {
		return err
	}
	for _, r := range rows {
		cells := []string{r.Trace, fmt.Sprintf("%s (%s%%)", strconv.Itoa(r.Capacity), strconv.FormatFloat(100*r.Share, 'f', -1, 64))}
		for i := range policies {
			cell := fmt.Sprintf("%.2f", 100*r.Ratio(i))
			if i > 0 {
				cell += fmt.Sprintf(" (%.3f)", r.Ratio(i)/r.Ratio(0))
			}
			cells = append(cells, cell)
		}
		if _, err := fmt.Fprintln(tw, strings.Join(cells, "\t")); err != nil {
			return err
		}
	}
	return tw.Flush()
}
