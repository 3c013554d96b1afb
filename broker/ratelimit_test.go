package broker

import (
	"fmt"
	"strconv"
	"testing"
)

// adminAuthFrom posts an (invalid, so 400) admin login from peer with the
// given X-Forwarded-For header ("" for none).
func (h *harness) adminAuthFrom(peer, xff string) resp {
	req := newRequest("POST", "/v1/admin/auth", "", `{}`)
	req.RemoteAddr = peer + ":4711"
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	return h.serve(req)
}

// ParityException: the real broker keys the admin limiter on the first
// X-Forwarded-For item as sent (§6). Here the header is ignored unless
// TrustProxy is set: rotating it does not evade the limit, and spoofing
// 127.0.0.1 does not lock the operator out.
func TestParityExceptionForwardedForIgnored(t *testing.T) {
	h := newHarness(t)
	for i := range 10 { // 400s count too (§6)
		wantStatus(t, h.adminAuthFrom("192.0.2.66", fmt.Sprintf("10.0.0.%d", i)), 400)
	}
	r := h.adminAuthFrom("192.0.2.66", "10.0.0.99")
	wantProblem(t, r, 429, "rate_limited", "rate limit exceeded, try again later")
	if r.Header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Spoofing the operator's address spends only the spoofer's bucket.
	for range 5 {
		wantStatus(t, h.adminAuthFrom("192.0.2.66", "127.0.0.1"), 429)
	}
	wantStatus(t, h.adminAuthFrom("127.0.0.1", ""), 400)

	t.Run("app auth IP key", func(t *testing.T) {
		h := newHarness(t)
		post := func(peer, xff string) resp {
			req := newRequest("POST", "/v1/app/auth", "", `{}`) // no client_id: keyed on the IP
			req.RemoteAddr = peer + ":4711"
			req.Header.Set("X-Forwarded-For", xff)
			return h.serve(req)
		}
		for i := range 3 {
			wantStatus(t, post("192.0.2.66", "10.0.0."+strconv.Itoa(i)), 400)
		}
		wantStatus(t, post("192.0.2.66", "10.0.0.3"), 429)
		wantStatus(t, post("127.0.0.1", "192.0.2.66"), 400)
	})
}

// With TrustProxy the limiters key on the last X-Forwarded-For item: what
// the proxy in front of the broker appended, not what the client wrote.
func TestLimiterTrustProxy(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.TrustProxy = true })
	const proxy = "127.0.0.1"
	for i := range 10 { // the client rotates a first item of its own
		wantStatus(t, h.adminAuthFrom(proxy, fmt.Sprintf("10.0.0.%d, 203.0.113.9", i)), 400)
	}
	wantStatus(t, h.adminAuthFrom(proxy, "127.0.0.1,203.0.113.9"), 429)
	// Several header lines: the last line's last item.
	req := newRequest("POST", "/v1/admin/auth", "", `{}`)
	req.RemoteAddr = proxy + ":1"
	req.Header.Add("X-Forwarded-For", "198.51.100.1")
	req.Header.Add("X-Forwarded-For", " 203.0.113.9 ")
	wantStatus(t, h.serve(req), 429)
	// Another client behind the same proxy has its own bucket, and so has
	// the proxy host itself (no header, or an empty one).
	wantStatus(t, h.adminAuthFrom(proxy, "198.51.100.1"), 400)
	wantStatus(t, h.adminAuthFrom(proxy, ""), 400)
	wantStatus(t, h.adminAuthFrom(proxy, "203.0.113.9, "), 400)
}
