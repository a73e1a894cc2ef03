package promstats

import "github.com/prometheus/client_golang/prometheus"

// DefaultBuckets are the bounds, in seconds, of the duration histograms:
// from 100 µs (an L2 call on a local network) to 10 s (a slow load).
var DefaultBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Options configures a [Recorder]. Registerer is required; the zero value of
// every other field is valid.
type Options struct {
	// Registerer is where New registers the Recorder's collector: a
	// prometheus.NewRegistry() of the service, or prometheus.DefaultRegisterer
	// when the service uses the default one. Required: the adapter never
	// picks a global registry itself.
	Registerer prometheus.Registerer
	// Buckets are the upper bounds, in seconds, of every duration
	// histogram (loads, L2 calls, invalidation and CDC lag). Default
	// DefaultBuckets.
	Buckets []float64
}
