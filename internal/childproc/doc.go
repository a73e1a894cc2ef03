// Package childproc runs a server binary (redis-server, postgres) as a
// child process of a test binary, for the harnesses internal/redistest
// and internal/pgtest: its output appended to a log file, reaped by a
// goroutine of its own, killed with the test binary (Pdeathsig), and, when
// asked, in a process group of its own so that a kill reaches its
// children too.
//
//	p, err := childproc.Start("redis-server", args, childproc.Options{Dir: dir, LogPath: dir + "/redis.log"})
//	...
//	if p.Exited() {
//		return childproc.WithTail(fmt.Errorf("redis-server exited: %v", p.Err()), p.LogPath(), p.Output(), 20)
//	}
//	err = p.Kill(5 * time.Second)
package childproc
