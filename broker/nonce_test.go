package broker

import (
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// ParityException: the real broker keeps every challenge nonce. Here at
// most MaxLiveNonces are live; a challenge beyond that gets 429 with
// Retry-After the seconds until the oldest expires, and live nonces still
// register.
func TestParityExceptionChallengeFlood(t *testing.T) {
	const max = 50
	h := newHarness(t, func(c *Config) { c.MaxLiveNonces = max })
	admin := h.adminToken()
	first := h.challenge()
	h.clock.Advance(10 * time.Second)
	for range max - 1 {
		h.challenge()
	}
	r := h.do("GET", "/v1/challenge", "", nil)
	wantProblem(t, r, 429, "rate_limited", "too many outstanding challenges, try again later")
	if ra := r.Header.Get("Retry-After"); ra != "20" {
		t.Fatalf("Retry-After %q, want 20 (the first nonce's remaining life)", ra)
	}
	if n := h.s.nonces.len(); n != max {
		t.Fatalf("%d nonces held, want %d", n, max)
	}
	// A nonce issued before the flood still registers, and stays counted
	// (consumed) until it expires, so a replay is told so.
	lt := h.adminLaunch(admin, []string{"read:data:x"}, nil)
	wantStatus(t, h.do("POST", "/v1/register", "", registerBody(t, lt, first, newKey(t), "o", "t", []string{"read:data:x"})), 200)
	lt = h.adminLaunch(admin, []string{"read:data:x"}, nil)
	wantProblem(t, h.do("POST", "/v1/register", "", registerBody(t, lt, first, newKey(t), "o", "t", []string{"read:data:x"})),
		401, "unauthorized", "nonce: nonce already consumed")
	wantStatus(t, h.do("GET", "/v1/challenge", "", nil), 429)
	// Once the first nonce expires, one slot frees: one challenge passes.
	h.clock.Advance(20*time.Second + time.Nanosecond)
	h.challenge()
	wantStatus(t, h.do("GET", "/v1/challenge", "", nil), 429)
	// When all expire, the store empties again.
	h.clock.Advance(31 * time.Second)
	h.challenge()
	if n := h.s.nonces.len(); n != 1 {
		t.Fatalf("%d nonces held after expiry, want 1", n)
	}
}

// Nonce expiry never walks the live nonces: with thousands live, each
// challenge examines one queue entry, and over any run the entries examined
// are at most the nonces issued plus one per challenge (O(1) amortised).
// Nonces keep their 30 s validity.
func TestNonceExpiryWithoutScan(t *testing.T) {
	h := newHarness(t)
	const live = 5000
	nonces := make([]string, 0, live)
	for range live {
		nonces = append(nonces, h.challenge())
	}
	before := h.s.nonces.inspected
	for range 100 {
		h.challenge()
	}
	if d := h.s.nonces.inspected - before; d != 100 {
		t.Fatalf("100 challenges with %d live nonces examined %d entries, want 100", live, d)
	}
	// Still valid at exactly 30 s, gone just after.
	h.clock.Advance(30 * time.Second)
	if detail := h.s.nonces.consume(nonces[0], h.s.now()); detail != "" {
		t.Fatalf("nonce at 30 s: %s", detail)
	}
	h.clock.Advance(time.Nanosecond)
	if detail := h.s.nonces.consume(nonces[1], h.s.now()); detail != detailNonceUnknown {
		t.Fatalf("nonce after 30 s: %q", detail)
	}
	// Spread over time: issued = live+100 so far; run many more challenges
	// while the clock moves so that nonces keep expiring.
	for range 20000 {
		h.clock.Advance(time.Millisecond)
		h.challenge()
	}
	issued, calls := uint64(live+100+20000), uint64(live+100+20000)
	if got := h.s.nonces.inspected; got > issued+calls {
		t.Fatalf("examined %d entries for %d challenges, want ≤ %d", got, calls, issued+calls)
	}
	if n := h.s.nonces.len(); n != 20000 {
		t.Fatalf("%d nonces held, want the 20,000 of the last 20 s", n)
	}
}

// BenchmarkChallenge measures GET /v1/challenge through the handler with
// about `live` nonces outstanding: the clock moves 30 s/live per request, so
// each request finds about one nonce to expire (a steady flood).
//
//	go test ./broker/ -run '^$' -bench BenchmarkChallenge -benchmem
func BenchmarkChallenge(b *testing.B) {
	for _, live := range []int{1, 1000, 10000, 60000} {
		b.Run("live="+strconv.Itoa(live), func(b *testing.B) {
			h := newHarness(b)
			step := nonceTTL*time.Second/time.Duration(live) + time.Nanosecond
			for range live {
				h.clock.Advance(step)
				h.challenge()
			}
			req := newRequest("GET", "/v1/challenge", "", nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.clock.Advance(step)
				rec := httptest.NewRecorder()
				h.h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
