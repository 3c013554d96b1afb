package broker

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The signature cache only ever answers for the exact token it saw: a token
// that differs in any byte is verified (and refused) as before, and the
// cache stays bounded.
func TestSignatureCacheExactTokenOnly(t *testing.T) {
	h := newHarness(t)
	tok, _ := h.s.mint(claims{Sub: "spiffe://agentwrit.local/agent/o/t/1", Scope: []string{"read:data:x"}}, 60)
	if _, err := h.s.verify(tok); err != nil {
		t.Fatalf("minted token refused: %v", err)
	}
	if cl, found := h.s.sigs.get(tok); !found || cl == nil || cl.Sub != "spiffe://agentwrit.local/agent/o/t/1" {
		t.Fatalf("a minted, verified token is not cached with its claims: %v %+v", found, cl)
	}
	parts := strings.SplitN(tok, ".", 3)
	flip := func(s string) string {
		if s[len(s)-2] == 'A' {
			return s[:len(s)-2] + "B" + s[len(s)-1:]
		}
		return s[:len(s)-2] + "A" + s[len(s)-1:]
	}
	for name, bad := range map[string]string{
		"signature changed": parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"payload changed":   parts[0] + "." + flip(parts[1]) + "." + parts[2],
		"extra segment":     tok + ".x",
	} {
		if _, err := h.s.verify(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Revocation and expiry are still checked on a cached signature.
	h.s.revoke(levelToken, tokenClaims(t, tok).Jti)
	if _, err := h.s.verify(tok); err != errTokenRevoked {
		t.Fatalf("revoked cached token: err %v, want %v", err, errTokenRevoked)
	}
	for i := range sigCacheSize + 10 {
		h.s.sigs.add(fmt.Sprint("token-", i), nil)
	}
	h.s.sigs.mu.Lock()
	n := len(h.s.sigs.ok)
	h.s.sigs.mu.Unlock()
	if n > sigCacheSize {
		t.Fatalf("cache holds %d entries, bound is %d", n, sigCacheSize)
	}
	tok2, _ := h.s.mint(claims{Sub: "spiffe://agentwrit.local/agent/o/t/2", Scope: []string{"read:data:x"}}, 60)
	h.s.sigs = sigCache{} // forgotten: verified the slow way, still valid
	if _, err := h.s.verify(tok2); err != nil {
		t.Fatalf("uncached valid token refused: %v", err)
	}
}

// Cached claims are handed out as copies: a handler appending to or
// changing them cannot alter what the next caller sees; and expiry is
// checked against the clock on every call.
func TestCachedClaimsAreCopies(t *testing.T) {
	h := newHarness(t)
	tok, _ := h.s.mint(claims{Sub: "spiffe://agentwrit.local/agent/o/t/1", Scope: []string{"read:data:x", "write:data:x"}}, 60)
	for range 3 { // the first decodes and caches, the others are served from the cache
		c, err := h.s.verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if c.Sub != "spiffe://agentwrit.local/agent/o/t/1" || len(c.Scope) != 2 || c.Scope[0] != "read:data:x" {
			t.Fatalf("claims %+v", c)
		}
		c.Sub = "someone else"
		c.Scope[0] = "admin:everything:*"
		_ = append(c.Scope[:1], "admin:more:*")
	}
	h.clock.Advance(61 * time.Second)
	if _, err := h.s.verify(tok); err != errTokenExpired {
		t.Fatalf("an expired cached token: err %v, want %v", err, errTokenExpired)
	}
}

// The periodic sweep drops spent, expired launch tokens once there are
// many, and keeps launch tokens that were never used; nonces expire on
// their own (nonce.go).
func TestSweepSpentLaunchTokens(t *testing.T) {
	h := newHarness(t, noLimits)
	admin := h.adminToken()
	spent := h.adminLaunch(admin, []string{"read:data:x"}, nil)
	h.register(spent, "o", "t", "read:data:x")
	var unused string
	for range launchPruneMin {
		unused = h.adminLaunch(admin, []string{"read:data:x"}, nil)
	}
	h.clock.Advance(31 * time.Second)
	for range 10 {
		h.challenge()
	}
	h.s.mu.RLock()
	_, spentKept := h.s.launch[launchKey(spent)]
	_, unusedKept := h.s.launch[launchKey(unused)]
	h.s.mu.RUnlock()
	if spentKept || !unusedKept {
		t.Fatalf("after the sweep: spent token kept %v (want false), unused kept %v (want true)", spentKept, unusedKept)
	}
	if n := h.s.nonces.len(); n != 10 {
		t.Fatalf("%d nonces, want the 10 fresh ones (the register's expired)", n)
	}
}

// Claims cached at minting are exactly what decoding the token gives, or
// not cached at all: the first verification of a minted token then sees
// the same claims whether it decodes or not.
func TestMintedClaimsAsDecoded(t *testing.T) {
	h := newHarness(t)
	cases := []claims{
		{Sub: "spiffe://agentwrit.local/agent/o/t/1", Scope: []string{"read:analytics:bank"}, TaskID: "t", OrchID: "o"},
		{Sub: "app:1", Aud: []string{"agentwrit"}, Scope: []string{}, Sid: "s"},
		{Sub: "nil-scope"},
		{Sub: "empty-aud", Aud: []string{}},
		{Sub: "html <&> \u2028 \"quoted\"", Scope: []string{"a:b:<c>"}},
		{Sub: "bad utf8 \xff", Scope: []string{"x"}},
		{Sub: "bad scope", Scope: []string{"read:\xfe:x"}},
		{Sub: "chain", DelegationChain: []delegRecord{{Agent: "a", Scope: []string{"x"}, DelegatedAt: time.Now()}}, ChainHash: "h"},
	}
	cached := 0
	for _, c := range cases {
		tok, _ := h.s.mint(c, 60)
		got, found := h.s.sigs.get(tok)
		if !found {
			t.Fatalf("%q: minted token not in the cache", c.Sub)
		}
		want, err := h.s.decode(tok, true)
		if err != nil {
			t.Fatalf("%q: decode: %v", c.Sub, err)
		}
		if got == nil {
			continue
		}
		cached++
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: cached at minting\n%+v\ndecoded\n%+v", c.Sub, got, want)
		}
	}
	if cached < 4 {
		t.Fatalf("only %d of %d minted tokens had their claims cached", cached, len(cases))
	}
}
