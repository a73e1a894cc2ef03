package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The requests of the load generator.
type reqKind int

const (
	kindGet     reqKind = iota // GET /products/{id}: 95%
	kindPut                    // PUT /products/{id} (write-through): 2%
	kindPutBack                // PUT /products/{id}?behind=1 (write-behind): 2%
	kindDelete                 // DELETE /products/{id}: 1%
	numKinds
)

var kindNames = [numKinds]string{"GET", "PUT", "PUT ?behind=1", "DELETE"}

// pickKind draws a request kind with the mix of the load.
func pickKind(rng *rand.Rand) reqKind {
	switch n := rng.IntN(100); {
	case n < 95:
		return kindGet
	case n < 97:
		return kindPut
	case n < 99:
		return kindPutBack
	}
	return kindDelete
}

// loadOptions configures a run of the load generator.
type loadOptions struct {
	base     string // the service's URL: http://host:port
	duration time.Duration
	workers  int
	products int // ids 1..products, Zipf-distributed (s = 1.1)
	// outage, when set, runs in the middle of the load (the embedded
	// Redis made unavailable for about a second).
	outage func(context.Context) error
	out    io.Writer
}

// tally counts the answers of the load generator. Each worker keeps its
// own; they are added up at the end.
type tally struct {
	sent   [numKinds]int64
	status [numKinds]map[int]int64 // by HTTP status
	failed [numKinds]int64         // no answer (a transport error)
	// tiers counts GET answers by their X-Cache header; gets is their
	// total: the GETs that the handler ran Cache.Get for (every GET
	// answer has the header, whatever its status).
	tiers map[string]int64
	gets  int64
}

func newTally() *tally {
	t := &tally{tiers: map[string]int64{}}
	for k := range t.status {
		t.status[k] = map[int]int64{}
	}
	return t
}

func (t *tally) add(o *tally) {
	for k := range numKinds {
		t.sent[k] += o.sent[k]
		t.failed[k] += o.failed[k]
		for s, n := range o.status[k] {
			t.status[k][s] += n
		}
	}
	for tier, n := range o.tiers {
		t.tiers[tier] += n
	}
	t.gets += o.gets
}

// runLoad sends requests to the service from opts.workers workers until
// opts.duration has passed or ctx ends, then waits for the requests in
// flight: a request is never cancelled once sent (its context is
// detached from ctx, and bounded by the client's timeout), so that every
// GET the service counted is one whose answer the generator counted.
func runLoad(ctx context.Context, opts loadOptions) (*tally, error) {
	transport := &http.Transport{MaxIdleConnsPerHost: opts.workers, MaxConnsPerHost: opts.workers}
	defer transport.CloseIdleConnections() // no keep-alive goroutine outlives the run
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	deadline := time.Now().Add(opts.duration)
	reqCtx := context.WithoutCancel(ctx)

	total := newTally()
	var (
		mu        sync.Mutex
		wg        sync.WaitGroup
		outageErr error
	)
	for w := range opts.workers {
		wg.Go(func() {
			t := newTally()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			zipf := rand.NewZipf(rng, 1.1, 1, uint64(opts.products-1))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				kind := pickKind(rng)
				id := int64(zipf.Uint64()) + 1
				send(reqCtx, client, opts.base, kind, id, rng, t)
			}
			mu.Lock()
			total.add(t)
			mu.Unlock()
		})
	}
	if opts.outage != nil {
		wg.Go(func() {
			t := time.NewTimer(opts.duration / 2)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			_, _ = fmt.Fprintln(opts.out, "load: the embedded Redis goes away for 1s")
			err := opts.outage(ctx)
			_, _ = fmt.Fprintln(opts.out, "load: the embedded Redis is back")
			mu.Lock()
			outageErr = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return total, outageErr
}

// send sends one request of kind about product id, and counts its answer
// in t.
func send(ctx context.Context, client *http.Client, base string, kind reqKind, id int64, rng *rand.Rand, t *tally) {
	url := base + "/products/" + strconv.FormatInt(id, 10)
	var (
		req *http.Request
		err error
	)
	switch kind {
	case kindGet:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	case kindPut, kindPutBack:
		if kind == kindPutBack {
			url += "?behind=1"
		}
		body := fmt.Sprintf(`{"name":"product-%d","price":%d}`, id, 100+rng.IntN(10_000))
		req, err = http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(body))
	case kindDelete:
		req, err = http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	}
	if err != nil {
		panic(err) // the URLs and methods above are valid
	}
	t.sent[kind]++
	resp, err := client.Do(req)
	if err != nil {
		t.failed[kind]++
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	t.status[kind][resp.StatusCode]++
	if kind == kindGet {
		if tier := resp.Header.Get("X-Cache"); tier != "" {
			t.tiers[tier]++
			t.gets++
		}
	}
}

// waitReady polls url until it answers 200, for at most timeout.
func waitReady(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last string // what the last poll got
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %s", url, timeout, last)
		}
	}
}
