package redisstore_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2/redisstore"
)

// pipelineCounter is a go-redis hook that counts what the client sends
// alone and in pipelines (the AutoPipeliner's batches are pipelines).
type pipelineCounter struct {
	alone, batches, batched, most atomic.Int64
}

func (h *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.alone.Add(1)
		return next(ctx, cmd)
	}
}

func (h *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.batches.Add(1)
		h.batched.Add(int64(len(cmds)))
		for {
			m := h.most.Load()
			if int64(len(cmds)) <= m || h.most.CompareAndSwap(m, int64(len(cmds))) {
				break
			}
		}
		return next(ctx, cmds)
	}
}

// A Get made alone goes straight to Redis; Gets of 64 goroutines at once
// share pipelines; a Get whose context has ended is not sent.
func TestAutoPipeline(t *testing.T) {
	srv := redistest.NewServer(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: srv.Addr()}))
	hook := &pipelineCounter{}
	client.AddHook(hook)
	s := redisstore.New(client, nil)
	ctx := context.Background()
	const keys = 64
	for i := range keys {
		if err := s.Set(ctx, strconv.Itoa(i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	alone, batches := hook.alone.Load(), hook.batches.Load()
	if _, err := s.Get(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	if a, b := hook.alone.Load()-alone, hook.batches.Load()-batches; a != 1 || b != 0 {
		t.Errorf("a Get alone: %d commands sent alone, %d pipelines; want 1 and 0", a, b)
	}

	const rounds = 50
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range keys {
		wg.Go(func() {
			<-start
			for range rounds {
				if v, err := s.Get(ctx, strconv.Itoa(g)); err != nil || string(v) != "v" {
					t.Errorf("Get(%d) = %q, %v", g, v, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("%d Gets from %d goroutines: %d sent alone, %d commands in %d pipelines (at most %d in one)",
		keys*rounds, keys, hook.alone.Load()-alone-1, hook.batched.Load(), hook.batches.Load()-batches, hook.most.Load())
	if hook.most.Load() < 2 {
		t.Errorf("no pipeline carried more than one Get")
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	before := hook.alone.Load() + hook.batched.Load()
	if _, err := s.Get(canceled, "0"); err == nil {
		t.Error("Get with a canceled context: no error")
	}
	if sent := hook.alone.Load() + hook.batched.Load() - before; sent != 0 {
		t.Errorf("Get with a canceled context sent %d commands", sent)
	}
}
