package broker

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxBuckets bounds the limiter maps; beyond it, full buckets are dropped
// (a new key starts full anyway, so dropping them changes nothing).
const maxBuckets = 10000

// limiter is a set of token buckets, one per key (§6). A new key starts
// full; every request that reaches it takes a token whatever its outcome; a
// rejected request takes none.
type limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(limit rate.Limit, burst int) *limiter {
	return &limiter{limit: limit, burst: burst, buckets: map[string]*rate.Limiter{}}
}

// allow takes a token from key's bucket at time now.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			for k, v := range l.buckets {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.buckets, k)
				}
			}
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	return b.AllowN(now, 1)
}

// clientIP is the per-client limiter key: the peer address without its
// port. Parity exception: the real broker keys on the first item of
// X-Forwarded-For as sent (§6), so a client picks its own key, evading the
// limit by rotating it or locking out another address by spoofing it. Here
// the header counts only with trustProxy, and then its last item: the
// address the (trusted) proxy in front of the broker saw and appended.
func clientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := strings.TrimSpace(last); ip != "" {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
