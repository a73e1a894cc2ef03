package hitratio

import (
	"math"
	"slices"
	"testing"
)

func TestTraces(t *testing.T) {
	t.Parallel()
	sp := Spec{Keys: 10_000, Accesses: 200_000, Seed: 7}
	for _, tr := range Traces(sp) {
		t.Run(tr.Name, func(t *testing.T) {
			t.Parallel()
			if len(tr.Accesses) != sp.Accesses {
				t.Fatalf("%d accesses, want %d", len(tr.Accesses), sp.Accesses)
			}
			again := map[string]func(Spec) Trace{
				TraceZipf101:  func(s Spec) Trace { return ZipfTrace(s, 1.01) },
				TraceZipf09:   func(s Spec) Trace { return ZipfTrace(s, 0.9) },
				TraceScans:    ScanTrace,
				TraceShifting: ShiftingTrace,
			}[tr.Name](sp)
			if !slices.Equal(tr.Accesses, again.Accesses) || !slices.Equal(tr.Keys, again.Keys) {
				t.Fatal("the same Spec gave another trace")
			}
		})
	}
}

// TestZipfFrequencies checks the share of the most popular key against
// the Zipf law, for an exponent under 1 (which math/rand's Zipf refuses).
func TestZipfFrequencies(t *testing.T) {
	t.Parallel()
	sp := Spec{Keys: 1000, Accesses: 400_000, Seed: 3}
	for _, s := range []float64{0.9, 1.01} {
		tr := ZipfTrace(sp, s)
		counts := make([]int, len(tr.Keys))
		for _, k := range tr.Accesses {
			counts[k]++
		}
		slices.Sort(counts)
		slices.Reverse(counts)
		h := 0.0
		for r := 1; r <= sp.Keys; r++ {
			h += math.Pow(float64(r), -s)
		}
		for _, r := range []int{0, 1, 9} {
			want := math.Pow(float64(r+1), -s) / h
			got := float64(counts[r]) / float64(sp.Accesses)
			if math.Abs(got-want) > 0.05*want {
				t.Errorf("s=%v: rank %d has %.4f of the accesses, want %.4f", s, r, got, want)
			}
		}
	}
}

func TestScanTrace(t *testing.T) {
	t.Parallel()
	sp := Spec{Keys: 10_000, Accesses: 200_000, Seed: 5}
	tr := ScanTrace(sp)
	counts := make([]int, len(tr.Keys))
	for _, k := range tr.Accesses {
		counts[k]++
	}
	// Scan keys are the ids from Keys on: each is read once, in runs.
	scans, runs := 0, 0
	prevScan := false
	for _, k := range tr.Accesses {
		isScan := isScanKey(tr.Keys[k], sp.Keys)
		if isScan {
			scans++
			if counts[k] != 1 {
				t.Fatalf("scan key %s read %d times", tr.Keys[k], counts[k])
			}
			if !prevScan {
				runs++
			}
		}
		prevScan = isScan
	}
	if want := sp.Accesses / 10; scans != want {
		t.Errorf("%d scan accesses, want %d", scans, want)
	}
	// Two runs may touch: at most as many runs as scans/scanRun.
	if runs == 0 || runs > scans/scanRun {
		t.Errorf("%d runs of scans, want 1 to %d", runs, scans/scanRun)
	}
}

// isScanKey reports whether the key "k<id>" has an id outside [0, keys).
func isScanKey(key string, keys int) bool {
	id := 0
	for _, c := range key[1:] {
		id = 10*id + int(c-'0')
	}
	return id >= keys
}

// TestShiftingTrace checks that the most popular keys of each phase are
// seldom read in the next.
func TestShiftingTrace(t *testing.T) {
	t.Parallel()
	sp := Spec{Keys: 10_000, Accesses: 600_000, Seed: 9}
	tr := ShiftingTrace(sp)
	phase := sp.Accesses / shiftPhases
	top := func(p int) map[int32]bool {
		counts := make(map[int32]int)
		for _, k := range tr.Accesses[p*phase : (p+1)*phase] {
			counts[k]++
		}
		keys := make([]int32, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b int32) int { return counts[b] - counts[a] })
		set := make(map[int32]bool)
		for _, k := range keys[:10] {
			set[k] = true
		}
		return set
	}
	for p := 0; p+1 < shiftPhases; p++ {
		a, b := top(p), top(p+1)
		common := 0
		for k := range a {
			if b[k] {
				common++
			}
		}
		if common > 1 {
			t.Errorf("phases %d and %d share %d of their 10 most popular keys", p, p+1, common)
		}
	}
}
