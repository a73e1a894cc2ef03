package redisbus

// Queued returns how many messages wait in the queue of namespace ns.
func Queued(b *Bus, ns string) int {
	b.mu.Lock()
	p := b.publishers[ns]
	b.mu.Unlock()
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}
