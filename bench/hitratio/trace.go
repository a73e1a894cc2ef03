package hitratio

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
)

// A Trace is a sequence of accesses to keys, replayed against every
// policy. Accesses holds indexes into Keys: the distinct keys of the trace,
// in order of first access. Keys are built once, so that a replay formats
// no key.
type Trace struct {
	Name     string
	Accesses []int32
	Keys     []string
}

// Spec describes the traces to generate: how many keys the Zipf key space
// has, how many accesses each trace makes, and the seed of every random
// choice (the same Spec gives the same traces).
type Spec struct {
	Keys     int
	Accesses int
	Seed     uint64
}

// The names of the traces, in the order Traces returns them.
const (
	TraceZipf101  = "zipf-1.01"
	TraceZipf09   = "zipf-0.9"
	TraceScans    = "zipf+scans"
	TraceShifting = "zipf-shifting"
)

// Shape constants of the traces.
const (
	// scanShare is the share of zipf+scans' accesses that are one-off
	// scan keys.
	scanShare = 0.10
	// scanRun is the length of one scan: consecutive ids that are never
	// read again.
	scanRun = 1000
	// shiftPhases is how many equal phases zipf-shifting has; its popular
	// set moves shiftPhases-1 times.
	shiftPhases = 6
)

// Traces returns the four traces of spec: Zipf 1.01, Zipf 0.9, Zipf 1.01
// with one-off scans, and Zipf 1.01 whose popular set shifts.
func Traces(spec Spec) []Trace {
	return []Trace{
		ZipfTrace(spec, 1.01),
		ZipfTrace(spec, 0.9),
		ScanTrace(spec),
		ShiftingTrace(spec),
	}
}

// ZipfTrace returns spec.Accesses draws of Zipf(s) over spec.Keys keys:
// P(rank r) is proportional to (r+1)^-s, and ranks map to key ids through
// a seeded random permutation.
func ZipfTrace(spec Spec, s float64) Trace {
	name := "zipf-" + strconv.FormatFloat(s, 'f', -1, 64)
	r := rand.New(rand.NewPCG(spec.Seed, hashName(name)))
	z := newZipf(spec.Keys, s)
	perm := permutation(r, spec.Keys)
	ids := make([]uint64, spec.Accesses)
	for i := range ids {
		ids[i] = perm[z.rank(r)]
	}
	return newTrace(name, ids)
}

// ScanTrace returns Zipf 1.01 over spec.Keys keys where scanShare of the
// accesses are scans: runs of scanRun consecutive ids outside the Zipf key
// space, each read once. The runs start at random points of the Zipf
// stream.
func ScanTrace(spec Spec) Trace {
	r := rand.New(rand.NewPCG(spec.Seed, hashName(TraceScans)))
	z := newZipf(spec.Keys, 1.01)
	perm := permutation(r, spec.Keys)
	runs := int(math.Round(float64(spec.Accesses) * scanShare / scanRun))
	zipfN := spec.Accesses - runs*scanRun
	// starts[i]: the number of Zipf accesses before run i.
	starts := make([]int, runs)
	for i := range starts {
		starts[i] = r.IntN(zipfN + 1)
	}
	slices.Sort(starts)
	ids := make([]uint64, 0, spec.Accesses)
	next := uint64(spec.Keys) // the next scan id: never a Zipf id, never repeated
	for i := 0; i <= zipfN; i++ {
		for len(starts) > 0 && starts[0] == i {
			for range scanRun {
				ids = append(ids, next)
				next++
			}
			starts = starts[1:]
		}
		if i < zipfN {
			ids = append(ids, perm[z.rank(r)])
		}
	}
	return newTrace(TraceScans, ids)
}

// ShiftingTrace returns Zipf 1.01 over spec.Keys keys in shiftPhases equal
// phases, each mapping ranks to ids through its own random permutation:
// the popular keys of one phase are, almost all, unpopular in the next.
func ShiftingTrace(spec Spec) Trace {
	r := rand.New(rand.NewPCG(spec.Seed, hashName(TraceShifting)))
	z := newZipf(spec.Keys, 1.01)
	ids := make([]uint64, spec.Accesses)
	phase := (spec.Accesses + shiftPhases - 1) / shiftPhases
	var perm []uint64
	for i := range ids {
		if i%phase == 0 {
			perm = permutation(r, spec.Keys)
		}
		ids[i] = perm[z.rank(r)]
	}
	return newTrace(TraceShifting, ids)
}

// newTrace numbers the distinct ids of ids densely, in order of first
// access, and names each "k<id>".
func newTrace(name string, ids []uint64) Trace {
	t := Trace{Name: name, Accesses: make([]int32, len(ids))}
	index := make(map[uint64]int32)
	for i, id := range ids {
		k, ok := index[id]
		if !ok {
			k = int32(len(t.Keys))
			index[id] = k
			t.Keys = append(t.Keys, "k"+strconv.FormatUint(id, 10))
		}
		t.Accesses[i] = k
	}
	return t
}

// zipf draws ranks in [0, n) with P(r) proportional to (r+1)^-s, for any
// s > 0 (math/rand's Zipf needs s > 1), by inverting its CDF.
type zipf struct {
	cdf []float64 // cdf[r] = P(rank <= r); the last is 1
}

func newZipf(n int, s float64) zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for r := range cdf {
		sum += math.Pow(float64(r+1), -s)
		cdf[r] = sum
	}
	for r := range cdf {
		cdf[r] /= sum
	}
	cdf[n-1] = 1
	return zipf{cdf: cdf}
}

// rank returns the smallest rank whose CDF exceeds a uniform draw.
func (z zipf) rank(r *rand.Rand) int {
	u := r.Float64()
	return sort.Search(len(z.cdf)-1, func(i int) bool { return z.cdf[i] > u })
}

// permutation returns a random permutation of the ids 0..n-1, as uint64.
func permutation(r *rand.Rand, n int) []uint64 {
	p := make([]uint64, n)
	for i, v := range r.Perm(n) {
		p[i] = uint64(v)
	}
	return p
}

// hashName turns a trace's name into the second word of its seed, so that
// traces of one Spec draw independent streams.
func hashName(name string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h
}
