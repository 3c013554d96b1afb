package broker

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// §12: validate.
func TestValidate(t *testing.T) {
	h := newHarness(t, noLimits)
	admin := h.adminToken()
	app := h.appToken(h.newApp("tenant-console", "r:d:*"))
	a := h.agent(admin, "nightly-pipeline", "etl-hospital", "read:analytics:hospital")

	r := h.do("POST", "/v1/token/validate", "", map[string]string{"token": a.Token})
	wantStatus(t, r, 200)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"valid", "claims"}) {
		t.Fatalf("keys %v", got)
	}
	var out struct {
		Valid  bool            `json:"valid"`
		Claims json.RawMessage `json:"claims"`
	}
	r.decode(t, &out)
	if got := jsonKeys(t, out.Claims); !slices.Equal(got, []string{"iss", "sub", "exp", "nbf", "iat", "jti", "scope", "task_id", "orch_id"}) {
		t.Fatalf("claim keys %v (sid must be omitted)", got)
	}
	var c claims
	_ = json.Unmarshal(out.Claims, &c)
	if !out.Valid || c.Sub != a.ID || !slices.Equal(c.Scope, []string{"read:analytics:hospital"}) {
		t.Fatalf("validate %s", r.Body)
	}
	if !h.valid(admin) || !h.valid(app) {
		t.Fatal("admin and app tokens must validate")
	}
	r = h.do("POST", "/v1/token/validate", "", map[string]string{"token": "not-a-jwt"})
	if string(r.Body) != `{"valid":false,"error":"token is invalid or expired"}`+"\n" {
		t.Fatalf("garbage reply %s", r.Body)
	}
	wantProblem(t, h.do("POST", "/v1/token/validate", "", `{}`), 400, "invalid_request", "token field is required")
	wantProblem(t, h.do("POST", "/v1/token/validate", "", nil), 400, "invalid_request", "malformed JSON body")
	wantProblem(t, h.do("POST", "/v1/token/validate", "", `{"token":1}`), 400, "invalid_request", "malformed JSON body")
	// Parity: data after the JSON value is ignored (§4).
	if r := h.do("POST", "/v1/token/validate", "", `{"token":"x"} {}`); r.Code != 200 || string(r.Body) != `{"valid":false,"error":"token is invalid or expired"}`+"\n" {
		t.Fatalf("trailing data: %d %s", r.Code, r.Body)
	}
	wantStatus(t, h.do("POST", "/v1/token/validate", "", `{"token":"x","extra":[1,2]}`), 200)

	// Expired, released, renewed-away and revoked tokens are all the same generic invalid.
	short := h.register(h.adminLaunch(admin, []string{"r:d:x"}, map[string]any{"max_ttl": 2}), "o", "t", "r:d:x")
	rel := h.agent(admin, "o", "rel", "r:d:x")
	ren := h.agent(admin, "o", "ren", "r:d:x")
	rev := h.agent(admin, "o", "rev", "r:d:x")
	wantStatus(t, h.do("POST", "/v1/token/release", rel.Token, nil), 204)
	wantStatus(t, h.do("POST", "/v1/token/renew", ren.Token, nil), 200)
	wantStatus(t, h.do("POST", "/v1/revoke", admin, map[string]string{"level": "agent", "target": rev.ID}), 200)
	for name, tok := range map[string]string{"released": rel.Token, "renewed-away": ren.Token, "agent-revoked": rev.Token} {
		if h.valid(tok) {
			t.Errorf("%s token validates", name)
		}
	}
	h.clock.Advance(2 * time.Second)
	if !h.valid(short.Token) {
		t.Fatal("invalid at exp")
	}
	h.clock.Advance(time.Second)
	if h.valid(short.Token) {
		t.Fatal("expired token validates")
	}
}

// §12: renew: same TTL and scope, new jti, old token dead, dead token 401.
func TestRenew(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	a := h.register(h.adminLaunch(admin, []string{"r:d:*"}, map[string]any{"max_ttl": 120}), "o", "t", "r:d:x", "r:d:y")
	old := tokenClaims(t, a.Token)
	h.clock.Advance(10 * time.Second)
	r := h.do("POST", "/v1/token/renew", a.Token, nil)
	wantStatus(t, r, 200)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"access_token", "expires_in"}) {
		t.Fatalf("keys %v", got)
	}
	var out tokenResponse
	r.decode(t, &out)
	nc := tokenClaims(t, out.AccessToken)
	if out.ExpiresIn != 120 || nc.Exp-nc.Iat != 120 || nc.Iat != old.Iat+10 || nc.Jti == old.Jti || nc.Sub != old.Sub ||
		!slices.Equal(nc.Scope, old.Scope) || nc.TaskID != "t" || nc.OrchID != "o" {
		t.Fatalf("renewed %+v from %+v", nc, old)
	}
	if h.valid(a.Token) || !h.valid(out.AccessToken) {
		t.Fatal("old token must die, new one live")
	}
	wantProblem(t, h.do("POST", "/v1/token/renew", a.Token, nil), 401, "unauthorized", "token verification failed")
	ev := h.events(evTokenRenewed)
	if len(ev) != 1 || ev[0].AgentID != a.ID || ev[0].TaskID != "t" || ev[0].Detail != "token renewed for agent="+a.ID+" new_jti="+nc.Jti {
		t.Fatalf("token_renewed %+v", ev)
	}
	// Admin tokens renew too; a body is ignored.
	r = h.do("POST", "/v1/token/renew", admin, `garbage`)
	wantStatus(t, r, 200)
	r.decode(t, &out)
	if c := tokenClaims(t, out.AccessToken); c.Sub != "admin" || c.Exp-c.Iat != 300 {
		t.Fatalf("admin renewal %+v", c)
	}
	// A renewed delegated token keeps its chain and chain_hash.
	b := h.agent(out.AccessToken, "o", "t2", "r:d:x")
	wantProblem(t, h.delegate(a.Token, b.ID, []string{"r:d:x"}, 0), 401, "unauthorized", "token verification failed") // renewed away
	x := h.agent(out.AccessToken, "o", "t3", "r:d:*")
	var d delegateResponse
	h.delegate(x.Token, b.ID, []string{"r:d:x"}, 50).decode(t, &d)
	dc := tokenClaims(t, d.AccessToken)
	h.do("POST", "/v1/token/renew", d.AccessToken, nil).decode(t, &out)
	rc := tokenClaims(t, out.AccessToken)
	if rc.ChainHash != dc.ChainHash || len(rc.DelegationChain) != 1 || !reflect.DeepEqual(rc.DelegationChain, dc.DelegationChain) || rc.Exp-rc.Iat != 50 || rc.TaskID != "t3" {
		t.Fatalf("renewed delegated %+v", rc)
	}
}

// §12: release: 204 without body or Content-Type; second release 401.
func TestRelease(t *testing.T) {
	h := newHarness(t)
	a := h.agent(h.adminToken(), "o", "t", "r:d:x")
	r := h.do("POST", "/v1/token/release", a.Token, nil)
	wantStatus(t, r, 204)
	if len(r.Body) != 0 || r.Header.Get("Content-Type") != "" {
		t.Fatalf("204 with body %q / Content-Type %q", r.Body, r.Header.Get("Content-Type"))
	}
	if r.Header.Get("X-Request-ID") == "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("204 lacks the standard headers")
	}
	c := tokenClaims(t, a.Token)
	if ev := h.lastEvent(); ev.EventType != evTokenReleased || ev.AgentID != a.ID || ev.TaskID != "t" || ev.OrchID != "o" || ev.Detail != "token released | jti="+c.Jti {
		t.Fatalf("event %+v", ev)
	}
	wantProblem(t, h.do("POST", "/v1/token/release", a.Token, nil), 401, "unauthorized", "token verification failed")
	if ev := h.lastEvent(); ev.EventType != evTokenAuthFailed || ev.Detail != "token verification failed: token has been revoked | path=/v1/token/release" {
		t.Fatalf("event %+v", ev)
	}
}

// §12: delegate.
func TestDelegate(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	hosp := h.register(h.adminLaunch(admin, []string{"read:analytics:hospital", "write:reports:hospital"}, map[string]any{"max_ttl": 2}),
		"nightly-pipeline", "etl-hospital", "read:analytics:hospital", "write:reports:hospital")
	bank := h.agent(admin, "nightly-pipeline", "etl-bank", "read:analytics:bank")

	wantProblem(t, h.delegate(hosp.Token, bank.ID, []string{"read:analytics:bank"}, 0), 403, "scope_violation", "delegated scope exceeds delegator scope")
	if ev := h.lastEvent(); ev.EventType != evDelegationViolation || ev.AgentID != hosp.ID || ev.DelegDepth != 0 || ev.TaskID != "etl-hospital" ||
		ev.Detail != "delegation_attenuation_violation | delegator="+hosp.ID+" | target="+bank.ID+
			" | requested=[read:analytics:bank] | allowed=[read:analytics:hospital write:reports:hospital]" {
		t.Fatalf("event %+v", ev)
	}
	wantProblem(t, h.delegate(hosp.Token, "spiffe://agentwrit.local/agent/x/y/z", []string{"read:analytics:hospital"}, 0), 404, "not_found", "delegate agent not found")
	t.Run("parity quirk kept: missing fields are a 500", func(t *testing.T) {
		wantProblem(t, h.do("POST", "/v1/delegate", hosp.Token, `{"scope":["read:analytics:hospital"]}`), 500, "internal_error", "delegation failed")
		wantProblem(t, h.do("POST", "/v1/delegate", hosp.Token, `{"delegate_to":"x","scope":[]}`), 500, "internal_error", "delegation failed")
		wantProblem(t, h.do("POST", "/v1/delegate", hosp.Token, `{"delegate_to":"x","scope":"a"}`), 400, "invalid_request", "malformed JSON body")
	})

	r := h.delegate(hosp.Token, bank.ID, []string{"read:analytics:hospital"}, 30)
	wantStatus(t, r, 200)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"access_token", "expires_in", "delegation_chain"}) {
		t.Fatalf("keys %v (no chain_hash in the reply)", got)
	}
	var d delegateResponse
	r.decode(t, &d)
	// TTL honoured and not capped by the delegator's 2 s of remaining life.
	if d.ExpiresIn != 30 || len(d.DelegationChain) != 1 {
		t.Fatalf("reply %+v", d)
	}
	rec := d.DelegationChain[0]
	at := rfc3339Nano(h.clock.Now())
	if rec.Agent != hosp.ID || !slices.Equal(rec.Scope, []string{"read:analytics:hospital", "write:reports:hospital"}) ||
		rfc3339Nano(rec.DelegatedAt) != at || at != "2026-11-26T20:00:00.287835008Z" || !reHex128.MatchString(rec.Signature) {
		t.Fatalf("record %+v", rec)
	}
	sig, _ := hex.DecodeString(rec.Signature)
	msg := hosp.ID + "|read:analytics:hospital,write:reports:hospital|" + at
	if !ed25519.Verify(h.s.PublicKey(), []byte(msg), sig) {
		t.Fatal("record signature does not verify with the broker key")
	}
	_, payload := decodeJWT(t, d.AccessToken)
	if got := jsonKeys(t, payload); !slices.Equal(got, []string{"iss", "sub", "exp", "nbf", "iat", "jti", "scope", "task_id", "orch_id", "delegation_chain", "chain_hash"}) {
		t.Fatalf("claim keys %v", got)
	}
	c := tokenClaims(t, d.AccessToken)
	want := fmt.Sprintf(`[{"agent":%q,"scope":["read:analytics:hospital","write:reports:hospital"],"delegated_at":%q,"signature":%q}]`, hosp.ID, at, rec.Signature)
	sum := sha256.Sum256([]byte(want))
	if c.ChainHash != hex.EncodeToString(sum[:]) {
		t.Fatalf("chain_hash %s, want sha256 of %s", c.ChainHash, want)
	}
	if c.Sub != bank.ID || !slices.Equal(c.Scope, []string{"read:analytics:hospital"}) || c.TaskID != "etl-hospital" || c.OrchID != "nightly-pipeline" || c.Exp-c.Iat != 30 {
		t.Fatalf("claims %+v", c)
	}
	if ev := h.lastEvent(); ev.EventType != evDelegationCreated || ev.AgentID != bank.ID || ev.TaskID != "etl-hospital" || ev.DelegDepth != 1 ||
		ev.DelegChainHash != c.ChainHash || ev.Detail != "delegation from "+hosp.ID+" to "+bank.ID+" scope=[read:analytics:hospital] depth=1" {
		t.Fatalf("event %+v", ev)
	}
	// The delegated token outlives its delegator.
	h.clock.Advance(3 * time.Second)
	if h.valid(hosp.Token) || !h.valid(d.AccessToken) {
		t.Fatal("delegated TTL must not be capped by the delegator")
	}

	t.Run("default ttl, self-delegation, revoked delegate still known", func(t *testing.T) {
		wantStatus(t, h.do("POST", "/v1/revoke", admin, map[string]string{"level": "token", "target": tokenClaims(t, bank.Token).Jti}), 200)
		var d delegateResponse
		r := h.delegate(bank.Token, bank.ID, []string{"read:analytics:bank"}, 0)
		wantStatus(t, r, 401) // bank's own token is dead
		other := h.agent(admin, "o", "t", "read:analytics:*")
		r = h.delegate(other.Token, bank.ID, []string{"read:analytics:x"}, 0)
		wantStatus(t, r, 200)
		r.decode(t, &d)
		if d.ExpiresIn != 60 {
			t.Fatalf("default ttl %d", d.ExpiresIn)
		}
		r = h.delegate(other.Token, other.ID, []string{"read:analytics:y"}, -5)
		wantStatus(t, r, 200)
		r.decode(t, &d)
		if d.ExpiresIn != 60 {
			t.Fatalf("ttl ≤0 → %d", d.ExpiresIn)
		}
		// Admin tokens may delegate too (any valid token, no route scope).
		wantStatus(t, h.delegate(admin, other.ID, []string{"admin:audit:*"}, 0), 200)
	})

	t.Run("chain_hash uses Go HTML escaping", func(t *testing.T) {
		odd := []string{"read:data:<a&b>"}
		x := h.agent(admin, "o", "t", odd...)
		var d delegateResponse
		h.delegate(x.Token, x.ID, odd, 0).decode(t, &d)
		c := tokenClaims(t, d.AccessToken)
		rec := c.DelegationChain[0]
		want := fmt.Sprintf(`[{"agent":%q,"scope":["read:data:\u003ca\u0026b\u003e"],"delegated_at":%q,"signature":%q}]`, x.ID, rfc3339Nano(rec.DelegatedAt), rec.Signature)
		sum := sha256.Sum256([]byte(want))
		if c.ChainHash != hex.EncodeToString(sum[:]) {
			t.Fatalf("chain_hash does not match escaped %s", want)
		}
	})
}

// §12: depth limit 5; the depth check comes before the scope and delegate checks.
func TestDelegationDepthLimit(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	agents := make([]testAgent, 7)
	for i := range agents {
		agents[i] = h.agent(admin, "o", fmt.Sprintf("t%d", i), "r:d:*")
	}
	tok := agents[0].Token
	var prev []delegRecord
	for depth := 1; depth <= 5; depth++ {
		r := h.delegate(tok, agents[depth].ID, []string{"r:d:*"}, 0)
		wantStatus(t, r, 200)
		var d delegateResponse
		r.decode(t, &d)
		if len(d.DelegationChain) != depth || !reflect.DeepEqual(d.DelegationChain[:depth-1], prev) && depth > 1 {
			t.Fatalf("depth %d chain %+v", depth, d.DelegationChain)
		}
		if last := d.DelegationChain[depth-1]; last.Agent != agents[depth-1].ID {
			t.Fatalf("record %d agent %s", depth, last.Agent)
		}
		if ev := h.lastEvent(); ev.DelegDepth != depth {
			t.Fatalf("event depth %d", ev.DelegDepth)
		}
		prev, tok = d.DelegationChain, d.AccessToken
	}
	if c := tokenClaims(t, tok); len(c.DelegationChain) != 5 || c.TaskID != "t0" || c.ChainHash != chainHash(c.DelegationChain) {
		t.Fatalf("depth-5 claims %+v", c)
	}
	wantProblem(t, h.delegate(tok, agents[6].ID, []string{"r:d:x"}, 0), 403, "scope_violation", "delegation depth limit exceeded")
	wantProblem(t, h.delegate(tok, agents[6].ID, []string{"w:d:x"}, 0), 403, "scope_violation", "delegation depth limit exceeded")
	wantProblem(t, h.delegate(tok, "spiffe://nobody", []string{"r:d:x"}, 0), 403, "scope_violation", "delegation depth limit exceeded")
	// Renewal keeps depth 5, so the renewed token is refused too.
	var out tokenResponse
	h.do("POST", "/v1/token/renew", tok, nil).decode(t, &out)
	wantProblem(t, h.delegate(out.AccessToken, agents[6].ID, []string{"r:d:x"}, 0), 403, "scope_violation", "delegation depth limit exceeded")
}

// §12 and §7: revocation at each level, retroactive, count 1.
func TestRevoke(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	revoke := func(level, target string) {
		t.Helper()
		r := h.do("POST", "/v1/revoke", admin, map[string]string{"level": level, "target": target})
		wantStatus(t, r, 200)
		if want := fmt.Sprintf(`{"revoked":true,"level":%q,"target":%q,"count":1}`+"\n", level, target); string(r.Body) != want {
			t.Fatalf("reply %s, want %s", r.Body, want)
		}
		if ev := h.lastEvent(); ev.EventType != evTokenRevoked || ev.AgentID != target || ev.Detail != "revoked at level="+level+" target="+target || ev.Outcome != "success" {
			t.Fatalf("event %+v", ev)
		}
	}
	delegated := func(from testAgent, to string, scopes ...string) string {
		t.Helper()
		r := h.delegate(from.Token, to, scopes, 0)
		wantStatus(t, r, 200)
		var d delegateResponse
		r.decode(t, &d)
		return d.AccessToken
	}

	t.Run("errors", func(t *testing.T) {
		wantProblem(t, h.do("POST", "/v1/revoke", admin, `{"level":"galaxy","target":"x"}`), 400, "invalid_request", "invalid revocation level: galaxy")
		wantProblem(t, h.do("POST", "/v1/revoke", admin, `{"level":"Token","target":"x"}`), 400, "invalid_request", "invalid revocation level: Token")
		wantProblem(t, h.do("POST", "/v1/revoke", admin, `{"level":"token"}`), 400, "invalid_request", "level and target are required")
		wantProblem(t, h.do("POST", "/v1/revoke", admin, `{"target":"x"}`), 400, "invalid_request", "level and target are required")
		wantProblem(t, h.do("POST", "/v1/revoke", admin, `[]`), 400, "invalid_request", "malformed JSON body")
		app := h.appToken(h.newApp("tenant-console", "r:d:*"))
		wantProblem(t, h.do("POST", "/v1/revoke", app, `{"level":"token","target":"x"}`), 403, "insufficient_scope", "token lacks required scope: admin:revoke:*")
		live := h.agent(admin, "o", "live", "r:d:x")
		wantProblem(t, h.do("POST", "/v1/revoke", live.Token, `{"level":"token","target":"x"}`), 403, "insufficient_scope", "token lacks required scope: admin:revoke:*")
		wantStatus(t, h.do("POST", "/v1/token/release", live.Token, nil), 204)
		wantProblem(t, h.do("POST", "/v1/revoke", live.Token, `{"level":"token","target":"x"}`), 401, "unauthorized", "token verification failed")
		// Unknown targets and repeats are fine.
		revoke("token", "no-such-jti")
		revoke("token", "no-such-jti")
	})

	t.Run("token", func(t *testing.T) {
		a := h.agent(admin, "o", "tok", "r:d:x")
		b := h.agent(admin, "o", "tok", "r:d:x")
		revoke("token", tokenClaims(t, a.Token).Jti)
		if h.valid(a.Token) || !h.valid(b.Token) {
			t.Fatal("token level must hit exactly one jti")
		}
		wantProblem(t, h.do("POST", "/v1/token/renew", a.Token, nil), 401, "unauthorized", "token verification failed")
	})

	t.Run("agent kills tokens delegated to the agent", func(t *testing.T) {
		x := h.agent(admin, "o", "ag-x", "r:d:*")
		y := h.agent(admin, "o", "ag-y", "r:d:*")
		toY := delegated(x, y.ID, "r:d:a")
		fromY := delegated(y, x.ID, "r:d:b")
		var renewed tokenResponse
		h.do("POST", "/v1/token/renew", y.Token, nil).decode(t, &renewed)
		revoke("agent", y.ID)
		if h.valid(renewed.AccessToken) || h.valid(toY) {
			t.Fatal("tokens whose sub is the agent must die")
		}
		if !h.valid(x.Token) || !h.valid(fromY) {
			t.Fatal("tokens of other subjects must live (fromY's sub is x)")
		}
		// Retroactive: a later token for the same subject is dead on arrival.
		if h.valid(delegated(x, y.ID, "r:d:c")) {
			t.Fatal("rule must hit later tokens")
		}
		// The agent record remains: delegation to it is still accepted.
		wantStatus(t, h.delegate(x.Token, y.ID, []string{"r:d:a"}, 0), 200)
	})

	t.Run("task blocks later registrations", func(t *testing.T) {
		x := h.agent(admin, "o", "doomed", "r:d:*")
		other := h.agent(admin, "o", "safe", "r:d:*")
		fromX := delegated(x, other.ID, "r:d:a") // carries task_id doomed
		toX := delegated(other, x.ID, "r:d:b")   // carries task_id safe
		revoke("task", "doomed")
		if h.valid(x.Token) || h.valid(fromX) {
			t.Fatal("task tokens must die")
		}
		if !h.valid(other.Token) || !h.valid(toX) {
			t.Fatal("other task must live")
		}
		later := h.agent(admin, "o2", "doomed", "r:d:*") // registration itself succeeds
		if h.valid(later.Token) {
			t.Fatal("a later registration with the revoked task id must be dead")
		}
		wantProblem(t, h.do("POST", "/v1/token/renew", later.Token, nil), 401, "unauthorized", "token verification failed")
		// An empty task id never matches (admin tokens have none).
		if !h.valid(admin) {
			t.Fatal("admin token hit by task rule")
		}
	})

	t.Run("chain spares the root's own token", func(t *testing.T) {
		root := h.agent(admin, "o", "ch-root", "r:d:*")
		mid := h.agent(admin, "o", "ch-mid", "r:d:*")
		leaf := h.agent(admin, "o", "ch-leaf", "r:d:*")
		first := delegated(root, mid.ID, "r:d:*")
		var d delegateResponse
		h.delegate(first, leaf.ID, []string{"r:d:x"}, 0).decode(t, &d)
		second := d.AccessToken
		fromMid := delegated(mid, leaf.ID, "r:d:y") // root of this chain is mid
		revoke("chain", root.ID)
		if h.valid(first) || h.valid(second) {
			t.Fatal("tokens whose chain starts at root must die")
		}
		if !h.valid(root.Token) || !h.valid(mid.Token) || !h.valid(fromMid) {
			t.Fatal("root's own token and other chains must live")
		}
		if h.valid(delegated(root, leaf.ID, "r:d:z")) {
			t.Fatal("chain rule must hit later delegations")
		}
	})

	t.Run("agent level works for admin and apps", func(t *testing.T) {
		c := h.newApp("app-two", "r:d:*")
		app := h.appToken(c)
		revoke("agent", "app:"+c.AppID)
		if h.valid(app) {
			t.Fatal("app token survived")
		}
		revoke("agent", "admin")
		wantProblem(t, h.do("GET", "/v1/audit/events", admin, nil), 401, "unauthorized", "token verification failed")
		fresh := h.adminToken() // login works, but the rule hits the new token too
		if h.valid(fresh) {
			t.Fatal("rules are retroactive")
		}
	})
	if strings.Contains(h.lastEvent().Detail, "token_revoked_access") {
		t.Fatal("token_revoked_access is never recorded")
	}
}
