package kafkasource_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests: the Sources'
// clients, the kfake clusters, the caches.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
