package broker

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jsonText marshals v for building raw request bodies.
func jsonText(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// §4: like the real broker's streaming decoder, every JSON endpoint but admin
// auth decodes the first JSON value and ignores whatever follows it; admin
// auth refuses trailing data. Empty bodies and wrong types stay malformed.
func TestTrailingJSON(t *testing.T) {
	h := newHarness(t, noLimits)
	tk := h.tokens()
	creds := h.newApp("trailing-app", "read:data:*")
	peer := h.agent(tk.admin, "o", "peer", "read:data:*")
	trailers := []string{" x", "{}", `]`, `{"token":"y"}`, "\n\"more\"", " {"}
	for i, tail := range trailers {
		t.Run(fmt.Sprintf("tail%d", i), func(t *testing.T) {
			lt := h.adminLaunch(tk.admin, []string{"read:data:x"}, nil)
			cases := []struct {
				method, path, token, body string
				status                    int
			}{
				{"POST", "/v1/token/validate", "", jsonText(t, map[string]string{"token": tk.admin}), 200},
				{"POST", "/v1/register", "", jsonText(t, registerBody(t, lt, h.challenge(), newKey(t), "o", "t", []string{"read:data:x"})), 200},
				{"POST", "/v1/delegate", tk.agent.Token, jsonText(t, map[string]any{"delegate_to": peer.ID, "scope": []string{"read:data:x"}}), 200},
				{"POST", "/v1/revoke", tk.admin, `{"level":"token","target":"trailing-x"}`, 200},
				{"POST", "/v1/admin/launch-tokens", tk.admin, `{"agent_name":"x","allowed_scope":["a:b:c"]}`, 201},
				{"POST", "/v1/app/launch-tokens", tk.app, `{"agent_name":"x","allowed_scope":["read:data:x"]}`, 201},
				{"POST", "/v1/admin/apps", tk.admin, fmt.Sprintf(`{"name":"trailing-%d","scopes":["read:x:*"]}`, i), 201},
				{"PUT", "/v1/admin/apps/" + tk.appID, tk.admin, `{"token_ttl":1800}`, 200},
				{"POST", "/v1/app/auth", "", jsonText(t, map[string]string{"client_id": creds.ClientID, "client_secret": creds.ClientSecret}), 200},
			}
			for _, tc := range cases {
				r := h.do(tc.method, tc.path, tc.token, tc.body+tail)
				wantStatus(t, r, tc.status)
				if tc.path == "/v1/token/validate" && !strings.HasPrefix(string(r.Body), `{"valid":true,`) {
					t.Fatalf("validate with trailing data: %s", r.Body)
				}
			}
			// Admin auth is strict: trailing data is malformed.
			wantProblem(t, h.do("POST", "/v1/admin/auth", "", `{"secret":"`+testSecret+`"}`+tail), 400, "invalid_request", "malformed JSON body")
		})
	}
	// Trailing whitespace is not trailing data, even for admin auth.
	wantStatus(t, h.do("POST", "/v1/admin/auth", "", `{"secret":"`+testSecret+"\"}\n\t "), 200)
	// Wrong types stay malformed even when followed by more data; a bad
	// first value is malformed whatever follows it.
	wantProblem(t, h.do("POST", "/v1/token/validate", "", `{"token":1} {"token":"x"}`), 400, "invalid_request", "malformed JSON body")
	wantProblem(t, h.do("POST", "/v1/revoke", tk.admin, `[] {"level":"token","target":"x"}`), 400, "invalid_request", "malformed JSON body")
	wantProblem(t, h.do("POST", "/v1/app/auth", "", `x {}`), 400, "invalid_request", "malformed JSON body")
}

// §6: the app-auth limiter keys on client_id only when the body is strictly
// one JSON object; with trailing data it keys on the client IP, although
// the request itself is then served normally.
func TestAppAuthLimiterKeyTrailingData(t *testing.T) {
	h := newHarness(t)
	c := h.newApp("rl-app", "read:data:*")
	body := jsonText(t, map[string]string{"client_id": c.ClientID, "client_secret": c.ClientSecret})
	from := func(ip, body string) resp {
		req := newRequest("POST", "/v1/app/auth", "", body)
		req.RemoteAddr = ip + ":4711"
		return h.serve(req)
	}
	for range 3 { // the IP bucket (burst 3) is spent by trailing-data logins
		wantStatus(t, from("10.1.1.1", body+" trailing"), 200)
	}
	r := from("10.1.1.1", `{"client_id":"someone-else","client_secret":"x"} trailing`)
	wantProblem(t, r, 429, "rate_limited", "rate limit exceeded, try again later")
	if r.Header.Get("Retry-After") != "60" {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// The client_id bucket was never touched, and another IP has its own.
	wantStatus(t, from("10.1.1.1", body), 200)
	wantStatus(t, from("10.2.2.2", body+"{}"), 200)
}

// §3: a JWT header with "kid":"" (or null) counts as no kid.
func TestEmptyKidAccepted(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now().Unix()
	pl := fmt.Sprintf(`{"iss":"","sub":"forged-sub","exp":%d,"nbf":%d,"iat":%d,"jti":"j-empty-kid","scope":["read:data:x"]}`, now+300, now, now)
	tok := signRaw(h.s, `{"alg":"EdDSA","typ":"JWT","kid":""}`, pl)
	if !h.valid(tok) {
		t.Fatal("empty kid rejected by validate")
	}
	// Bearer routes accept it too: the scope check, not verification, refuses it.
	wantProblem(t, h.do("POST", "/v1/revoke", tok, `{"level":"token","target":"x"}`), 403, "insufficient_scope", "token lacks required scope: admin:revoke:*")
	r := h.do("POST", "/v1/token/renew", tok, nil)
	wantStatus(t, r, 200)
	var out tokenResponse
	r.decode(t, &out)
	if c := tokenClaims(t, out.AccessToken); c.Sub != "forged-sub" || out.ExpiresIn != 300 {
		t.Fatalf("renewed %+v", c)
	}
}

// validateClaims returns the raw claims object of a valid token's validate reply.
func validateClaims(t testing.TB, h *harness, tok string) map[string]json.RawMessage {
	t.Helper()
	r := h.do("POST", "/v1/token/validate", "", map[string]string{"token": tok})
	wantStatus(t, r, 200)
	var out struct {
		Valid  bool                       `json:"valid"`
		Claims map[string]json.RawMessage `json:"claims"`
	}
	r.decode(t, &out)
	if !out.Valid {
		t.Fatalf("token invalid: %s", r.Body)
	}
	return out.Claims
}

// §3: delegated_at is an RFC 3339 time in the claims: unparseable makes the
// token invalid; others are re-serialised in RFC3339Nano form wherever claims
// are echoed; an empty signature is omitted.
func TestDelegationRecordClaims(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	peer := h.agent(admin, "o", "peer", "read:data:x")
	now := h.clock.Now().Unix()
	forge := func(jti, chain string) string {
		return signRaw(h.s, `{"alg":"EdDSA","typ":"JWT"}`, fmt.Sprintf(
			`{"iss":"","sub":"forged-sub","exp":%d,"nbf":%d,"iat":%d,"jti":%q,"scope":["read:data:x"],"delegation_chain":%s}`,
			now+300, now, now, jti, chain))
	}

	t.Run("unparseable delegated_at", func(t *testing.T) {
		for i, at := range []string{`"garbage"`, `""`, `5`, `"2026-01-01t00:00:00z"`, `"2026-01-01T00:00:00"`} {
			tok := forge(fmt.Sprintf("bad-%d", i), `[{"agent":"spiffe://x","scope":["a:b:c"],"delegated_at":`+at+`,"signature":"ab"}]`)
			if h.valid(tok) {
				t.Fatalf("delegated_at %s accepted", at)
			}
			for _, path := range []string{"/v1/token/renew", "/v1/delegate", "/v1/token/release"} {
				wantProblem(t, h.do("POST", path, tok, `{}`), 401, "unauthorized", "token verification failed")
				if ev := h.lastEvent(); ev.Detail != "token verification failed: invalid token format | path="+path {
					t.Fatalf("event %+v", ev)
				}
			}
		}
	})

	t.Run("re-serialised", func(t *testing.T) {
		cases := []struct{ in, out string }{
			{`"2026-01-01T02:00:00.500000000+02:00"`, `"2026-01-01T02:00:00.5+02:00"`},
			{`"2026-01-01T00:00:00.000Z"`, `"2026-01-01T00:00:00Z"`},
			{`"2026-01-01T00:00:00.1230Z"`, `"2026-01-01T00:00:00.123Z"`},
			{`null`, `"0001-01-01T00:00:00Z"`},
			{``, `"0001-01-01T00:00:00Z"`}, // missing
			{`"9999-12-31T23:59:59.999999999-23:59"`, `"9999-12-31T23:59:59.999999999-23:59"`},
		}
		for i, tc := range cases {
			rec := `{"agent":"spiffe://x","scope":["a:b:c"]`
			if tc.in != "" {
				rec += `,"delegated_at":` + tc.in
			}
			tok := forge(fmt.Sprintf("fmt-%d", i), "["+rec+`,"signature":"ab"}]`)
			want := `[{"agent":"spiffe://x","scope":["a:b:c"],"delegated_at":` + tc.out + `,"signature":"ab"}]`
			if got := string(validateClaims(t, h, tok)["delegation_chain"]); got != want {
				t.Fatalf("validate chain %s, want %s", got, want)
			}
			r := h.do("POST", "/v1/token/renew", tok, nil)
			wantStatus(t, r, 200)
			var out tokenResponse
			r.decode(t, &out)
			var renewed map[string]json.RawMessage
			_, payload := decodeJWT(t, out.AccessToken)
			if err := json.Unmarshal(payload, &renewed); err != nil || string(renewed["delegation_chain"]) != want {
				t.Fatalf("renewed chain %s, want %s", renewed["delegation_chain"], want)
			}
			// Delegating re-serialises the old records too, and hashes them that way.
			tok = forge(fmt.Sprintf("fmt-d-%d", i), "["+rec+`,"signature":"ab"}]`)
			r = h.delegate(tok, peer.ID, []string{"read:data:x"}, 0)
			wantStatus(t, r, 200)
			var d map[string]json.RawMessage
			r.decode(t, &d)
			var chain []json.RawMessage
			if err := json.Unmarshal(d["delegation_chain"], &chain); err != nil || len(chain) != 2 || "["+string(chain[0])+"]" != want {
				t.Fatalf("delegate chain %s, want first record %s", d["delegation_chain"], want)
			}
			c := tokenClaims(t, string(mustUnquote(t, d["access_token"])))
			if sum := sha256.Sum256(d["delegation_chain"]); c.ChainHash != hex.EncodeToString(sum[:]) {
				t.Fatalf("chain_hash %s does not cover %s", c.ChainHash, d["delegation_chain"])
			}
		}
	})

	t.Run("empty signature omitted", func(t *testing.T) {
		for i, sig := range []string{``, `,"signature":""`, `,"signature":null`} {
			tok := forge(fmt.Sprintf("sig-%d", i), `[{"agent":"spiffe://x","scope":["a:b:c"],"delegated_at":"2026-01-01T00:00:00Z"`+sig+`}]`)
			want := `[{"agent":"spiffe://x","scope":["a:b:c"],"delegated_at":"2026-01-01T00:00:00Z"}]`
			if got := string(validateClaims(t, h, tok)["delegation_chain"]); got != want {
				t.Fatalf("validate chain %s, want %s", got, want)
			}
			r := h.do("POST", "/v1/token/renew", tok, nil)
			wantStatus(t, r, 200)
			var out tokenResponse
			r.decode(t, &out)
			if got := string(validateClaims(t, h, out.AccessToken)["delegation_chain"]); got != want {
				t.Fatalf("renewed chain %s, want %s", got, want)
			}
		}
	})
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustUnquote(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// §3: renewing a token without a scope claim issues "scope":null.
func TestRenewMissingScopeIsNull(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now().Unix()
	for i, tc := range []struct{ scope, want string }{{``, `null`}, {`,"scope":null`, `null`}, {`,"scope":[]`, `[]`}} {
		tok := signRaw(h.s, `{"alg":"EdDSA","typ":"JWT"}`, fmt.Sprintf(
			`{"iss":"","sub":"forged-sub","exp":%d,"nbf":%d,"iat":%d,"jti":"j%d"%s}`, now+300, now, now, i, tc.scope))
		r := h.do("POST", "/v1/token/renew", tok, nil)
		wantStatus(t, r, 200)
		var out tokenResponse
		r.decode(t, &out)
		_, payload := decodeJWT(t, out.AccessToken)
		var m map[string]json.RawMessage
		if err := json.Unmarshal(payload, &m); err != nil || string(m["scope"]) != tc.want {
			t.Fatalf("scope %q: renewed payload %s, want scope %s", tc.scope, payload, tc.want)
		}
		if got := string(validateClaims(t, h, out.AccessToken)["scope"]); got != tc.want {
			t.Fatalf("validate scope %s", got)
		}
	}
}

// §8: token_auth_failed reasons use the real broker's wording and its check
// order: format (fewer than three parts, header, alg, kid), signature (at
// most three parts are split off, so extra dots fail here), payload, sub,
// jti, exp > 0, expiry, nbf, issuer, revocation.
func TestTokenAuthFailedReasons(t *testing.T) {
	const iss = "https://issuer.test"
	h := newHarness(t, func(c *Config) { c.Issuer = iss })
	admin := h.adminToken()
	wantStatus(t, h.do("POST", "/v1/revoke", admin, `{"level":"token","target":"rev-jti"}`), 200)
	wantStatus(t, h.do("POST", "/v1/revoke", admin, `{"level":"agent","target":"rev-sub"}`), 200)
	now := h.clock.Now().Unix()
	hdr := `{"alg":"EdDSA","typ":"JWT","kid":"` + h.s.KeyID() + `"}`
	// pl builds a payload from the defaults, a "-" value dropping the key.
	pl := func(kv ...string) string {
		m := map[string]string{"iss": `"` + iss + `"`, "sub": `"s"`, "jti": `"j"`, "exp": fmt.Sprint(now + 60), "nbf": fmt.Sprint(now), "iat": fmt.Sprint(now)}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		var parts []string
		for _, k := range []string{"iss", "sub", "exp", "nbf", "iat", "jti", "delegation_chain"} {
			if v, ok := m[k]; ok && v != "-" {
				parts = append(parts, `"`+k+`":`+v)
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	good := signRaw(h.s, hdr, pl())
	seg := strings.Split(good, ".")
	past, future := fmt.Sprint(now-5), fmt.Sprint(now+100)
	cases := []struct{ name, tok, reason string }{
		{"one part", "garbage", "invalid token format"},
		{"two parts", seg[0] + "." + seg[1], "invalid token format"},
		{"four parts", good + ".x", "signature verification failed"},
		{"trailing dot", good + ".", "signature verification failed"},
		{"header not base64", "!!." + seg[1] + "." + seg[2], "invalid token format"},
		{"header not JSON", signRaw(h.s, `xx`, pl()), "invalid token format"},
		{"header array", signRaw(h.s, `[]`, pl()), "invalid token format"},
		{"alg none", signRaw(h.s, `{"alg":"none"}`, pl()), "invalid token format"},
		{"alg missing", signRaw(h.s, `{"kid":"`+h.s.KeyID()+`"}`, pl()), "invalid token format"},
		{"kid mismatch", signRaw(h.s, `{"alg":"EdDSA","kid":"AAAA"}`, pl()), "invalid token format"},
		{"kid mismatch, bad signature", b64url(`{"alg":"EdDSA","kid":"AAAA"}`) + "." + seg[1] + "." + seg[2], "invalid token format"},
		{"kid number", signRaw(h.s, `{"alg":"EdDSA","kid":5}`, pl()), "invalid token format"},
		{"bad signature", seg[0] + "." + seg[1] + ".AAAA", "signature verification failed"},
		{"signature not base64", seg[0] + "." + seg[1] + ".!!", "signature verification failed"},
		{"payload not JSON, bad signature", seg[0] + "." + b64url("nope") + "." + seg[2], "signature verification failed"},
		{"payload not base64, bad signature", seg[0] + ".!!." + seg[2], "signature verification failed"},
		{"payload not JSON", signRaw(h.s, hdr, `nope`), "invalid token format"},
		{"exp of wrong type", signRaw(h.s, hdr, pl("exp", `"5"`)), "invalid token format"},
		{"bad delegated_at beats expiry", signRaw(h.s, hdr, pl("exp", past, "delegation_chain", `[{"agent":"a","delegated_at":"x"}]`)), "invalid token format"},
		{"sub empty", signRaw(h.s, hdr, pl("sub", `""`)), "missing subject"},
		{"sub and jti missing", signRaw(h.s, hdr, pl("sub", "-", "jti", "-")), "missing subject"},
		{"sub missing, expired, wrong issuer", signRaw(h.s, hdr, pl("sub", "-", "exp", past, "iss", `"x"`)), "missing subject"},
		{"exp 0, sub missing", signRaw(h.s, hdr, pl("exp", "0", "sub", "-")), "missing subject"},
		{"jti empty", signRaw(h.s, hdr, pl("jti", `""`)), "missing jti"},
		{"jti missing, expired", signRaw(h.s, hdr, pl("jti", "-", "exp", past)), "missing jti"},
		{"exp 0", signRaw(h.s, hdr, pl("exp", "0")), "token has no expiry"},
		{"exp negative", signRaw(h.s, hdr, pl("exp", "-5")), "token has no expiry"},
		{"exp missing, revoked", signRaw(h.s, hdr, pl("exp", "-", "jti", `"rev-jti"`)), "token has no expiry"},
		{"expired", signRaw(h.s, hdr, pl("exp", past)), "token expired"},
		{"expired, nbf future", signRaw(h.s, hdr, pl("exp", past, "nbf", future)), "token expired"},
		{"expired, revoked, wrong issuer", signRaw(h.s, hdr, pl("exp", past, "jti", `"rev-jti"`, "iss", `"x"`)), "token expired"},
		{"nbf future", signRaw(h.s, hdr, pl("nbf", future)), "token not yet valid"},
		{"nbf future, wrong issuer, revoked", signRaw(h.s, hdr, pl("nbf", future, "iss", `"x"`, "sub", `"rev-sub"`)), "token not yet valid"},
		{"wrong issuer", signRaw(h.s, hdr, pl("iss", `"x"`)), "invalid issuer"},
		{"issuer missing, revoked", signRaw(h.s, hdr, pl("iss", "-", "jti", `"rev-jti"`)), "invalid issuer"},
		{"revoked jti", signRaw(h.s, hdr, pl("jti", `"rev-jti"`)), "token has been revoked"},
		{"revoked agent", signRaw(h.s, hdr, pl("sub", `"rev-sub"`)), "token has been revoked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if h.valid(tc.tok) {
				t.Fatal("token valid")
			}
			wantProblem(t, h.do("POST", "/v1/revoke", tc.tok, `{}`), 401, "unauthorized", "token verification failed")
			want := AuditEvent{EventType: evTokenAuthFailed, Detail: "token verification failed: " + tc.reason + " | path=/v1/revoke",
				Resource: "/v1/revoke", Outcome: outcomeDenied}
			got := h.lastEvent()
			got.ID, got.Timestamp, got.Hash, got.PrevHash, got.at = "", "", "", "", time.Time{}
			if got != want {
				t.Fatalf("event %+v, want detail %q", got, want.Detail)
			}
		})
	}
	// The baseline passes verification (audience is not configured).
	wantProblem(t, h.do("POST", "/v1/revoke", good, `{}`), 403, "insufficient_scope", "token lacks required scope: admin:revoke:*")
}

// §8: the token_issued detail at registration shows the launch token's
// max_ttl before the global clamp; the token itself gets the clamped TTL.
func TestTokenIssuedDetailUnclampedTTL(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	for _, tc := range []struct{ maxTTL, issued, detail int }{{100000, 86400, 100000}, {0, 300, 300}, {120, 120, 120}} {
		a := h.register(h.adminLaunch(admin, []string{"r:d:x"}, map[string]any{"max_ttl": tc.maxTTL}), "o", "t", "r:d:x")
		c := tokenClaims(t, a.Token)
		if a.ExpiresIn != tc.issued || c.Exp-c.Iat != int64(tc.issued) {
			t.Fatalf("max_ttl %d: expires_in %d, exp-iat %d, want %d", tc.maxTTL, a.ExpiresIn, c.Exp-c.Iat, tc.issued)
		}
		evs := h.events(evTokenIssued)
		if ev := evs[len(evs)-1]; ev.Detail != fmt.Sprintf("Token issued, jti=%s, ttl=%d", c.Jti, tc.detail) {
			t.Fatalf("max_ttl %d: detail %q", tc.maxTTL, ev.Detail)
		}
	}
}

// The benchmark registers agents end to end through the handler: a launch
// token, a challenge and a registration per iteration.
func BenchmarkRegister(b *testing.B) { benchRegister(b, "") }

// BenchmarkRegisterDB is BenchmarkRegister with a database: each iteration
// commits two transactions (launch token; agent, consumption and two events).
func BenchmarkRegisterDB(b *testing.B) { benchRegister(b, filepath.Join(b.TempDir(), "broker.db")) }

// BenchmarkRegisterParallel and BenchmarkRegisterDBParallel register from
// 8 goroutines per CPU: with a database, concurrent changes share commits.
func BenchmarkRegisterParallel(b *testing.B) { benchRegisterParallel(b, "") }

func BenchmarkRegisterDBParallel(b *testing.B) {
	benchRegisterParallel(b, filepath.Join(b.TempDir(), "broker.db"))
}

func benchRegisterParallel(b *testing.B, dbPath string) {
	s, err := New(Config{AdminSecret: testSecret, DisableRateLimits: true, DBPath: dbPath})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	h := &harness{t: b, s: s, h: s.Handler()}
	admin := h.adminToken()
	ltBody := `{"agent_name":"bench","allowed_scope":["read:data:*"],"max_ttl":300}`
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		priv := newKey(b)
		for pb.Next() {
			r := h.do("POST", "/v1/admin/launch-tokens", admin, ltBody)
			var lt launchTokenResponse
			if r.Code != http.StatusCreated || json.Unmarshal(r.Body, &lt) != nil {
				b.Errorf("launch token: %d %s", r.Code, r.Body)
				return
			}
			var ch challengeResponse
			_ = json.Unmarshal(h.do("GET", "/v1/challenge", "", nil).Body, &ch)
			body := registerBody(b, lt.LaunchToken, ch.Nonce, priv, "bench-orch", "bench-task", []string{"read:data:x"})
			if r := h.do("POST", "/v1/register", "", body); r.Code != http.StatusOK {
				b.Errorf("register: %d %s", r.Code, r.Body)
				return
			}
		}
	})
}

func benchRegister(b *testing.B, dbPath string) {
	s, err := New(Config{AdminSecret: testSecret, DisableRateLimits: true, DBPath: dbPath})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	h := &harness{t: b, s: s, h: s.Handler()}
	admin := h.adminToken()
	priv := newKey(b)
	ltBody := `{"agent_name":"bench","allowed_scope":["read:data:*"],"max_ttl":300}`
	b.ReportAllocs()
	for b.Loop() {
		r := h.do("POST", "/v1/admin/launch-tokens", admin, ltBody)
		if r.Code != http.StatusCreated {
			b.Fatalf("launch token: %d %s", r.Code, r.Body)
		}
		var lt launchTokenResponse
		r.decode(b, &lt)
		body := registerBody(b, lt.LaunchToken, h.challenge(), priv, "bench-orch", "bench-task", []string{"read:data:x"})
		if r := h.do("POST", "/v1/register", "", body); r.Code != http.StatusOK {
			b.Fatalf("register: %d %s", r.Code, r.Body)
		}
	}
}
