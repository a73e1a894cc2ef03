package kafkasource_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
	"github.com/tiercache/tiercache/invalidate/cdc/kafkasource"
)

// feeder produces creates of users 0, 1, 2... to the users topic's
// partitions (id mod partitions), a chunk at a time, until halted.
type feeder struct {
	next atomic.Int64 // the next id: ids below it were produced
	stop chan struct{}
	done chan struct{}
}

func feed(t testing.TB, prod *kgo.Client, partitions int32, chunk int, every time.Duration) *feeder {
	f := &feeder{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
			first := int(f.next.Load())
			records := make([]*kgo.Record, chunk)
			for i := range records {
				id := first + i
				records[i] = userCreate(id, int32(id)%partitions)
			}
			if err := prod.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			f.next.Add(int64(chunk))
		}
	}()
	t.Cleanup(func() { f.halt() })
	return f
}

// halt stops producing and returns how many users were produced.
func (f *feeder) halt() int {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
	return int(f.next.Load())
}

// missing returns how many of ids 0..n-1 no recorder evicted, and the
// first of them.
func missing(n int, evicted ...func(string) bool) (count int, first string) {
	first = "none"
	for id := range n {
		key := strconv.Itoa(id)
		found := false
		for _, has := range evicted {
			if has(key) {
				found = true
				break
			}
		}
		if !found {
			if count == 0 {
				first = key
			}
			count++
		}
	}
	return count, first
}

// waitAssigned waits until group has members members, each with a share
// of the partitions, all of them assigned.
func waitAssigned(t testing.TB, c *kfake.Cluster, group string, members, partitions int) {
	t.Helper()
	waitFor(t, 15*time.Second, strconv.Itoa(members)+" members sharing "+strconv.Itoa(partitions)+" partitions", func() bool {
		info := c.GroupInfo(group)
		if info == nil || info.State != "Stable" || len(info.Members) != members || info.NumAssigned() != partitions {
			return false
		}
		for _, m := range info.Members {
			if m.NumAssigned() == 0 {
				return false
			}
		}
		return true
	})
}

// Two Sources share a topic's four partitions while records keep coming;
// one stops mid-stream, the other takes its partitions over. Every change
// is evicted (some twice: redeliveries), every offset committed.
func TestSourceRebalance(t *testing.T) {
	t.Parallel()
	const group, partitions = "cache", 4
	c := newCluster(t, partitions, usersTopic)
	f := feed(t, newProducer(t, c), partitions, 8, 5*time.Millisecond)
	a, b := cdctest.NewRecorder(), cdctest.NewRecorder()
	opts := func(r *cdctest.Recorder) kafkasource.Options {
		return kafkasource.Options{Group: group, Topics: []string{usersTopic}, Engine: usersEngine(t, r, nil, nil), MaxBatch: 16}
	}
	runA := start(t, newSource(t, c, opts(a)))
	start(t, newSource(t, c, opts(b)))
	waitAssigned(t, c, group, 2, partitions)
	waitFor(t, 10*time.Second, "both Sources evicting", func() bool {
		_, na := a.Deletes()
		_, nb := b.Deletes()
		return na > 200 && nb > 200
	})

	runA.stop(t) // leaves the group mid-stream
	stoppedAt := int(f.next.Load())
	waitAssigned(t, c, group, 1, partitions)
	waitFor(t, 10*time.Second, "B evicting what comes after A left, in every partition", func() bool {
		for p := range partitions {
			if !b.Has(strconv.Itoa(stoppedAt + 100 + p)) {
				return false
			}
		}
		return true
	})
	n := f.halt()
	waitFor(t, 15*time.Second, "every change evicted and committed", func() bool {
		count, _ := missing(n, a.Has, b.Has)
		return count == 0 && commitLag(c, group, usersTopic) == ""
	})
	ta, da := a.Deletes()
	tb, db := b.Deletes()
	t.Logf("%d changes: A evicted %d (%d distinct), B %d (%d distinct); %d redeliveries", n, ta, da, tb, db, ta+tb-n)
}

// A Source whose Apply keeps failing gives its batch back when a
// rebalance waits for it, rather than holding the group up to the
// rebalance timeout; the records it gave back are applied later, by
// whichever member owns their partitions then.
func TestSourceRebalanceWhileFailing(t *testing.T) {
	t.Parallel()
	const group, partitions, n = "cache", 4, 200
	c := newCluster(t, partitions, usersTopic)
	var records []*kgo.Record
	for id := range n {
		records = append(records, userCreate(id, int32(id)%partitions))
	}
	produce(t, newProducer(t, c), records...)

	var down atomic.Bool
	down.Store(true)
	a, b := cdctest.NewRecorder(), cdctest.NewRecorder()
	failDeletes(a, func(int) error {
		if down.Load() {
			return errors.New("L2 down")
		}
		return nil
	})
	opts := func(name string, r *cdctest.Recorder) kafkasource.Options {
		return kafkasource.Options{Group: group, Topics: []string{usersTopic}, Engine: usersEngine(t, r, nil, nil),
			RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 50 * time.Millisecond,
			// A rebalance that the failing batch held up until the
			// rebalance timeout would fail the test.
			ClientOptions: []kgo.Opt{kgo.ClientID(name), kgo.RebalanceTimeout(time.Minute)}}
	}
	start(t, newSource(t, c, opts("a", a)))
	waitFor(t, 10*time.Second, "A failing", func() bool { return a.Failed() >= 2 })
	start(t, newSource(t, c, opts("b", b)))
	waitAssigned(t, c, group, 2, partitions)
	waitFor(t, 10*time.Second, "B evicting while A fails", func() bool { _, nb := b.Deletes(); return nb > 0 })
	info := c.GroupInfo(group)
	for _, m := range info.Members {
		if m.ClientID != "a" {
			continue
		}
		for _, p := range m.Assignment[usersTopic] {
			if commit, ok := info.Commits[usersTopic][p]; ok && commit.Offset > 0 {
				t.Errorf("partition %d of A committed at %d while A fails", p, commit.Offset)
			}
		}
	}
	down.Store(false)
	waitFor(t, 15*time.Second, "every change evicted and committed", func() bool {
		count, _ := missing(n, a.Has, b.Has)
		return count == 0 && commitLag(c, group, usersTopic) == ""
	})
	_, da := a.Deletes()
	_, db := b.Deletes()
	t.Logf("A evicted %d, B %d", da, db)
	if da == 0 {
		t.Error("A evicted nothing after it recovered")
	}
}
