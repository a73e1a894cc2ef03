package kafkasource_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate/cdc/cdctest"
	"github.com/tiercache/tiercache/invalidate/cdc/kafkasource"
)

// The environment of TestHelperConsumer, the child of TestSourceCrash.
const (
	envBrokers = "KAFKASOURCE_TEST_CHILD_BROKERS"
	envOut     = "KAFKASOURCE_TEST_CHILD_OUT"
	crashGroup = "crash"
)

// A member killed with SIGKILL mid-stream (no leave, no last commit) holds
// its partitions until the session timeout; then the survivor takes them
// over, from the last committed offsets, and no change is missed: every
// change was evicted by the survivor, or by the killed member before it
// committed it. The killed member is this test binary, run again as a
// child process (in-process, Close always leaves the group).
func TestSourceCrash(t *testing.T) {
	t.Parallel()
	const partitions = 4
	c := newCluster(t, partitions, usersTopic)
	f := feed(t, newProducer(t, c), partitions, 8, 5*time.Millisecond)

	out := filepath.Join(t.TempDir(), "evicted")
	child := exec.Command(os.Args[0], "-test.run=^TestHelperConsumer$", "-test.count=1")
	child.Env = append(os.Environ(), envBrokers+"="+strings.Join(c.ListenAddrs(), ","), envOut+"="+out)
	var logs bytes.Buffer
	child.Stdout, child.Stderr = &logs, &logs
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var reap sync.Once
	wait := func() { reap.Do(func() { _ = child.Wait() }) }
	t.Cleanup(func() {
		_ = child.Process.Kill()
		wait()
		if t.Failed() {
			t.Logf("the child's output:\n%s", logs.String())
		}
	})

	survivor := cdctest.NewRecorder()
	start(t, newSource(t, c, kafkasource.Options{Group: crashGroup, Topics: []string{usersTopic},
		Engine: usersEngine(t, survivor, nil, nil), MaxBatch: 16}))
	waitAssigned(t, c, crashGroup, 2, partitions)
	waitFor(t, 15*time.Second, "both members evicting", func() bool {
		_, n := survivor.Deletes()
		return n > 200 && len(readEvicted(t, out)) > 200
	})

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait()
	killedAt := int(f.next.Load())
	waitAssigned(t, c, crashGroup, 1, partitions) // after the session timeout (1 s)
	waitFor(t, 10*time.Second, "the survivor evicting what came after the kill, in every partition", func() bool {
		for p := range partitions {
			if !survivor.Has(strconv.Itoa(killedAt + 100 + p)) {
				return false
			}
		}
		return true
	})
	n := f.halt()
	waitFor(t, 15*time.Second, "every offset committed", func() bool { return commitLag(c, crashGroup, usersTopic) == "" })

	byChild := readEvicted(t, out)
	childHas := func(key string) bool { return byChild[key] > 0 }
	if count, first := missing(n, childHas, survivor.Has); count > 0 {
		t.Fatalf("%d of %d changes missed (the first: user %s)", count, n, first)
	}
	childTotal := 0
	for _, k := range byChild {
		childTotal += k
	}
	total, distinct := survivor.Deletes()
	t.Logf("%d changes: the killed member evicted %d (%d distinct), the survivor %d (%d distinct); %d redeliveries",
		n, childTotal, len(byChild), total, distinct, childTotal+total-n)
}

// readEvicted returns the keys a child evicted, with how many times.
func readEvicted(t testing.TB, path string) map[string]int {
	t.Helper()
	keys, err := cdctest.ReadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestHelperConsumer is the member that TestSourceCrash kills: a Source
// whose engine appends the keys it evicts to a file (before Apply returns,
// so before they are committed). It runs only as that test's child.
func TestHelperConsumer(t *testing.T) {
	brokers := os.Getenv(envBrokers)
	if brokers == "" {
		t.Skip("the child process of TestSourceCrash")
	}
	ft, err := cdctest.NewFileTarget(os.Getenv(envOut))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ft.Close() }()
	src, err := kafkasource.New(&kafkasource.Options{Brokers: strings.Split(brokers, ","), Group: crashGroup,
		Topics: []string{usersTopic}, Engine: usersEngine(t, ft, nil, nil), MaxBatch: 16, ClientOptions: fastGroup()})
	if err != nil {
		t.Fatal(err)
	}
	// A child whose parent died does not linger.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := src.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
