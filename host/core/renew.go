package core

import "github.com/flytesecrets/flyte/host/identity"

// Renew readies a Core that a resident agent keeps between requests for
// the next one, whose identity comes from src: the secrets service is made
// again, so the store's data key is unwrapped anew with that identity and
// nothing of the last request's identity or key is kept. The plugins stay
// loaded. The caller serves one request at a time on a Core it renews.
func (c *Core) Renew(src *identity.Source) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secrets != nil {
		c.secrets.Close()
		c.secrets = nil
	}
	c.opts.Identity = src
}

// Failed reports whether a plugin load of c failed. A Core keeps a failed
// load for its life, as a command does; a resident agent replaces such a
// Core rather than serve the next request with it, which a new process
// would have loaded afresh.
func (c *Core) Failed() bool {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	for _, l := range c.loads {
		select {
		case <-l.done:
			if l.err != nil {
				return true
			}
		default:
		}
	}
	return false
}
