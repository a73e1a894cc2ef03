package redisstore

// QueueShard exports Queue.shard to the external tests, which check where
// a key's entries go.
func QueueShard(q *Queue, key string) int { return q.shard(key) }
