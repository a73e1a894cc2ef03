package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats/promstats"
)

// service answers the HTTP API over the replicas. Requests alternate
// between them, as a load balancer in front of two pods would send them,
// so that a write on one replica and a read on the other meet through
// Redis and the invalidation bus.
type service struct {
	replicas []*replica
	next     atomic.Uint64
	// latency is the service's own metric, not the library's: GET latency
	// by the tier that answered.
	latency *prometheus.HistogramVec
	logger  *slog.Logger
}

// newService returns the service over replicas, its latency histogram
// registered on reg.
func newService(replicas []*replica, reg prometheus.Registerer, logger *slog.Logger) (*service, error) {
	s := &service{
		replicas: replicas,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "httpservice_request_duration_seconds",
			Help:    "Time to answer GET /products/{id}, by the tier that answered it (the X-Cache header: l1, l2, loader or none).",
			Buckets: promstats.DefaultBuckets,
		}, []string{"tier"}),
		logger: logger,
	}
	if err := reg.Register(s.latency); err != nil {
		return nil, err
	}
	return s, nil
}

// routes returns the service's handler; metrics serves /metrics.
func (s *service) routes(metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", s.getProduct)
	mux.HandleFunc("PUT /products/{id}", s.putProduct)
	mux.HandleFunc("DELETE /products/{id}", s.deleteProduct)
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

// pick returns the replica of the next request.
func (s *service) pick(w http.ResponseWriter) *replica {
	r := s.replicas[s.next.Add(1)%uint64(len(s.replicas))]
	w.Header().Set("X-Replica", r.name)
	return r
}

// productID reads the {id} of the path; false: it answered 400.
func productID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "id must be a positive integer", http.StatusBadRequest)
		return 0, false
	}
	return id, true
}

// getProduct answers GET /products/{id}: the product as JSON, 404 when
// there is none, and X-Cache: the tier that answered (l1, l2, loader, or
// none for an error).
func (s *service) getProduct(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id, ok := productID(w, r)
	if !ok {
		return
	}
	rep := s.pick(w)
	ctx, tier := withTier(r.Context())
	p, err := rep.cache.Get(ctx, id)
	name := tier.Tier().String()
	w.Header().Set("X-Cache", name)
	switch {
	case errors.Is(err, tiered.ErrNotFound):
		http.Error(w, fmt.Sprintf("product %d not found", id), http.StatusNotFound)
	case err != nil:
		// Redis failing never fails a Get: this is the database's error,
		// or the request's context that ended.
		s.logger.WarnContext(ctx, "get product", "id", id, "replica", rep.name, "error", err)
		http.Error(w, "cannot read the product", http.StatusServiceUnavailable)
	default:
		writeJSON(w, http.StatusOK, p)
	}
	s.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
}

// productBody is the body of PUT /products/{id}.
type productBody struct {
	Name  string `json:"name"`
	Price int64  `json:"price"`
}

// putProduct answers PUT /products/{id}: the database, then the cache
// (write-through, 200), or, with ?behind=1, the cache at once and the
// database within ~100 ms (write-behind, 202).
func (s *service) putProduct(w http.ResponseWriter, r *http.Request) {
	id, ok := productID(w, r)
	if !ok {
		return
	}
	var body productBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil {
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if body.Price < 0 || strings.TrimSpace(body.Name) == "" {
		http.Error(w, "a product needs a name and a price >= 0", http.StatusBadRequest)
		return
	}
	rep := s.pick(w)
	p := Product{ID: id, Name: body.Name, Price: body.Price}
	if r.URL.Query().Get("behind") == "1" {
		if err := rep.cache.WriteBehind(r.Context(), id, p); err != nil {
			s.writeError(w, r, rep, "write-behind", id, err)
			return
		}
		writeJSON(w, http.StatusAccepted, p)
		return
	}
	if err := rep.cache.WriteThrough(r.Context(), id, p); err != nil {
		s.writeError(w, r, rep, "write-through", id, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// deleteProduct answers DELETE /products/{id}: the database, then every
// tier of every replica (204).
func (s *service) deleteProduct(w http.ResponseWriter, r *http.Request) {
	id, ok := productID(w, r)
	if !ok {
		return
	}
	rep := s.pick(w)
	if err := rep.cache.DeleteThrough(r.Context(), id); err != nil {
		s.writeError(w, r, rep, "delete-through", id, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeError answers a write that failed: 500 when the database refused
// it (the cache is as it was), 503 when the cache could not take it (the
// queue is full, or Redis failed: retry later).
func (s *service) writeError(w http.ResponseWriter, r *http.Request, rep *replica, op string, id int64, err error) {
	s.logger.WarnContext(r.Context(), op, "id", id, "replica", rep.name, "error", err)
	if errors.Is(err, tiered.ErrWriteFailed) {
		http.Error(w, op+": the database refused the write", http.StatusInternalServerError)
		return
	}
	http.Error(w, op+": "+err.Error(), http.StatusServiceUnavailable)
}

// readyz answers 200 when every part of every replica works (Redis
// answers, the bus's subscription is in place, no invalidation waits for
// Redis), else 503 with what does not. A replica that is not ready still
// serves (from the database, without L1): take it out of a load balancer
// only if the others are better off.
func (s *service) readyz(w http.ResponseWriter, _ *http.Request) {
	var problems []string
	for _, rep := range s.replicas {
		if err := rep.cache.Health().Err(); err != nil {
			problems = append(problems, "replica "+rep.name+": "+strings.ReplaceAll(err.Error(), "\n", "; "))
		}
	}
	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "\n"), http.StatusServiceUnavailable)
		return
	}
	_, _ = fmt.Fprintln(w, "ok")
}

// healthz answers 200 while the caches serve (until they are closed).
func (s *service) healthz(w http.ResponseWriter, _ *http.Request) {
	for _, rep := range s.replicas {
		if !rep.cache.Health().Ready() {
			http.Error(w, "replica "+rep.name+" is closed", http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = fmt.Fprintln(w, "ok")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
