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
