package broker

import (
	"sync"
	"time"
)

// defaultMaxLiveNonces bounds the nonces a Server keeps at once (about
// 200 bytes each, so some 13 MiB): enough for ~2,000 challenges per second
// sustained over the 30 s lifetime, far above any honest registration rate.
const defaultMaxLiveNonces = 1 << 16

// Replies to a nonce that cannot be used at registration (§5 step 4).
const (
	detailNonceUnknown  = "nonce: nonce not found or expired"
	detailNonceConsumed = "nonce: nonce already consumed"
)

// nonceStore holds the challenge nonces (§5): each is valid for a fixed
// lifetime from its issue and can be consumed once.
//
// Because every nonce lives exactly ttl, issue order is expiry order (the
// clock never goes back: time.Now is monotonic, the fake clock only
// advances). A FIFO queue of nonces in issue order therefore lets each
// challenge drop the expired nonces at its front and stop at the first live
// one: every nonce is queued once and dropped once, so expiry costs O(1)
// amortised per challenge, with no scan of the live nonces. Consumed nonces
// stay until they expire, so a replay is still told "already consumed".
//
// At most max nonces are live; beyond that a challenge is refused until the
// oldest expires, so a challenge flood cannot grow memory without bound.
// The store has its own lock: a flood never holds the Server's mu.
type nonceStore struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	live  map[string]nonceState
	queue []string // nonces in issue order; queue[head:] are all in live
	head  int
	// inspected counts queue entries examined by expireLocked; tests use
	// it to show that expiry never walks the live nonces.
	inspected uint64
}

type nonceState struct {
	expiresAt time.Time
	consumed  bool
}

func newNonceStore(ttl time.Duration, max int) *nonceStore {
	return &nonceStore{ttl: ttl, max: max, live: map[string]nonceState{}}
}

// issue stores a fresh nonce valid until now+ttl. When max nonces are
// already live it stores nothing and returns ok=false with the time until
// the oldest one expires and frees a slot.
func (ns *nonceStore) issue(now time.Time) (nonce string, retryAfter time.Duration, ok bool) {
	n := randHex(32)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.expireLocked(now)
	if len(ns.live) >= ns.max {
		return "", ns.live[ns.queue[ns.head]].expiresAt.Sub(now), false
	}
	ns.live[n] = nonceState{expiresAt: now.Add(ns.ttl)}
	ns.queue = append(ns.queue, n)
	return n, 0, true
}

// consume marks n used. It returns "" on success, else the registration
// reply's detail: unknown or expired is checked before reuse (§5 step 4).
func (ns *nonceStore) consume(n string, now time.Time) string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	st, ok := ns.live[n]
	switch {
	case !ok || now.After(st.expiresAt):
		return detailNonceUnknown
	case st.consumed:
		return detailNonceConsumed
	}
	st.consumed = true
	ns.live[n] = st
	return ""
}

// len returns the number of nonces held, expired ones not yet dropped
// included.
func (ns *nonceStore) len() int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return len(ns.live)
}

// expireLocked drops the expired nonces at the front of the queue and stops
// at the first live one. The queue is compacted once its dropped prefix is
// at least half of it, which is O(1) amortised per dropped nonce.
func (ns *nonceStore) expireLocked(now time.Time) {
	for ns.head < len(ns.queue) {
		ns.inspected++
		n := ns.queue[ns.head]
		if !now.After(ns.live[n].expiresAt) {
			break
		}
		delete(ns.live, n)
		ns.queue[ns.head] = ""
		ns.head++
	}
	if ns.head > 0 && 2*ns.head >= len(ns.queue) {
		k := copy(ns.queue, ns.queue[ns.head:])
		clear(ns.queue[k:])
		ns.queue = ns.queue[:k]
		ns.head = 0
	}
}
