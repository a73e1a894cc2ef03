package redisbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate"
)

// The log (Options.LogLength): every message of a namespace is also an
// entry of a Redis stream beside its channel, written by the same script
// that publishes it, so that the stream's order is the order in which
// the subscribers hear the messages. A subscription that broke reads
// back, from the newest entry, to the newest one it had heard, and
// replays what comes after it.

// logScript appends a message to the log and publishes it: KEYS[1] is the
// log, ARGV the payload, the channel, the log's length and the publish
// command (PUBLISH or SPUBLISH; the log key is in the channel's slot).
var logScript = redis.NewScript(`
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'm', ARGV[1])
return redis.call(ARGV[4], ARGV[2], ARGV[1])
`)

// LogKey returns the key of the log of namespace ns (Options.LogLength):
// the channel's name in braces, followed by ":log", so that it is in the
// channel's Cluster slot ("{tc:inv:users}:log"). A channel name that holds
// a hash tag of its own keeps it: the key is the name followed by ":log".
func (b *Bus) LogKey(ns string) string {
	channel := b.Channel(ns)
	if i := strings.IndexByte(channel, '{'); i >= 0 && strings.IndexByte(channel[i+1:], '}') > 0 {
		return channel + ":log"
	}
	return "{" + channel + "}:log"
}

// publishLogged sends one encoded message through the log script.
func (b *Bus) publishLogged(ctx context.Context, key, channel string, payload []byte) error {
	cmd := "PUBLISH"
	if b.cluster != nil {
		cmd = "SPUBLISH"
	}
	return logScript.Run(ctx, b.client, []string{key}, payload, channel, b.cfg.LogLength, cmd).Err()
}

// heard is one message a subscription delivered: its origin and number.
type heard struct {
	origin string
	seq    uint64
}

// recentSize is how many of the last messages a subscription remembers
// (at most a quarter of the log's length): the newest of them that is in
// the log tells where the subscription stopped hearing.
const recentSize = 256

// recent remembers the last messages a subscription delivered. Its zero
// value is ready once size is set.
type recent struct {
	size int
	ring []heard
	next int // where the next one goes once ring is full
	set  map[heard]struct{}
}

func (r *recent) add(h heard) {
	if r.set == nil {
		r.set = make(map[heard]struct{}, r.size)
	}
	if _, ok := r.set[h]; ok {
		return
	}
	if len(r.ring) < r.size {
		r.ring = append(r.ring, h)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = h
		r.next = (r.next + 1) % r.size
	}
	r.set[h] = struct{}{}
}

func (r *recent) has(h heard) bool {
	_, ok := r.set[h]
	return ok
}

// logState is what a subscription knows of its namespace's log. It belongs
// to the read goroutine.
type logState struct {
	key string
	// node is the server that held the log when the subscription was last
	// (re)established; its zero value when unknown.
	node logNode
	// anchor is the ID of the newest entry the subscription knows it
	// applied, as of its last subscription or replay; "" when unknown.
	anchor string
	recent recent
	// logging holds the origins seen in the log: publishers that log.
	logging map[string]struct{}
}

// logNode identifies the server that holds a log. Another run ID means
// that another server took the log over (a failover) or that the server
// restarted: either may have lost the log's last entries.
type logNode struct {
	runID  string
	replID string // its replication ID (INFO replication master_replid)
	addr   string // on a Cluster, its address
}

// nodeInfo returns the server that holds the log now, and its INFO
// server and replication.
func (s *subscription) nodeInfo(ctx context.Context) (logNode, string, error) {
	for try := 0; ; try++ {
		var n logNode
		var text string
		var err error
		if s.b.cluster != nil {
			var c *redis.Client
			if c, err = s.b.cluster.MasterForKey(ctx, s.log.key); err != nil {
				return n, "", err
			}
			n.addr = c.Options().Addr
			text, err = c.Info(ctx, "server", "replication").Result()
		} else {
			text, err = s.b.client.Info(ctx, "server", "replication").Result()
		}
		if err != nil {
			return n, "", err
		}
		n.runID, n.replID = infoField(text, "run_id"), infoField(text, "master_replid")
		switch {
		case n.runID == "":
			return n, "", errors.New("redisbus: INFO without run_id")
		case infoField(text, "role") != "master":
			// A Cluster client's slot map from before a failover: the
			// log is read through redirections, from the new master,
			// whose run ID must be the one compared. The client reloads
			// its map in the background: look again every 50 ms, for up
			// to 2 s.
			if try >= 40 || s.b.cluster == nil {
				return n, "", fmt.Errorf("redisbus: the server that holds the log (%s) is not a master", n.addr)
			}
			s.b.reloadState(ctx)
			if !s.b.sleep(50 * time.Millisecond) {
				return n, "", invalidate.ErrClosed
			}
			continue
		}
		return n, text, nil
	}
}

// tookOver reports whether the Cluster master that holds the log now (cur)
// took it over from the one that held it before (old) without losing any
// of its entries: cur continues old's replication history, and old, alive,
// now replicates cur and could resume from where it stood (a partial
// resynchronization keeps old's replication ID as its second one; a full
// one, which a lost tail forces, does not). That is what a manual CLUSTER
// FAILOVER does; a master that died cannot be asked, and its entries that
// no replica had are lost. old may take a moment to follow cur, and the
// client to learn that it does: tookOver looks every 50 ms for up to 2 s,
// and gives up at once when old does not answer.
func (s *subscription) tookOver(ctx context.Context, old, cur logNode, curInfo string) error {
	switch {
	case s.b.cluster == nil:
		return errors.New("not a Cluster")
	case old.addr == "" || old.replID == "":
		return errors.New("the old server is unknown")
	case infoField(curInfo, "master_replid2") != old.replID:
		return fmt.Errorf("the new master at %s does not continue the old one's replication (%s, %s)", cur.addr, infoField(curInfo, "master_replid2"), old.replID)
	}
	state := "not in the Cluster's slot map"
	for range 40 {
		// The slot map lists the old master as a replica only once the
		// Cluster has told the client so: until then it is not found.
		var mu sync.Mutex
		found, follows := false, false
		var failed error
		_ = s.b.cluster.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
			if c.Options().Addr != old.addr {
				return nil
			}
			text, err := c.Info(ctx, "replication").Result()
			mu.Lock()
			defer mu.Unlock()
			found, failed = true, err
			follows = err == nil && infoField(text, "role") == "slave" &&
				infoField(text, "master_link_status") == "up" && infoField(text, "master_replid2") == old.replID
			return nil
		})
		switch {
		case follows:
			return nil
		case failed != nil:
			return fmt.Errorf("the old master at %s does not answer: %w", old.addr, failed)
		case found:
			state = "not a replica of the new master after a partial resynchronization"
		}
		if !s.b.sleep(50 * time.Millisecond) {
			return invalidate.ErrClosed
		}
		s.b.reloadState(ctx)
	}
	return fmt.Errorf("the old master at %s is %s", old.addr, state)
}

// infoField returns the value of field name in the text of INFO.
func infoField(text, name string) string {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// maxLogging bounds logState.logging, as maxOrigins bounds a Tracker.
const maxLogging = 4096

// errCannotReplay wraps every reason a subscription could not tell what it
// missed from the log.
var errCannotReplay = errors.New("redisbus: cannot replay from the log")

// logPage is how many entries one read of the log returns.
const logPage = 500

// mark notes, once a subscription is in place, where the log stands: the
// server that holds it and its newest entry. Whatever the subscription
// misses from now on comes after that entry, on that server.
func (s *subscription) mark(ctx context.Context) {
	l := s.log
	l.node, l.anchor = logNode{}, ""
	node, _, err := s.nodeInfo(ctx)
	var last []redis.XMessage
	if err == nil {
		last, err = s.b.client.XRevRangeN(ctx, l.key, "+", "-", 1).Result()
	}
	if err != nil {
		s.b.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "tiercache: the invalidation log could not be read; the next break of the subscription will flush",
			slog.String("channel", s.channel), slog.Any("error", err))
		return
	}
	l.node, l.anchor = node, "0-0"
	if len(last) > 0 {
		l.anchor = last[0].ID
	}
}

// replay reads the log back from its newest entry to the newest one the
// subscription applied, and delivers those after it, oldest first. It
// fails, delivering nothing, when it cannot tell what was missed: the
// server that holds the log changed since the subscription's last mark,
// the log no longer reaches back to what the subscription applied, an
// entry does not open, or an origin the subscription heard recently has
// no entry in the log (a publisher that does not log: what it published
// meanwhile cannot be replayed). On success the log is marked anew.
func (s *subscription) replay(ctx context.Context) (int, error) {
	l := s.log
	var scratch invalidate.Message
	m := &scratch
	node, info, err := s.nodeInfo(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errCannotReplay, err)
	}
	if old := l.node; node.runID != old.runID || old.runID == "" {
		if err := s.tookOver(ctx, old, node, info); err != nil {
			l.node, l.anchor = node, ""
			return 0, fmt.Errorf("%w: the server that holds it changed (run ID %q, was %q): %w", errCannotReplay, node.runID, old.runID, err)
		}
		l.node = node
	}
	// Origins heard recently that were never seen in the log.
	need := make(map[string]struct{})
	for _, h := range l.recent.ring {
		if _, ok := l.logging[h.origin]; !ok {
			need[h.origin] = struct{}{}
		}
	}
	var missed []invalidate.Message // newest first
	newest := ""
	found := false // the newest entry applied
	end := "+"
	scanned, whole := 0, false // whole: the scan reached the log's first entry
	for scanned < s.b.cfg.LogLength+2*logPage {
		page, err := s.b.client.XRevRangeN(ctx, l.key, end, "-", logPage).Result()
		if err != nil {
			return 0, fmt.Errorf("%w: %w", errCannotReplay, err)
		}
		if newest == "" {
			newest = "0-0"
			if len(page) > 0 {
				newest = page[0].ID
			}
		}
		for _, e := range page {
			if !found && l.anchor != "" && !idAfter(e.ID, l.anchor) {
				found = true
			}
			if found && len(need) == 0 {
				break
			}
			p, _ := e.Values["m"].(string)
			if err := s.open.open(p, m); err != nil {
				return 0, fmt.Errorf("%w: entry %s: %w", errCannotReplay, e.ID, err)
			}
			s.logged(m.Origin)
			delete(need, m.Origin)
			if !found && l.recent.has(heard{m.Origin, m.Seq}) {
				found = true
			}
			if !found {
				c := *m
				c.Keys, c.Tags = append([]string(nil), m.Keys...), append([]string(nil), m.Tags...)
				missed = append(missed, c)
			}
		}
		scanned += len(page)
		if found && len(need) == 0 {
			break
		}
		if len(page) < logPage {
			whole = true
			break
		}
		end = "(" + page[len(page)-1].ID
	}
	if !found && whole && l.anchor == "0-0" && scanned < minLogLength {
		// The log was empty when the subscription was marked, and every
		// entry since is here: a trim leaves at least LogLength entries,
		// and every LogLength is at least minLogLength.
		found = true
	}
	switch {
	case !found:
		return 0, fmt.Errorf("%w: it does not reach back to the last message heard", errCannotReplay)
	case len(need) > 0:
		return 0, fmt.Errorf("%w: %d recent publishers are not in it", errCannotReplay, len(need))
	}
	for i := len(missed) - 1; i >= 0; i-- {
		s.apply(&missed[i])
	}
	l.anchor = newest
	return len(missed), nil
}

// apply delivers a message read from the log: it is remembered and its
// number recorded, without the gap check (numbers of sends that failed
// are in no log, and their keys come again with the next message).
func (s *subscription) apply(m *invalidate.Message) {
	s.tracker.Next(m.Origin, m.Seq)
	s.log.recent.add(heard{m.Origin, m.Seq})
	s.h.Receive(m)
}

// logged notes that origin's messages are in the log.
func (s *subscription) logged(origin string) {
	l := s.log
	if _, ok := l.logging[origin]; ok {
		return
	}
	if l.logging == nil || len(l.logging) >= maxLogging {
		l.logging = make(map[string]struct{})
	}
	l.logging[origin] = struct{}{}
}

// idAfter reports whether stream ID a comes after b ("ms-seq", both).
func idAfter(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	if am != bm {
		return am > bm
	}
	return as > bs
}

// splitID returns the two numbers of a stream ID; a malformed one reads
// as 0-0.
func splitID(id string) (ms, seq uint64) {
	a, b, _ := strings.Cut(id, "-")
	for _, c := range []byte(a) {
		if c < '0' || c > '9' {
			return 0, 0
		}
		ms = ms*10 + uint64(c-'0')
	}
	for _, c := range []byte(b) {
		if c < '0' || c > '9' {
			return 0, 0
		}
		seq = seq*10 + uint64(c-'0')
	}
	return ms, seq
}
