package broker

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// §12: health shape.
func TestHealthShape(t *testing.T) {
	h := newHarness(t)
	h.adminToken() // one audit event
	h.clock.Advance(84 * time.Second)
	r := h.do("GET", "/v1/health", "", nil)
	wantStatus(t, r, 200)
	if got, want := jsonKeys(t, r.Body), []string{"status", "version", "uptime", "db_connected", "audit_events_count"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
	var got healthResponse
	r.decode(t, &got)
	want := healthResponse{Status: "ok", Version: "2.0.0", Uptime: 84, DBConnected: false, AuditEventsCount: 1}
	if got != want {
		t.Fatalf("health = %+v, want %+v", got, want)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
}

// §12: security headers and X-Request-ID on success and error replies.
func TestSecurityHeadersAndRequestID(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name string
		req  *http.Request
		code int
	}{
		{"success", newRequest("GET", "/v1/health", "", nil), 200},
		{"problem", newRequest("POST", "/v1/admin/auth", "", `{}`), 400},
		{"bearer failure", newRequest("POST", "/v1/token/renew", "", nil), 401},
		{"router 404", newRequest("GET", "/v1/nope", "", nil), 404},
		{"router 405", newRequest("DELETE", "/v1/health", "", nil), 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.serve(tc.req)
			wantStatus(t, r, tc.code)
			for k, v := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if id := r.Header.Get("X-Request-ID"); !reHex16.MatchString(id) {
				t.Errorf("generated X-Request-ID = %q, want 16 hex", id)
			}
			// Without TLS, never HSTS, as the real broker in AA_TLS_MODE=none (see TestTLSStart).
			if r.Header.Get("Strict-Transport-Security") != "" {
				t.Error("HSTS without TLS")
			}
		})
	}
	t.Run("echo", func(t *testing.T) {
		req := newRequest("POST", "/v1/token/validate", "", `{}`)
		req.Header.Set("X-Request-ID", "client chosen/ID 42")
		r := h.serve(req)
		if got := r.Header.Get("X-Request-ID"); got != "client chosen/ID 42" {
			t.Fatalf("X-Request-ID = %q", got)
		}
		wantProblem(t, r, 400, "invalid_request", "token field is required")
	})
	t.Run("distinct ids", func(t *testing.T) {
		a := h.do("GET", "/v1/health", "", nil).Header.Get("X-Request-ID")
		b := h.do("GET", "/v1/health", "", nil).Header.Get("X-Request-ID")
		if a == b {
			t.Fatal("two generated request ids are equal")
		}
	})
}

// §12: admin auth errors.
func TestAdminAuth(t *testing.T) {
	h := newHarness(t)
	wantProblem(t, h.do("POST", "/v1/admin/auth", "", map[string]string{"secret": "wrong"}), 401, "unauthorized", "invalid credentials")
	wantProblem(t, h.do("POST", "/v1/admin/auth", "", `{}`), 400, "invalid_request", "secret is required")
	wantProblem(t, h.do("POST", "/v1/admin/auth", "", `{"secret":""}`), 400, "invalid_request", "secret is required")
	wantProblem(t, h.do("POST", "/v1/admin/auth", "", `{"secret":1}`), 400, "invalid_request", "malformed JSON body")
	wantProblem(t, h.do("POST", "/v1/admin/auth", "", ``), 400, "invalid_request", "malformed JSON body")
	legacy := `Admin auth format changed. Use {"secret": "..."} instead of client_id/client_secret`
	wantProblem(t, h.do("POST", "/v1/admin/auth", "", `{"client_id":"x","client_secret":"y"}`), 400, "invalid_request", legacy)
	wantProblem(t, h.do("POST", "/v1/admin/auth", "", `{"client_secret":"y","secret":"`+testSecret+`"}`), 400, "invalid_request", legacy)
	r := h.do("POST", "/v1/admin/auth", "", map[string]string{"secret": testSecret})
	wantStatus(t, r, 200)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"access_token", "expires_in", "token_type"}) {
		t.Fatalf("keys %v", got)
	}
	var out loginResponse
	r.decode(t, &out)
	if out.ExpiresIn != 300 || out.TokenType != "Bearer" {
		t.Fatalf("reply %+v", out)
	}
	if got := h.events(evAdminAuthFailed); len(got) != 1 || got[0].Detail != "failed admin authentication attempt" || got[0].Outcome != "denied" {
		t.Fatalf("admin_auth_failed events %+v", got)
	}
	if got := h.events(evAdminAuth); len(got) != 1 || got[0].Detail != "admin authenticated as admin" || got[0].Outcome != "success" {
		t.Fatalf("admin_auth events %+v", got)
	}

	t.Run("empty configured secret always fails", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.AdminSecret = "" })
		wantProblem(t, h.do("POST", "/v1/admin/auth", "", map[string]string{"secret": "anything"}), 401, "unauthorized", "invalid credentials")
	})
}

// §12: 30 concurrent admin logins → 10 × 401, 20 × 429 with Retry-After 1 (§6).
func TestAdminAuthRateLimit(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var replies []resp
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			r := h.do("POST", "/v1/admin/auth", "", map[string]string{"secret": "bad"})
			mu.Lock()
			replies = append(replies, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	counts := map[int]int{}
	for _, r := range replies {
		counts[r.Code]++
		if r.Code == 429 {
			if ra := r.Header.Get("Retry-After"); ra != "1" {
				t.Errorf("Retry-After = %q", ra)
			}
			wantProblem(t, r, 429, "rate_limited", "rate limit exceeded, try again later")
		}
	}
	if counts[401] != 10 || counts[429] != 20 {
		t.Fatalf("counts = %v, want 10×401 and 20×429", counts)
	}
	// Rejections write no audit event.
	if n := len(h.events(evAdminAuthFailed)); n != 10 {
		t.Fatalf("%d admin_auth_failed events", n)
	}
	// Another client IP has its own bucket.
	req := newRequest("POST", "/v1/admin/auth", "", map[string]string{"secret": testSecret})
	req.RemoteAddr = "198.51.100.7:5555"
	wantStatus(t, h.serve(req), 200)
	// 5 per second refill: 200 ms gives one more try to the first IP.
	wantStatus(t, h.do("POST", "/v1/admin/auth", "", map[string]string{"secret": testSecret}), 429)
	h.clock.Advance(200 * time.Millisecond)
	wantStatus(t, h.do("POST", "/v1/admin/auth", "", map[string]string{"secret": testSecret}), 200)
	wantStatus(t, h.do("POST", "/v1/admin/auth", "", map[string]string{"secret": testSecret}), 429)

	// The real broker's X-Forwarded-For key is a parity exception:
	// TestParityExceptionForwardedForIgnored, TestLimiterTrustProxy.
	t.Run("disabled", func(t *testing.T) {
		h := newHarness(t, noLimits)
		for range 40 {
			wantStatus(t, h.do("POST", "/v1/admin/auth", "", `{"secret":"x"}`), 401)
		}
	})
}

// §12: admin JWT layout: header alg/typ/kid in order, sub admin, three scopes,
// 300 s, iss "", no aud; kid is the RFC 7638 thumbprint.
func TestAdminJWT(t *testing.T) {
	h := newHarness(t)
	tok := h.adminToken()
	hdr, payload := decodeJWT(t, tok)
	if want := `{"alg":"EdDSA","typ":"JWT","kid":"` + h.s.KeyID() + `"}`; string(hdr) != want {
		t.Fatalf("header %s, want %s", hdr, want)
	}
	if got := jsonKeys(t, payload); !slices.Equal(got, []string{"iss", "sub", "exp", "nbf", "iat", "jti", "scope"}) {
		t.Fatalf("claim keys %v", got)
	}
	c := tokenClaims(t, tok)
	now := h.clock.Now().Unix()
	if c.Iss != "" || c.Sub != "admin" || c.Iat != now || c.Nbf != now || c.Exp != now+300 || !reHex32.MatchString(c.Jti) ||
		!slices.Equal(c.Scope, []string{"admin:launch-tokens:*", "admin:revoke:*", "admin:audit:*"}) {
		t.Fatalf("claims %+v", c)
	}
	// kid: base64url(SHA-256(`{"crv":"Ed25519","kty":"OKP","x":"…"}`)), 43 chars.
	x := base64.RawURLEncoding.EncodeToString(h.s.PublicKey())
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	if kid := base64.RawURLEncoding.EncodeToString(sum[:]); h.s.KeyID() != kid || len(kid) != 43 {
		t.Fatalf("KeyID %q, want %q", h.s.KeyID(), kid)
	}
	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if !ed25519.Verify(h.s.PublicKey(), []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("signature does not verify with PublicKey")
	}
	// PublicKey returns a copy.
	pk := h.s.PublicKey()
	pk[0] ^= 0xff
	if h.s.PublicKey()[0] == pk[0] {
		t.Fatal("PublicKey exposes internal state")
	}
	t.Run("configured TTL", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.AdminTokenTTL = 42 })
		if c := tokenClaims(t, h.adminToken()); c.Exp-c.Iat != 42 {
			t.Fatalf("ttl %d", c.Exp-c.Iat)
		}
	})
}

// Issuer and audience settings (§3, §4 step 4).
func TestIssuerAndAudience(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Issuer = "https://broker.test"; c.Audience = "tenantui" })
	admin := h.adminToken()
	c := tokenClaims(t, admin)
	if c.Iss != "https://broker.test" || !slices.Equal(c.Aud, []string{"tenantui"}) {
		t.Fatalf("claims %+v", c)
	}
	wantStatus(t, h.do("GET", "/v1/audit/events", admin, nil), 200)

	noAud, _ := h.s.mint(claims{Sub: "admin", Scope: adminScopes}, 60)
	wantProblem(t, h.do("GET", "/v1/audit/events", noAud, nil), 401, "unauthorized", "token audience mismatch")
	if ev := h.lastEvent(); ev.EventType != evTokenAuthFailed || ev.AgentID != "admin" ||
		ev.Detail != "audience mismatch | expected=tenantui | path=/v1/audit/events" || ev.Resource != "/v1/audit/events" {
		t.Fatalf("event %+v", ev)
	}
	if !h.valid(noAud) {
		t.Fatal("validate must not check the audience")
	}
	// A token minted under another issuer fails verification.
	other := h.s.sign(claims{Iss: "someone-else", Sub: "admin", Jti: "j", Exp: h.clock.Now().Unix() + 60, Scope: adminScopes, Aud: []string{"tenantui"}})
	wantProblem(t, h.do("GET", "/v1/audit/events", other, nil), 401, "unauthorized", "token verification failed")
	if h.valid(other) {
		t.Fatal("wrong issuer accepted")
	}
	// Agent tokens carry the audience; delegated tokens copy it.
	a := h.agent(admin, "o", "t", "read:data:*")
	b := h.agent(admin, "o", "t2", "read:data:x")
	if c := tokenClaims(t, a.Token); !slices.Equal(c.Aud, []string{"tenantui"}) || c.Iss != "https://broker.test" {
		t.Fatalf("agent claims %+v", c)
	}
	r := h.delegate(a.Token, b.ID, []string{"read:data:x"}, 0)
	wantStatus(t, r, 200)
	var d delegateResponse
	r.decode(t, &d)
	if c := tokenClaims(t, d.AccessToken); !slices.Equal(c.Aud, []string{"tenantui"}) {
		t.Fatalf("delegated aud %v", c.Aud)
	}
}

// signRaw signs arbitrary header and payload JSON with the server key.
func signRaw(s *Server, header, payload string) string {
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(s.priv, []byte(signing)))
}

// §3 verification rules, each failing alone; whole-second expiry, no leeway.
func TestVerifyRules(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now().Unix()
	hdr := `{"alg":"EdDSA","typ":"JWT","kid":"` + h.s.KeyID() + `"}`
	pl := func(sub, jti string, exp, nbf int64) string {
		return fmt.Sprintf(`{"iss":"","sub":%q,"exp":%d,"nbf":%d,"iat":%d,"jti":%q,"scope":["read:data:x"]}`, sub, exp, nbf, now, jti)
	}
	good := signRaw(h.s, hdr, pl("s", "j", now+10, now))
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	forged := func() string {
		signing := strings.Join(strings.Split(good, ".")[:2], ".")
		return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(otherPriv, []byte(signing)))
	}()
	cases := []struct {
		name  string
		tok   string
		valid bool
	}{
		{"good", good, true},
		{"kid missing is accepted", signRaw(h.s, `{"alg":"EdDSA","typ":"JWT"}`, pl("s", "j", now+10, now)), true},
		{"typ ignored", signRaw(h.s, `{"alg":"EdDSA","typ":"whatever"}`, pl("s", "j", now+10, now)), true},
		{"nbf zero ignored", signRaw(h.s, hdr, pl("s", "j", now+10, 0)), true},
		{"exp == now still valid", signRaw(h.s, hdr, pl("s", "j", now, now)), true},
		{"expired one second ago", signRaw(h.s, hdr, pl("s", "j", now-1, now-10)), false},
		{"exp zero", signRaw(h.s, hdr, pl("s", "j", 0, 0)), false},
		{"nbf in the future", signRaw(h.s, hdr, pl("s", "j", now+10, now+1)), false},
		{"wrong kid", signRaw(h.s, `{"alg":"EdDSA","typ":"JWT","kid":"other"}`, pl("s", "j", now+10, now)), false},
		{"empty kid is accepted", signRaw(h.s, `{"alg":"EdDSA","typ":"JWT","kid":""}`, pl("s", "j", now+10, now)), true},
		{"null kid is accepted", signRaw(h.s, `{"alg":"EdDSA","typ":"JWT","kid":null}`, pl("s", "j", now+10, now)), true},
		{"kid of wrong type", signRaw(h.s, `{"alg":"EdDSA","typ":"JWT","kid":5}`, pl("s", "j", now+10, now)), false},
		{"alg none", signRaw(h.s, `{"alg":"none","typ":"JWT"}`, pl("s", "j", now+10, now)), false},
		{"alg HS256", signRaw(h.s, `{"alg":"HS256","typ":"JWT"}`, pl("s", "j", now+10, now)), false},
		{"empty sub", signRaw(h.s, hdr, pl("", "j", now+10, now)), false},
		{"empty jti", signRaw(h.s, hdr, pl("s", "", now+10, now)), false},
		{"payload not JSON", signRaw(h.s, hdr, `nope`), false},
		{"header not JSON", signRaw(h.s, `nope`, pl("s", "j", now+10, now)), false},
		{"exp of wrong type", signRaw(h.s, hdr, `{"sub":"s","jti":"j","exp":"soon"}`), false},
		{"foreign key", forged, false},
		{"two segments", strings.Join(strings.Split(good, ".")[:2], "."), false},
		{"four segments", good + ".x", false},
		{"padding in segment", good + "=", false},
		{"garbage", "not-a-jwt", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.valid(tc.tok); got != tc.valid {
				t.Fatalf("valid = %v, want %v", got, tc.valid)
			}
		})
	}
	t.Run("expiry follows the injected clock", func(t *testing.T) {
		tok := signRaw(h.s, hdr, pl("s", "j", now+2, now))
		h.clock.Advance(2 * time.Second)
		if !h.valid(tok) {
			t.Fatal("invalid at exp")
		}
		h.clock.Advance(time.Second)
		if h.valid(tok) {
			t.Fatal("valid after exp")
		}
	})
}

// §12: app create: 201, empty name/status, formats, secret shown once.
func TestAppCreate(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	r := h.do("POST", "/v1/admin/apps", admin, map[string]any{"name": "tenant-console", "scopes": []string{"read:analytics:*", "write:reports:*"}})
	wantStatus(t, r, 201)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"app_id", "name", "client_id", "client_secret", "scopes", "token_ttl", "status"}) {
		t.Fatalf("keys %v", got)
	}
	var out appJSON
	r.decode(t, &out)
	if !reAppID.MatchString(out.AppID) || !reClient.MatchString(out.ClientID) || !reHex64.MatchString(out.ClientSecret) ||
		out.Name != "" || out.Status != "" || out.TokenTTL != 1800 || !slices.Equal(out.Scopes, []string{"read:analytics:*", "write:reports:*"}) {
		t.Fatalf("reply %+v", out)
	}
	if ev := h.lastEvent(); ev.EventType != evAppRegistered ||
		ev.Detail != "app=tenant-console client_id="+out.ClientID+" scopes=[read:analytics:* write:reports:*] token_ttl=1800" {
		t.Fatalf("event %+v", ev)
	}
	for _, path := range []string{"/v1/admin/apps", "/v1/admin/apps/" + out.AppID} {
		if b := h.do("GET", path, admin, nil).Body; strings.Contains(string(b), out.ClientSecret) || strings.Contains(string(b), "client_secret") {
			t.Fatalf("%s leaks the secret: %s", path, b)
		}
	}
	r = h.do("POST", "/v1/admin/apps", admin, map[string]any{"name": "ab", "scopes": []string{"a:b:c"}, "token_ttl": 60})
	wantStatus(t, r, 201)
	r.decode(t, &out)
	if out.TokenTTL != 60 || !strings.HasPrefix(out.ClientID, "ab-") {
		t.Fatalf("reply %+v", out)
	}

	ttlMsg := func(n int) string {
		return fmt.Sprintf("invalid token TTL: must be between 60 and 86400 seconds, got %d", n)
	}
	const badName = "invalid app name: must be lowercase letters, digits, and hyphens"
	const badScope = "invalid scope format: use action:resource:identifier"
	errs := []struct {
		name string
		body string
		code string
		want string
	}{
		{"missing name", `{"scopes":["a:b:c"]}`, "invalid_request", "name is required"},
		{"missing scopes", `{"name":"x"}`, "invalid_request", "scopes must not be empty"},
		{"empty scopes", `{"name":"okname","scopes":[]}`, "invalid_request", "scopes must not be empty"},
		{"ttl zero", `{"name":"okname","scopes":["a:b:c"],"token_ttl":0}`, "invalid_ttl", ttlMsg(0)},
		{"ttl negative before bad name", `{"name":"Bad","scopes":["a:b:c"],"token_ttl":-5}`, "invalid_ttl", ttlMsg(-5)},
		{"ttl 59", `{"name":"okname","scopes":["a:b:c"],"token_ttl":59}`, "invalid_ttl", ttlMsg(59)},
		{"ttl 86401", `{"name":"okname","scopes":["a:b:c"],"token_ttl":86401}`, "invalid_ttl", ttlMsg(86401)},
		{"one char name", `{"name":"x","scopes":["a:b:c"]}`, "invalid_request", badName},
		{"upper case", `{"name":"Tenant","scopes":["a:b:c"]}`, "invalid_request", badName},
		{"leading digit", `{"name":"1ab","scopes":["a:b:c"]}`, "invalid_request", badName},
		{"hyphen second", `{"name":"a-b","scopes":["a:b:c"]}`, "invalid_request", badName},
		{"trailing hyphen", `{"name":"ab-","scopes":["a:b:c"]}`, "invalid_request", badName},
		{"double hyphen", `{"name":"ab--cd","scopes":["a:b:c"]}`, "invalid_request", badName},
		{"underscore", `{"name":"ab_cd","scopes":["a:b:c"]}`, "invalid_request", badName},
		{"65 chars", `{"name":"` + strings.Repeat("a", 65) + `","scopes":["a:b:c"]}`, "invalid_request", badName},
		{"bad name before bad scope", `{"name":"A","scopes":["bad"]}`, "invalid_request", badName},
		{"bad scope", `{"name":"okname","scopes":["read:data"]}`, "invalid_request", badScope},
		{"empty identifier", `{"name":"okname","scopes":["read:data:"]}`, "invalid_request", badScope},
		{"bad scope before ttl range", `{"name":"okname","scopes":["x"],"token_ttl":59}`, "invalid_request", badScope},
		{"malformed", `{"name":1}`, "invalid_request", "malformed JSON body"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, h.do("POST", "/v1/admin/apps", admin, tc.body), 400, tc.code, tc.want)
		})
	}
	t.Run("64 chars and null ttl are fine", func(t *testing.T) {
		wantStatus(t, h.do("POST", "/v1/admin/apps", admin, `{"name":"`+strings.Repeat("a", 64)+`","scopes":["a:b:c"],"token_ttl":null}`), 201)
		wantStatus(t, h.do("POST", "/v1/admin/apps", admin, `{"name":"a1-b2-c3","scopes":["read:data:a:b"],"token_ttl":86400}`), 201)
	})
	t.Run("parity quirk kept: duplicate name is a 500", func(t *testing.T) {
		wantProblem(t, h.do("POST", "/v1/admin/apps", admin, `{"name":"tenant-console","scopes":["a:b:c"]}`), 500, "internal_error", "failed to register app")
	})
	t.Run("app token cannot manage apps", func(t *testing.T) {
		app := h.appToken(h.newApp("other-app", "a:b:c"))
		wantProblem(t, h.do("GET", "/v1/admin/apps", app, nil), 403, "insufficient_scope", "token lacks required scope: admin:launch-tokens:*")
	})
}

func TestAbbrev(t *testing.T) {
	for name, want := range map[string]string{
		"tenant-console": "tc", "sample-apps": "sa", "ab": "ab", "console": "co",
		"a1-b2-c3": "abc", "one-two-three-four": "ott", "x9": "x9",
	} {
		if got := abbrev(name); got != want {
			t.Errorf("abbrev(%q) = %q, want %q", name, got, want)
		}
	}
}

// In-process registration shares validation and the audit event.
func TestRegisterAppInProcess(t *testing.T) {
	h := newHarness(t)
	c, err := h.s.RegisterApp("tenant-console", []string{"read:analytics:*"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reAppID.MatchString(c.AppID) || !reClient.MatchString(c.ClientID) || !reHex64.MatchString(c.ClientSecret) {
		t.Fatalf("%+v", c)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("creds", "c", c)
	if s := c.String() + fmt.Sprint(c) + logged.String(); strings.Contains(s, c.ClientSecret) || !strings.Contains(s, c.ClientID) {
		t.Fatalf("credentials leak the secret: %s", s)
	}
	if ev := h.lastEvent(); ev.EventType != evAppRegistered || ev.Detail != "app=tenant-console client_id="+c.ClientID+" scopes=[read:analytics:*] token_ttl=1800" {
		t.Fatalf("event %+v", ev)
	}
	if c := tokenClaims(t, h.appToken(c)); c.Exp-c.Iat != 1800 {
		t.Fatalf("app ttl %d", c.Exp-c.Iat)
	}
	for _, tc := range []struct {
		name   string
		scopes []string
		ttl    int
		want   error
	}{
		{"", []string{"a:b:c"}, 0, ErrAppNameRequired},
		{"okname", nil, 0, ErrAppScopesEmpty},
		{"okname", []string{"a:b:c"}, -1, ErrAppInvalidTTL},
		{"okname", []string{"a:b:c"}, 30, ErrAppInvalidTTL},
		{"Bad", []string{"a:b:c"}, 0, ErrAppInvalidName},
		{"okname", []string{"a:b"}, 0, ErrAppInvalidScope},
		{"tenant-console", []string{"a:b:c"}, 0, ErrAppDuplicate},
	} {
		if _, err := h.s.RegisterApp(tc.name, tc.scopes, tc.ttl); !errors.Is(err, tc.want) {
			t.Errorf("RegisterApp(%q, %v, %d) = %v, want %v", tc.name, tc.scopes, tc.ttl, err, tc.want)
		}
	}
	if c, err := h.s.RegisterApp("short-lived", []string{"a:b:c"}, 60); err != nil {
		t.Fatal(err)
	} else if cl := tokenClaims(t, h.appToken(c)); cl.Exp-cl.Iat != 60 {
		t.Fatal("ttl 60 not honoured")
	}
}

// §12: list newest first with timestamps; get 404; partial update; soft delete.
func TestAppListGetUpdateDelete(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	first := h.newApp("first-app", "read:data:*")
	h.clock.Advance(2 * time.Second)
	second := h.newApp("second-app", "read:data:*")

	r := h.do("GET", "/v1/admin/apps", admin, nil)
	wantStatus(t, r, 200)
	var list appListResponse
	r.decode(t, &list)
	if list.Total != 2 || len(list.Apps) != 2 || list.Apps[0].AppID != second.AppID || list.Apps[1].AppID != first.AppID {
		t.Fatalf("list %+v", list)
	}
	a := list.Apps[1]
	created := rfc3339(h.clock.Now().Add(-2 * time.Second))
	if a.Name != "first-app" || a.Status != "active" || a.ClientID != first.ClientID || a.CreatedAt != created || a.UpdatedAt != created || a.TokenTTL != 1800 {
		t.Fatalf("app %+v", a)
	}
	var raw struct {
		Apps []json.RawMessage `json:"apps"`
	}
	r.decode(t, &raw)
	if got := jsonKeys(t, raw.Apps[0]); !slices.Equal(got, []string{"app_id", "name", "client_id", "scopes", "token_ttl", "status", "created_at", "updated_at"}) {
		t.Fatalf("app keys %v", got)
	}

	r = h.do("GET", "/v1/admin/apps/"+first.AppID, admin, nil)
	wantStatus(t, r, 200)
	var got appJSON
	r.decode(t, &got)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("get %+v != list entry %+v", got, a)
	}
	wantProblem(t, h.do("GET", "/v1/admin/apps/app-nope-000000", admin, nil), 404, "not_found", "app not found")

	// PUT.
	put := func(body string) resp { return h.do("PUT", "/v1/admin/apps/"+first.AppID, admin, body) }
	wantProblem(t, put(`{}`), 400, "invalid_request", "at least one of scopes or token_ttl must be provided")
	wantProblem(t, put(`{"scopes":[]}`), 400, "invalid_request", "at least one of scopes or token_ttl must be provided")
	wantProblem(t, put(`{"scopes":"x"}`), 400, "invalid_request", "malformed JSON body")
	wantProblem(t, put(`{"scopes":["bad"]}`), 400, "invalid_request", "invalid scope format: use action:resource:identifier")
	wantProblem(t, put(`{"token_ttl":59}`), 400, "invalid_ttl", "invalid token TTL: must be between 60 and 86400 seconds, got 59")
	wantProblem(t, h.do("PUT", "/v1/admin/apps/app-nope-000000", admin, `{"scopes":["a:b:c"]}`), 404, "not_found", "app not found")
	wantProblem(t, h.do("PUT", "/v1/admin/apps/app-nope-000000", admin, `{"token_ttl":0}`), 400, "invalid_ttl", "invalid token TTL: must be between 60 and 86400 seconds, got 0")
	wantProblem(t, h.do("PUT", "/v1/admin/apps/app-nope-000000", admin, `{"token_ttl":600}`), 404, "not_found", "app not found")
	// Not atomic: the scope change sticks though the TTL part fails.
	h.clock.Advance(time.Second)
	wantProblem(t, put(`{"scopes":["write:reports:*"],"token_ttl":5}`), 400, "invalid_ttl", "invalid token TTL: must be between 60 and 86400 seconds, got 5")
	h.do("GET", "/v1/admin/apps/"+first.AppID, admin, nil).decode(t, &got)
	if !slices.Equal(got.Scopes, []string{"write:reports:*"}) || got.TokenTTL != 1800 || got.UpdatedAt != rfc3339(h.clock.Now()) || got.CreatedAt != created {
		t.Fatalf("after partial update %+v", got)
	}
	r = put(`{"token_ttl":120}`)
	wantStatus(t, r, 200)
	r.decode(t, &got)
	if got.TokenTTL != 120 || !slices.Equal(got.Scopes, []string{"write:reports:*"}) {
		t.Fatalf("after ttl update %+v", got)
	}
	upd := h.events(evAppUpdated)
	if len(upd) != 2 || upd[0].Detail != "app_id="+first.AppID+" scopes=[write:reports:*] updated_by=admin" ||
		upd[1].Detail != "app_id="+first.AppID+" token_ttl=1800->120 updated_by=admin" {
		t.Fatalf("app_updated events %+v", upd)
	}
	// New app JWTs use the new TTL; the new ceiling binds new launch tokens.
	appTok := h.appToken(first)
	if c := tokenClaims(t, appTok); c.Exp-c.Iat != 120 {
		t.Fatalf("app ttl %d", c.Exp-c.Iat)
	}
	wantStatus(t, h.do("POST", "/v1/app/launch-tokens", appTok, `{"agent_name":"a","allowed_scope":["read:data:x"]}`), 403)
	wantStatus(t, h.do("POST", "/v1/app/launch-tokens", appTok, `{"agent_name":"a","allowed_scope":["write:reports:x"]}`), 201)

	// DELETE: soft, repeatable, odd reply shape.
	r = h.do("DELETE", "/v1/admin/apps/"+first.AppID, admin, nil)
	wantStatus(t, r, 200)
	want := `{"app_id":"` + first.AppID + `","name":"","client_id":"","scopes":null,"token_ttl":0,"status":"inactive","deregistered_at":"` + rfc3339(h.clock.Now()) + `"}` + "\n"
	if string(r.Body) != want {
		t.Fatalf("delete reply\n%s\nwant\n%s", r.Body, want)
	}
	wantStatus(t, h.do("DELETE", "/v1/admin/apps/"+first.AppID, admin, nil), 200)
	wantProblem(t, h.do("DELETE", "/v1/admin/apps/app-nope-000000", admin, nil), 404, "not_found", "app not found")
	if ev := h.events(evAppDeregistered); len(ev) != 2 || ev[0].Detail != "app_id="+first.AppID+" name=first-app deregistered_by=admin" {
		t.Fatalf("app_deregistered %+v", ev)
	}
	h.do("GET", "/v1/admin/apps/"+first.AppID, admin, nil).decode(t, &got)
	if got.Status != "inactive" || got.Name != "first-app" {
		t.Fatalf("after delete %+v", got)
	}
	h.do("GET", "/v1/admin/apps", admin, nil).decode(t, &list)
	if list.Total != 2 {
		t.Fatalf("inactive app missing from list: %+v", list)
	}
	// Login refused; the earlier app JWT still creates launch tokens (parity quirk, §5).
	wantProblem(t, h.do("POST", "/v1/app/auth", "", map[string]string{"client_id": first.ClientID, "client_secret": first.ClientSecret}),
		401, "unauthorized", "Authentication failed")
	if ev := h.lastEvent(); ev.EventType != evAppAuthFailed || ev.Detail != "client_id="+first.ClientID+" reason=app_inactive" {
		t.Fatalf("event %+v", ev)
	}
	wantStatus(t, h.do("POST", "/v1/app/launch-tokens", appTok, `{"agent_name":"a","allowed_scope":["write:reports:x"]}`), 201)
}

// §12: app auth.
func TestAppAuth(t *testing.T) {
	h := newHarness(t, noLimits)
	c := h.newApp("tenant-console", "read:analytics:*")
	wantProblem(t, h.do("POST", "/v1/app/auth", "", map[string]string{"client_id": c.ClientID, "client_secret": "nope"}), 401, "unauthorized", "Authentication failed")
	wantProblem(t, h.do("POST", "/v1/app/auth", "", map[string]string{"client_id": "zz-000000000000", "client_secret": "nope"}), 401, "unauthorized", "Authentication failed")
	wantProblem(t, h.do("POST", "/v1/app/auth", "", map[string]string{"client_id": c.ClientID}), 400, "invalid_request", "client_id and client_secret are required")
	wantProblem(t, h.do("POST", "/v1/app/auth", "", `{"client_id":5}`), 400, "invalid_request", "malformed JSON body")
	fails := h.events(evAppAuthFailed)
	if len(fails) != 2 || fails[0].Detail != "client_id="+c.ClientID+" reason=wrong_secret" ||
		fails[1].Detail != "client_id=zz-000000000000 reason=unknown_client_id" || fails[0].Outcome != "denied" {
		t.Fatalf("app_auth_failed %+v", fails)
	}
	r := h.do("POST", "/v1/app/auth", "", map[string]string{"client_id": c.ClientID, "client_secret": c.ClientSecret})
	wantStatus(t, r, 200)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"access_token", "expires_in", "token_type", "scopes"}) {
		t.Fatalf("keys %v", got)
	}
	var out appLoginResponse
	r.decode(t, &out)
	if out.ExpiresIn != 1800 || out.TokenType != "Bearer" || !slices.Equal(out.Scopes, []string{"app:launch-tokens:*", "app:agents:*", "app:audit:read"}) {
		t.Fatalf("reply %+v", out)
	}
	cl := tokenClaims(t, out.AccessToken)
	if cl.Sub != "app:"+c.AppID || !slices.Equal(cl.Scope, out.Scopes) || cl.Exp-cl.Iat != 1800 || cl.TaskID != "" || cl.Aud != nil {
		t.Fatalf("claims %+v", cl)
	}
	if ev := h.lastEvent(); ev.EventType != evAppAuthenticated || ev.Detail != "client_id="+c.ClientID+" app_id="+c.AppID {
		t.Fatalf("event %+v", ev)
	}
}

// §12: burst of 3 per client_id, then 429 Retry-After 60; refill 1 per 6 s.
func TestAppAuthRateLimit(t *testing.T) {
	h := newHarness(t)
	c := h.newApp("tenant-console", "read:analytics:*")
	good := map[string]string{"client_id": c.ClientID, "client_secret": c.ClientSecret}
	wantStatus(t, h.do("POST", "/v1/app/auth", "", map[string]string{"client_id": c.ClientID, "client_secret": "bad"}), 401) // failures count
	wantStatus(t, h.do("POST", "/v1/app/auth", "", good), 200)
	wantStatus(t, h.do("POST", "/v1/app/auth", "", good), 200)
	for range 4 {
		r := h.do("POST", "/v1/app/auth", "", good)
		wantProblem(t, r, 429, "rate_limited", "rate limit exceeded, try again later")
		if ra := r.Header.Get("Retry-After"); ra != "60" {
			t.Fatalf("Retry-After = %q, want 60 (a constant)", ra)
		}
	}
	// The key is the client_id, not the address.
	other := h.newApp("other-app", "a:b:c")
	wantStatus(t, h.do("POST", "/v1/app/auth", "", map[string]string{"client_id": other.ClientID, "client_secret": other.ClientSecret}), 200)
	// Rejected requests took no token: one refill after 6 s.
	h.clock.Advance(5990 * time.Millisecond)
	wantStatus(t, h.do("POST", "/v1/app/auth", "", good), 429)
	h.clock.Advance(20 * time.Millisecond)
	wantStatus(t, h.do("POST", "/v1/app/auth", "", good), 200)
	wantStatus(t, h.do("POST", "/v1/app/auth", "", good), 429)
	// Unparseable bodies are keyed by client IP: three 400s, then 429.
	for range 3 {
		wantStatus(t, h.do("POST", "/v1/app/auth", "", `not json`), 400)
	}
	wantStatus(t, h.do("POST", "/v1/app/auth", "", `{}`), 429)
	req := newRequest("POST", "/v1/app/auth", "", `{}`)
	req.RemoteAddr = "198.51.100.1:9"
	wantStatus(t, h.serve(req), 400)
	// Rate-limited requests write no audit event.
	if n := len(h.events(evAppAuthenticated)); n != 4 {
		t.Fatalf("%d app_authenticated events, want 4", n)
	}
}

// §12: app launch tokens: ceiling first (403 forbidden), then emptiness; cross-use.
func TestLaunchTokenApp(t *testing.T) {
	h := newHarness(t, noLimits)
	admin := h.adminToken()
	c := h.newApp("tenant-console", "read:analytics:*", "write:reports:*")
	app := h.appToken(c)
	ceiling := "requested scopes exceed app ceiling; allowed: [read:analytics:* write:reports:*]"
	lt := func(tok, path, body string) resp { return h.do("POST", path, tok, body) }
	wantProblem(t, lt(app, "/v1/app/launch-tokens", `{"agent_name":"x","allowed_scope":["read:billing:bank"],"max_ttl":300,"single_use":true}`), 403, "forbidden", ceiling)
	if ev := h.lastEvent(); ev.EventType != evScopeCeilingExceeded || ev.AgentID != "app:"+c.AppID || ev.Outcome != "denied" ||
		ev.Detail != "app="+c.AppID+" requested=[read:billing:bank] ceiling=[read:analytics:* write:reports:*]" {
		t.Fatalf("event %+v", ev)
	}
	wantProblem(t, lt(app, "/v1/app/launch-tokens", `{"allowed_scope":["read:billing:bank"]}`), 403, "forbidden", ceiling)
	wantProblem(t, lt(app, "/v1/app/launch-tokens", `{"allowed_scope":["*:*:*"]}`), 403, "forbidden", ceiling)
	wantProblem(t, lt(app, "/v1/app/launch-tokens", `{"agent_name":"x","allowed_scope":[]}`), 400, "invalid_request", "allowed_scope must not be empty")
	if ev := h.lastEvent(); ev.EventType != evLaunchTokenDenied || ev.AgentID != "app:"+c.AppID ||
		ev.Detail != "launch token denied for agent=x by=app:"+c.AppID+" reason=allowed_scope must not be empty" {
		t.Fatalf("event %+v", ev)
	}
	wantProblem(t, lt(app, "/v1/app/launch-tokens", `{"agent_name":"x"}`), 400, "invalid_request", "allowed_scope must not be empty")
	wantProblem(t, lt(app, "/v1/app/launch-tokens", `{"allowed_scope":["read:analytics:x"]}`), 400, "invalid_request", "agent_name is required")
	wantProblem(t, lt(app, "/v1/app/launch-tokens", `{"agent_name":7}`), 400, "invalid_request", "malformed JSON body")
	wantProblem(t, lt(admin, "/v1/app/launch-tokens", `{"agent_name":"x","allowed_scope":["read:analytics:bank"]}`), 403, "insufficient_scope", "token lacks required scope: app:launch-tokens:*")
	if ev := h.lastEvent(); ev.EventType != evScopeViolation || ev.AgentID != "admin" || ev.Resource != "/v1/app/launch-tokens" ||
		ev.Detail != "scope_violation | required=app:launch-tokens:* | actual=admin:launch-tokens:*,admin:revoke:*,admin:audit:* | path=/v1/app/launch-tokens" {
		t.Fatalf("event %+v", ev)
	}
	ghost, _ := h.s.mint(claims{Sub: "app:app-ghost-000000", Scope: appScopes}, 60)
	wantProblem(t, lt(ghost, "/v1/app/launch-tokens", `{"agent_name":"x","allowed_scope":["a:b:c"]}`), 403, "forbidden", "app not found")
	wantProblem(t, lt(app, "/v1/admin/launch-tokens", `{"agent_name":"x","allowed_scope":["read:analytics:bank"]}`), 403, "insufficient_scope", "token lacks required scope: admin:launch-tokens:*")

	r := lt(app, "/v1/app/launch-tokens", `{"agent_name":"nightly-pipeline/etl-hospital","allowed_scope":["read:analytics:hospital","write:reports:hospital"],"max_ttl":300,"single_use":true}`)
	wantStatus(t, r, 201)
	if ev := h.lastEvent(); ev.EventType != evLaunchTokenIssued ||
		ev.Detail != "launch token issued for agent=nightly-pipeline/etl-hospital scope=[read:analytics:hospital write:reports:hospital] max_ttl=300 created_by=app:"+c.AppID+" app_id="+c.AppID {
		t.Fatalf("event %+v", ev)
	}
	var out launchTokenResponse
	r.decode(t, &out)
	a := h.register(out.LaunchToken, "nightly-pipeline", "etl-hospital", "read:analytics:hospital")
	reg := h.events(evAgentRegistered)
	if len(reg) != 1 || reg[0].Detail != "Agent registered with scope [read:analytics:hospital] app_id="+c.AppID || reg[0].AgentID != a.ID {
		t.Fatalf("agent_registered %+v", reg)
	}
	if h.s.agents[a.ID].appID != c.AppID {
		t.Fatal("agent record lacks the app id")
	}
}

// §12: launch-token defaults; the admin route checks neither ceiling nor format.
func TestLaunchTokenDefaults(t *testing.T) {
	h := newHarness(t)
	admin := h.adminToken()
	r := h.do("POST", "/v1/admin/launch-tokens", admin, `{"agent_name":"a","allowed_scope":["bad","*:*:*","read:data:x"]}`)
	wantStatus(t, r, 201)
	if got := jsonKeys(t, r.Body); !slices.Equal(got, []string{"launch_token", "expires_at", "policy"}) {
		t.Fatalf("keys %v", got)
	}
	var out launchTokenResponse
	r.decode(t, &out)
	if !reHex64.MatchString(out.LaunchToken) || out.Policy.MaxTTL != 300 || out.ExpiresAt != "2026-11-26T20:00:30Z" ||
		!slices.Equal(out.Policy.AllowedScope, []string{"bad", "*:*:*", "read:data:x"}) {
		t.Fatalf("reply %+v", out)
	}
	if ev := h.lastEvent(); ev.Detail != "launch token issued for agent=a scope=[bad *:*:* read:data:x] max_ttl=300 created_by=admin" {
		t.Fatalf("event %+v", ev)
	}
	// single_use defaults to true; agent TTL defaults to 300.
	a := h.register(out.LaunchToken, "o", "t", "read:data:x")
	if a.ExpiresIn != 300 {
		t.Fatalf("expires_in %d", a.ExpiresIn)
	}
	wantProblem(t, h.do("POST", "/v1/register", "", registerBody(t, out.LaunchToken, h.challenge(), newKey(t), "o", "t", []string{"read:data:x"})),
		401, "unauthorized", "launch token: launch token already consumed")
	// Explicit values; ≤0 falls back to the defaults.
	r = h.do("POST", "/v1/admin/launch-tokens", admin, `{"agent_name":"a","allowed_scope":["read:data:x"],"max_ttl":-3,"ttl":90,"single_use":false}`)
	r.decode(t, &out)
	if out.Policy.MaxTTL != 300 || out.ExpiresAt != "2026-11-26T20:01:30Z" {
		t.Fatalf("reply %+v", out)
	}
	for range 3 { // single_use false: any number of agents until expiry
		h.register(out.LaunchToken, "o", "t", "read:data:x")
	}
	r = h.do("POST", "/v1/admin/launch-tokens", admin, `{"agent_name":"a","allowed_scope":["read:data:x"],"ttl":0}`)
	r.decode(t, &out)
	if out.ExpiresAt != "2026-11-26T20:00:30Z" {
		t.Fatalf("expires_at %s (creation 20:00:00.287, truncated)", out.ExpiresAt)
	}
	// The launch token really lives until creation + 30 s, which is later than the truncated expires_at.
	h.clock.Advance(30 * time.Second)
	h.register(out.LaunchToken, "o", "t", "read:data:x")
}

// Every issued TTL ≤0 becomes 300 and is clamped to the global maximum (§3).
func TestTTLClamps(t *testing.T) {
	t.Run("default max 86400", func(t *testing.T) {
		h := newHarness(t)
		admin := h.adminToken()
		a := h.register(h.adminLaunch(admin, []string{"r:d:*"}, map[string]any{"max_ttl": 100000}), "o", "t", "r:d:*")
		if a.ExpiresIn != 86400 {
			t.Fatalf("expires_in %d", a.ExpiresIn)
		}
		if c := tokenClaims(t, a.Token); c.Exp-c.Iat != 86400 {
			t.Fatalf("exp-iat %d", c.Exp-c.Iat)
		}
		r := h.delegate(a.Token, a.ID, []string{"r:d:x"}, 90000)
		var d delegateResponse
		r.decode(t, &d)
		if d.ExpiresIn != 86400 {
			t.Fatalf("delegated expires_in %d", d.ExpiresIn)
		}
	})
	t.Run("configured max", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.MaxTTL = 100; c.AdminTokenTTL = 500 })
		admin := h.adminToken()
		if c := tokenClaims(t, admin); c.Exp-c.Iat != 100 {
			t.Fatalf("admin ttl %d", c.Exp-c.Iat)
		}
		if a := h.register(h.adminLaunch(admin, []string{"r:d:*"}, map[string]any{"max_ttl": 500}), "o", "t", "r:d:*"); a.ExpiresIn != 100 {
			t.Fatalf("expires_in %d", a.ExpiresIn)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.MaxTTL = -1 })
		admin := h.adminToken()
		if a := h.register(h.adminLaunch(admin, []string{"r:d:*"}, map[string]any{"max_ttl": 10_000_000}), "o", "t", "r:d:*"); a.ExpiresIn != 10_000_000 {
			t.Fatalf("expires_in %d", a.ExpiresIn)
		}
	})
}
