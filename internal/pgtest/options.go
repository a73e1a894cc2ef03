package pgtest

// Option changes the configuration of a server started by [StartServer] or [NewServer].
type Option func(*config)

// config is what the options set.
type config struct {
	settings []setting // in order: a later one wins
}

// setting is one server configuration parameter, given to postgres as -c name=value.
type setting struct{ name, value string }

// newConfig returns the default configuration changed by opts.
func newConfig(opts []Option) config {
	c := config{settings: []setting{
		// Loopback only, TCP only: no socket file, no lock file outside the server's directory.
		{"listen_addresses", "127.0.0.1"},
		{"unix_socket_directories", ""},
		// Logical decoding on, for CDC tests.
		{"wal_level", "logical"},
		{"max_replication_slots", "16"},
		{"max_wal_senders", "16"},
		// Fast: what a process crash (Kill) would lose is still in the OS's page cache. Commits stay
		// synchronous: logical decoding sends only flushed WAL, and off would add latency to CDC.
		{"fsync", "off"},
		{"synchronous_commit", "on"},
		{"full_page_writes", "off"},
		// Small.
		{"shared_buffers", "32MB"},
		{"max_connections", "50"},
	}}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Setting sets the server configuration parameter name to value (postgres -c name=value), over the
// defaults and any earlier Setting of the same name. The defaults: listen_addresses=127.0.0.1,
// unix_socket_directories="" (none), wal_level=logical, max_replication_slots=16, max_wal_senders=16,
// fsync=off, synchronous_commit=on, full_page_writes=off, shared_buffers=32MB, max_connections=50.
// The port is not a setting: it is drawn by [StartServer].
func Setting(name, value string) Option {
	return func(c *config) { c.settings = append(c.settings, setting{name, value}) }
}
