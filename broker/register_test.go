package broker

import (
	"crypto/ed25519"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// §12: register happy path: SPIFFE format, 16-hex instance, expires_in = max_ttl (incl. 2).
func TestRegisterHappyPath(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	scopes := []string{"read:analytics:hospital", "write:reports:hospital"}
	lt := h.adminLaunch(admin, scopes, map[string]any{"max_ttl": 300})
	nonce := h.challenge()
	if !reHex64.MatchString(nonce) {
		t.Fatalf("nonce %q", nonce)
	}
	priv := newKey(t)
	r := h.do("POST", "/v1/register", "", registerBody(t, lt, nonce, priv, "nightly-pipeline", "etl-hospital-1795723201", scopes))
	wantStatus(t, r, 200)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"agent_id", "access_token", "expires_in"}) {
		t.Fatalf("keys %v", got)
	}
	var out registerResponse
	r.decode(t, &out)
	m := reSPIFFE.FindStringSubmatch(out.AgentID)
	if m == nil || m[1] != "nightly-pipeline" || m[2] != "etl-hospital-1795723201" || out.ExpiresIn != 300 {
		t.Fatalf("reply %+v", out)
	}
	hdr, payload := decodeJWT(t, out.AccessToken)
	if string(hdr) != `{"alg":"EdDSA","typ":"JWT","kid":"`+h.s.KeyID()+`"}` {
		t.Fatalf("header %s", hdr)
	}
	if got := jsonKeys(t, payload); !slices.Equal(got, []string{"iss", "sub", "exp", "nbf", "iat", "jti", "scope", "task_id", "orch_id"}) {
		t.Fatalf("claim keys %v", got)
	}
	c := tokenClaims(t, out.AccessToken)
	if c.Sub != out.AgentID || !slices.Equal(c.Scope, scopes) || c.TaskID != "etl-hospital-1795723201" || c.OrchID != "nightly-pipeline" || c.Exp-c.Iat != 300 {
		t.Fatalf("claims %+v", c)
	}
	rec := h.s.agents[out.AgentID]
	if rec == nil || !rec.publicKey.Equal(priv.Public()) || !slices.Equal(rec.scope, scopes) || rec.appID != "" {
		t.Fatalf("agent record %+v", rec)
	}
	reg, iss := h.events(evAgentRegistered), h.events(evTokenIssued)
	if len(reg) != 1 || reg[0].Detail != "Agent registered with scope [read:analytics:hospital write:reports:hospital]" ||
		reg[0].AgentID != out.AgentID || reg[0].TaskID != c.TaskID || reg[0].OrchID != c.OrchID || reg[0].Outcome != "success" {
		t.Fatalf("agent_registered %+v", reg)
	}
	if len(iss) != 1 || iss[0].Detail != "Token issued, jti="+c.Jti+", ttl=300" || iss[0].ID <= reg[0].ID {
		t.Fatalf("token_issued %+v", iss)
	}
	// A scope subset of the launch token is fine, and instances differ.
	lt2 := h.adminLaunch(admin, []string{"read:data:*"}, map[string]any{"max_ttl": 2, "single_use": false})
	a := h.register(lt2, "o", "t", "read:data:a:b")
	b := h.register(lt2, "o", "t", "read:data:x")
	if a.ExpiresIn != 2 || a.ID == b.ID {
		t.Fatalf("agents %+v %+v", a, b)
	}
	// Challenge and successful validate write no audit events.
	n := len(h.s.AuditEvents())
	h.challenge()
	h.valid(a.Token)
	if len(h.s.AuditEvents()) != n {
		t.Fatal("challenge or validate wrote an audit event")
	}
	t.Run("trust domain", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.TrustDomain = "example.org" })
		a := h.agent(h.adminToken(), "o", "t", "r:d:x")
		if !strings.HasPrefix(a.ID, "spiffe://example.org/agent/o/t/") {
			t.Fatal(a.ID)
		}
	})
}

// §12 and §5: register failures in evaluation order.
func TestRegisterErrors(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	scopes := []string{"read:analytics:bank"}
	post := func(body any) resp { return h.do("POST", "/v1/register", "", body) }
	body := func(lt, nonce string, priv ed25519.PrivateKey) map[string]any {
		return registerBody(t, lt, nonce, priv, "nightly-pipeline", "etl-bank", scopes)
	}

	t.Run("body", func(t *testing.T) {
		wantProblem(t, post(``), 400, "invalid_request", "malformed JSON body")
		wantProblem(t, post(`{"requested_scope":"x"}`), 400, "invalid_request", "malformed JSON body")
		full := body("lt", "ab", newKey(t))
		for _, f := range []string{"launch_token", "nonce", "public_key", "signature", "orch_id", "task_id"} {
			b := map[string]any{}
			for k, v := range full {
				b[k] = v
			}
			b[f] = ""
			wantProblem(t, post(b), 400, "invalid_request", "missing required field")
		}
		b := map[string]any{}
		for k, v := range full {
			b[k] = v
		}
		b["requested_scope"] = []string{}
		wantProblem(t, post(b), 400, "invalid_request", "missing required field: requested_scope")
		delete(b, "requested_scope")
		wantProblem(t, post(b), 400, "invalid_request", "missing required field: requested_scope")
	})

	t.Run("launch token", func(t *testing.T) {
		wantProblem(t, post(body(strings.Repeat("0", 64), h.challenge(), newKey(t))), 401, "unauthorized", "launch token: launch token not found")
		lt := h.adminLaunch(admin, scopes, map[string]any{"ttl": 5})
		h.clock.Advance(5 * time.Second)
		nonce := h.challenge()
		h.register(lt, "o", "t", scopes...) // still valid at exactly creation + ttl
		h.clock.Advance(time.Second)
		// Expiry is reported before consumption.
		wantProblem(t, post(body(lt, nonce, newKey(t))), 401, "unauthorized", "launch token: launch token expired")
		lt = h.adminLaunch(admin, scopes, nil)
		h.register(lt, "o", "t", scopes...)
		wantProblem(t, post(body(lt, h.challenge(), newKey(t))), 401, "unauthorized", "launch token: launch token already consumed")
	})

	t.Run("scope beyond launch token consumes nothing", func(t *testing.T) {
		lt := h.adminLaunch(admin, scopes, nil)
		nonce := h.challenge()
		priv := newKey(t)
		wide := registerBody(t, lt, nonce, priv, "nightly-pipeline", "t", []string{"read:analytics:bank", "write:reports:hospital"})
		wantProblem(t, post(wide), 403, "scope_violation", "requested scope exceeds allowed scope")
		ev := h.lastEvent()
		if ev.EventType != evRegistrationViolation || ev.TaskID != "t" || ev.OrchID != "nightly-pipeline" || ev.AgentID != "" || ev.Outcome != "denied" ||
			ev.Detail != "scope violation: requested [read:analytics:bank write:reports:hospital] exceeds allowed [read:analytics:bank]" {
			t.Fatalf("event %+v", ev)
		}
		// The same nonce and launch token still work.
		wantStatus(t, post(body(lt, nonce, priv)), 200)
	})

	t.Run("nonce", func(t *testing.T) {
		lt := h.adminLaunch(admin, scopes, map[string]any{"single_use": false, "ttl": 3600})
		wantProblem(t, post(body(lt, strings.Repeat("ab", 32), newKey(t))), 401, "unauthorized", "nonce: nonce not found or expired")
		nonce := h.challenge()
		wantStatus(t, post(body(lt, nonce, newKey(t))), 200)
		wantProblem(t, post(body(lt, nonce, newKey(t))), 401, "unauthorized", "nonce: nonce already consumed")
		nonce = h.challenge()
		h.clock.Advance(30 * time.Second)
		wantStatus(t, post(body(lt, nonce, newKey(t))), 200) // alive at exactly 30 s
		nonce = h.challenge()
		h.clock.Advance(31 * time.Second)
		wantProblem(t, post(body(lt, nonce, newKey(t))), 401, "unauthorized", "nonce: nonce not found or expired")
	})

	t.Run("key and signature; nonce consumed, launch token kept", func(t *testing.T) {
		lt := h.adminLaunch(admin, scopes, nil)
		try := func(mutate func(b map[string]any), want string) {
			t.Helper()
			nonce := h.challenge()
			b := body(lt, nonce, newKey(t))
			mutate(b)
			wantProblem(t, post(b), 401, "unauthorized", want)
			// The nonce is gone even though the request failed later.
			wantProblem(t, post(body(lt, nonce, newKey(t))), 401, "unauthorized", "nonce: nonce already consumed")
		}
		try(func(b map[string]any) { b["public_key"] = "not base64!" }, "invalid Ed25519 public key: base64 decode failed")
		try(func(b map[string]any) { b["public_key"] = base64.RawStdEncoding.EncodeToString(make([]byte, 32)) }, "invalid Ed25519 public key: base64 decode failed") // unpadded
		try(func(b map[string]any) { b["public_key"] = base64.StdEncoding.EncodeToString(make([]byte, 31)) }, "invalid Ed25519 public key: wrong key size")
		try(func(b map[string]any) { b["signature"] = "***" }, "nonce signature verification failed: base64 decode failed")
		try(func(b map[string]any) { b["signature"] = base64.StdEncoding.EncodeToString(make([]byte, 64)) }, "nonce signature verification failed")
		try(func(b map[string]any) { b["signature"] = base64.StdEncoding.EncodeToString(make([]byte, 10)) }, "nonce signature verification failed")
		// Signing the ASCII text of the nonce instead of its bytes is wrong.
		try(func(b map[string]any) {
			priv := newKey(t)
			b["public_key"] = pubB64(priv)
			b["signature"] = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(b["nonce"].(string))))
		}, "nonce signature verification failed")
		// The launch token was never spent.
		h.register(lt, "o", "t", scopes...)
	})

	t.Run("bad path segment is a late 500 after consumption", func(t *testing.T) {
		for _, bad := range [][2]string{{"a/b", "t"}, {"o", ".."}, {".", "t"}, {"o", "t t"}, {"o", "é"}} {
			lt := h.adminLaunch(admin, scopes, nil)
			nonce := h.challenge()
			wantProblem(t, post(registerBody(t, lt, nonce, newKey(t), bad[0], bad[1], scopes)), 500, "internal_error", "registration failed")
			wantProblem(t, post(body(lt, h.challenge(), newKey(t))), 401, "unauthorized", "launch token: launch token already consumed")
			wantProblem(t, post(body(lt, nonce, newKey(t))), 401, "unauthorized", "launch token: launch token already consumed")
		}
		h.register(h.adminLaunch(admin, scopes, nil), "A-z_0.9", "..x", scopes...)
	})
}

// A single-use launch token raced by many registrations admits exactly one (§5 step 7).
func TestRegisterConsumeRace(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	lt := h.adminLaunch(admin, []string{"r:d:x"}, nil)
	const n = 16
	bodies := make([]map[string]any, n)
	for i := range bodies {
		bodies[i] = registerBody(t, lt, h.challenge(), newKey(t), "o", "t", []string{"r:d:x"})
	}
	replies := make([]resp, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { replies[i] = h.do("POST", "/v1/register", "", bodies[i]) })
	}
	wg.Wait()
	ok := 0
	for _, r := range replies {
		if r.Code == 200 {
			ok++
			continue
		}
		var p problem
		r.decode(t, &p)
		if r.Code != 401 || (p.Detail != "launch token: launch token already consumed" && p.Detail != "consume launch token: launch token already consumed") {
			t.Fatalf("loser got %d %s", r.Code, r.Body)
		}
	}
	if ok != 1 {
		t.Fatalf("%d registrations succeeded, want 1", ok)
	}
	if got := len(h.events(evAgentRegistered)); got != 1 {
		t.Fatalf("%d agent_registered events", got)
	}
}
