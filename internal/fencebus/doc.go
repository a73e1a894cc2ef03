// Package fencebus wraps an invalidate.Bus for the tests that run several
// cache instances: it notes the keys its subscription hears, so that a
// test can make every instance publish a fence and wait until every
// instance heard every fence. Pub/sub keeps the order of one publisher, so
// by then every message published before has arrived. For failure
// reports it also remembers when each key was last named by each origin,
// and when the subscription was last lost.
package fencebus
