// Command invlog measures the two ways an ordered invalidation log could
// reach the instances of a namespace, on a running redis-server: PUBLISH
// to a channel (what the bus does today), XADD to a stream read by every
// instance with XREAD BLOCK (the channel replaced by the log), and XADD
// and PUBLISH in one pipeline (the log beside the channel). For each it
// prints the delivery latency (publication to receipt, over every reader),
// the Redis CPU per command from INFO commandstats, and, for the stream,
// how long a reader takes to read it all back with XRANGE (the catch-up of
// an instance that lost its subscription) and its memory per entry. With
// streampub the readers subscribe to the channel: the log is only read to
// catch up. streamwait is streampub made to survive a failover: XADD, then
// WAIT 1 (the entry is on a replica), then PUBLISH; it needs a replica of
// the server.
//
// Usage, from the bench module, with a server of your own on loopback:
//
//	redis-server --port 6390 --save '' --appendonly no &
//	redis-server --port 6391 --save '' --appendonly no --replicaof 127.0.0.1 6390 &
//	go run ./cmd/invlog -addr 127.0.0.1:6390 pubsub stream streampub streamwait
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6390", "the redis-server to measure on")
	readers := flag.Int("readers", 4, "instances reading the invalidations")
	msgs := flag.Int("msgs", 3000, "messages published, one every -every")
	every := flag.Duration("every", 200*time.Microsecond, "pause between two publications")
	flag.Parse()
	for _, mode := range flag.Args() {
		if err := run(context.Background(), *addr, mode, *readers, *msgs, *every); err != nil {
			log.Fatal(err)
		}
	}
}

func run(ctx context.Context, addr, mode string, readers, msgs int, every time.Duration) error {
	pub := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = pub.Close() }()
	if err := pub.ConfigResetStat(ctx).Err(); err != nil {
		return err
	}
	name := "invlog:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	lat := make([][]time.Duration, readers)
	errs := make(chan error, readers)
	ready := make(chan struct{}, readers)
	var wg sync.WaitGroup
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := read(ctx, addr, mode, name, msgs, ready, &lat[r]); err != nil {
				errs <- err
			}
		}()
	}
	for range readers {
		<-ready
	}
	time.Sleep(50 * time.Millisecond) // every XREAD is blocked, every SUBSCRIBE in place
	payload := strings.Repeat("k", 40)
	start := time.Now()
	for range msgs {
		now := strconv.FormatInt(time.Now().UnixNano(), 10)
		add := &redis.XAddArgs{Stream: name, MaxLen: 10000, Approx: true, Values: []string{"t", now, "m", payload}}
		var err error
		switch mode {
		case "pubsub":
			err = pub.Publish(ctx, name, now+" "+payload).Err()
		case "stream":
			err = pub.XAdd(ctx, add).Err()
		case "streampub":
			_, err = pub.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.XAdd(ctx, add)
				p.Publish(ctx, name+":ch", now+" "+payload)
				return nil
			})
		case "streamwait":
			// The log made to survive a failover: the entry is on a
			// replica before the message goes out.
			if err = pub.XAdd(ctx, add).Err(); err == nil {
				var n int64
				if n, err = pub.Wait(ctx, 1, 100*time.Millisecond).Result(); err == nil && n < 1 {
					err = errors.New("WAIT: no replica took the entry within 100 ms (start one: -replicaof)")
				}
			}
			if err == nil {
				err = pub.Publish(ctx, name+":ch", now+" "+payload).Err()
			}
		default:
			return errors.New("unknown mode " + mode + ": pubsub, stream, streampub or streamwait")
		}
		if err != nil {
			return err
		}
		time.Sleep(every)
	}
	took := time.Since(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	at := func(p float64) time.Duration { return all[int(float64(len(all)-1)*p)] }
	fmt.Printf("%-9s %d readers, %.0f us per publication; delivery p50 %v, p90 %v, p99 %v\n",
		mode, readers, float64(took.Microseconds())/float64(msgs), at(0.5), at(0.9), at(0.99))
	for _, l := range strings.Split(pub.Info(ctx, "commandstats").Val(), "\n") {
		for _, c := range []string{"cmdstat_publish:", "cmdstat_xadd:", "cmdstat_xread:", "cmdstat_wait:"} {
			if strings.HasPrefix(l, c) {
				fmt.Println("   ", strings.TrimSpace(strings.Split(l, ",rejected")[0]))
			}
		}
	}
	if mode == "pubsub" {
		return nil
	}
	t, n := time.Now(), 0
	for cursor := "-"; ; {
		res, err := pub.XRangeN(ctx, name, cursor, "+", 1000).Result()
		if err != nil {
			return err
		}
		if len(res) == 0 {
			break
		}
		n += len(res)
		cursor = "(" + res[len(res)-1].ID
	}
	mem := pub.MemoryUsage(ctx, name).Val()
	fmt.Printf("    catch-up: XRANGE of %d entries in %v; %d bytes, %.0f per entry\n", n, time.Since(t), mem, float64(mem)/float64(n))
	return pub.Del(ctx, name).Err()
}

// read receives msgs messages as one instance would, and appends the
// delay of each to lat.
func read(ctx context.Context, addr, mode, name string, msgs int, ready chan<- struct{}, lat *[]time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	since := func(ns string) {
		sent, _ := strconv.ParseInt(ns, 10, 64)
		*lat = append(*lat, time.Since(time.Unix(0, sent)))
	}
	if mode != "stream" { // streampub, streamwait: the log is read only to catch up
		channel := name
		if mode != "pubsub" {
			channel = name + ":ch"
		}
		ps := c.Subscribe(ctx, channel)
		defer func() { _ = ps.Close() }()
		if _, err := ps.Receive(ctx); err != nil {
			return err
		}
		ready <- struct{}{}
		ch := ps.Channel()
		for range msgs {
			m := <-ch
			since(strings.SplitN(m.Payload, " ", 2)[0])
		}
		return nil
	}
	ready <- struct{}{}
	for last, n := "$", 0; n < msgs; {
		res, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{name, last}, Block: 0, Count: 100}).Result()
		if err != nil {
			return err
		}
		for _, m := range res[0].Messages {
			t, _ := m.Values["t"].(string)
			since(t)
			last = m.ID
			n++
		}
	}
	return nil
}
