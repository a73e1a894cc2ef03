package redisstore

import "context"

// KeySlot exports keySlot to the external tests, which compare it with a
// real cluster's CLUSTER KEYSLOT.
var KeySlot = keySlot

// OnReload makes s, and the views made from it afterwards, call f each time
// they ask their Cluster client to reload its slot map. s must have been
// made with a *redis.ClusterClient.
func OnReload(s *Store, f func()) {
	reload := s.reload
	s.reload = func(ctx context.Context) {
		f()
		reload(ctx)
	}
}
