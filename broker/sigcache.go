package broker

import (
	"crypto/ed25519"
	"crypto/sha256"
	"slices"
	"sync"
)

// sigCacheSize bounds the signature cache: at a few hundred bytes an entry,
// a few megabytes whatever the number of agents.
const sigCacheSize = 8192

// sigCache remembers compact JWSs whose Ed25519 signature this server has
// made or checked, keyed by the SHA-256 of the whole token, with their
// decoded claims once a verification has decoded them. A token presented
// again (every validate, release and renew, and the app's session on every
// launch token) then costs a hash instead of a signature verification and a
// JSON decoding, which dominated the broker's CPU time with a thousand
// tenants. Only what the token's bytes decide is cached: expiry, issuer and
// revocation are checked on every call, in the same order as before.
type sigCache struct {
	mu sync.Mutex
	ok map[[sha256.Size]byte]*claims // nil: signature good, claims not decoded yet
}

func (c *sigCache) add(tok string, cl *claims) {
	k := sha256.Sum256([]byte(tok))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok == nil {
		c.ok = make(map[[sha256.Size]byte]*claims, 256)
	}
	if _, ok := c.ok[k]; !ok && len(c.ok) >= sigCacheSize {
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
	c.ok[k] = cl
}

// get reports whether tok's signature is known good and, if they were
// decoded, a copy of its claims the caller may change.
func (c *sigCache) get(tok string) (cl *claims, found bool) {
	k := sha256.Sum256([]byte(tok))
	c.mu.Lock()
	cached, found := c.ok[k]
	c.mu.Unlock()
	if cached != nil {
		cl = cached.clone()
	}
	return cl, found
}

// clone copies c deeply enough that appending to or changing its slices
// leaves c alone.
func (c *claims) clone() *claims {
	d := *c
	d.Aud = slices.Clone(c.Aud)
	d.Scope = slices.Clone(c.Scope)
	if c.DelegationChain != nil {
		d.DelegationChain = make([]delegRecord, len(c.DelegationChain))
		for i, r := range c.DelegationChain {
			r.Scope = slices.Clone(r.Scope)
			d.DelegationChain[i] = r
		}
	}
	return &d
}

// verifySig reports whether sig is the server's signature of signing, where
// tok is signing + "." + the encoded sig: from the cache (known says the
// cache already holds tok), else by verifying (and caching a success).
func (s *Server) verifySig(tok, signing string, sig []byte, known bool) bool {
	if known {
		return true
	}
	if !ed25519.Verify(s.pub, []byte(signing), sig) {
		return false
	}
	s.sigs.add(tok, nil)
	return true
}
