package broker

import (
	"crypto/ed25519"
	"crypto/sha256"
	"sync"
)

// sigCacheSize bounds the signature cache: at about 50 bytes an entry, a few
// hundred kilobytes whatever the number of agents.
const sigCacheSize = 8192

// sigCache remembers compact JWSs whose Ed25519 signature this server has
// made or checked, keyed by the SHA-256 of the whole token. A token presented
// again (every validate, release and renew, and the app's session on every
// launch token) then costs a hash instead of a signature verification, which
// dominated the broker's CPU time with a thousand tenants. Only the
// signature is cached: expiry, issuer and revocation are checked on every
// call, in the same order as before.
type sigCache struct {
	mu sync.Mutex
	ok map[[sha256.Size]byte]struct{}
}

func (c *sigCache) add(tok string) {
	k := sha256.Sum256([]byte(tok))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok == nil {
		c.ok = make(map[[sha256.Size]byte]struct{}, 256)
	}
	if len(c.ok) >= sigCacheSize {
		// Forget about half, at random (map order): hits are tokens in use
		// right now, which come back soon if evicted.
		n := 0
		for k := range c.ok {
			delete(c.ok, k)
			if n++; n >= sigCacheSize/2 {
				break
			}
		}
	}
	c.ok[k] = struct{}{}
}

func (c *sigCache) has(tok string) bool {
	k := sha256.Sum256([]byte(tok))
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.ok[k]
	return ok
}

// verifySig reports whether sig is the server's signature of signing, where
// tok is signing + "." + the encoded sig: from the cache, else by verifying
// (and caching a success).
func (s *Server) verifySig(tok, signing string, sig []byte) bool {
	if s.sigs.has(tok) {
		return true
	}
	if !ed25519.Verify(s.pub, []byte(signing), sig) {
		return false
	}
	s.sigs.add(tok)
	return true
}
