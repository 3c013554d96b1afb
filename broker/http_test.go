package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// jsonEndpoints lists every route that parses a JSON body, with the token
// kind it needs to get past the pipeline.
var jsonEndpoints = []struct {
	method, path, auth string
}{
	{"POST", "/v1/register", ""},
	{"POST", "/v1/token/validate", ""},
	{"POST", "/v1/delegate", "agent"},
	{"POST", "/v1/revoke", "admin"},
	{"POST", "/v1/admin/auth", ""},
	{"POST", "/v1/app/auth", ""},
	{"POST", "/v1/admin/launch-tokens", "admin"},
	{"POST", "/v1/app/launch-tokens", "app"},
	{"POST", "/v1/admin/apps", "admin"},
	{"PUT", "/v1/admin/apps/{id}", "admin"},
}

type tokens struct {
	admin, app, appID string
	agent             testAgent
}

func (h *harness) tokens() tokens {
	h.t.Helper()
	admin := h.adminToken()
	c := h.newApp("fixture-app", "read:data:*", "write:data:*")
	return tokens{admin: admin, app: h.appToken(c), appID: c.AppID, agent: h.agent(admin, "o", "t", "read:data:*")}
}

func (tk tokens) pick(kind string) string {
	switch kind {
	case "admin":
		return tk.admin
	case "app":
		return tk.app
	case "agent":
		return tk.agent.Token
	}
	return ""
}

// §12: malformed JSON → 400 "malformed JSON body" on every JSON endpoint.
// Trailing data after a valid value is covered by TestTrailingJSON.
func TestMalformedJSONEveryEndpoint(t *testing.T) {
	h := newHarness(t, noLimits)
	tk := h.tokens()
	bodies := map[string]string{
		"empty":        ``,
		"whitespace":   " \n\t",
		"truncated":    `{"a":`,
		"array":        `[]`,
		"string":       `"x"`,
		"number":       `42`,
		"not json":     `secret=x`,
		"wrong types":  `{"launch_token":1,"token":2,"delegate_to":3,"level":4,"secret":5,"client_id":6,"client_secret":7,"agent_name":8,"name":9,"scopes":10}`,
		"nested wrong": `{"requested_scope":[1],"scope":[true],"allowed_scope":{},"token_ttl":"60","token":[],"level":{},"secret":[],"client_secret":false}`,
	}
	for _, ep := range jsonEndpoints {
		path := strings.Replace(ep.path, "{id}", tk.appID, 1)
		for name, body := range bodies {
			t.Run(ep.path+"/"+name, func(t *testing.T) {
				r := h.do(ep.method, path, tk.pick(ep.auth), body)
				wantProblem(t, r, 400, "invalid_request", "malformed JSON body")
			})
		}
	}
}

// Unknown fields are ignored everywhere.
func TestUnknownFieldsIgnored(t *testing.T) {
	h := newHarness(t, noLimits)
	r := h.do("POST", "/v1/admin/auth", "", `{"secret":"`+testSecret+`","extra":{"deep":[1,2,3]},"Other":null}`)
	wantStatus(t, r, 200)
	var out loginResponse
	r.decode(t, &out)
	wantStatus(t, h.do("POST", "/v1/admin/launch-tokens", out.AccessToken, `{"agent_name":"a","allowed_scope":["r:d:x"],"colour":"blue"}`), 201)
}

// §12: body > 1 MiB → 413 payload_too_large, without the security headers.
func TestBodyLimit(t *testing.T) {
	h := newHarness(t, noLimits)
	tk := h.tokens()
	big := `{"token":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	for _, ep := range append(jsonEndpoints, struct{ method, path, auth string }{"GET", "/v1/health", ""}, struct{ method, path, auth string }{"POST", "/v1/nowhere", ""}) {
		path := strings.Replace(ep.path, "{id}", tk.appID, 1)
		r := h.do(ep.method, path, tk.pick(ep.auth), big)
		wantProblem(t, r, 413, "payload_too_large", "request body must not exceed 1 MB")
		var p problem
		r.decode(t, &p)
		if p.Title != "Request Entity Too Large" || p.Instance != path {
			t.Fatalf("problem %+v", p)
		}
		// Parity: the real broker's 413 lacks the three security headers but keeps X-Request-ID (§4).
		if r.Header.Get("Cache-Control") != "" || r.Header.Get("X-Frame-Options") != "" || r.Header.Get("X-Content-Type-Options") != "" {
			t.Fatalf("%s: 413 carries security headers %v", path, r.Header)
		}
		if !reHex16.MatchString(r.Header.Get("X-Request-ID")) {
			t.Fatal("413 without X-Request-ID")
		}
	}
	// Exactly 1 MiB is accepted by the limiter (and then judged by the handler).
	exact := `{"token":"` + strings.Repeat("a", maxBodyBytes-len(`{"token":""}`)) + `"}`
	if len(exact) != maxBodyBytes {
		t.Fatal(len(exact))
	}
	r := h.do("POST", "/v1/token/validate", "", exact)
	wantStatus(t, r, 200)
	// Pipeline failures are no longer masked once the body is small.
	wantProblem(t, h.do("POST", "/v1/revoke", "", `{}`), 401, "unauthorized", "missing authorization header")
}

// Unknown paths and wrong methods are the router's plain-text 404/405.
func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/v1/nope", 404, ""},
		{"GET", "/", 404, ""},
		{"GET", "/v1/admin/apps/", 404, ""},
		{"GET", "/v1/register", 405, "POST"},
		{"POST", "/v1/health", 405, "GET, HEAD"},
		{"PUT", "/v1/admin/apps", 405, "GET, HEAD, POST"},
		{"POST", "/v1/admin/apps/x", 405, "DELETE, GET, HEAD, PUT"},
	} {
		r := h.do(tc.method, tc.path, "", nil)
		wantStatus(t, r, tc.code)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, ct)
		}
		if got := r.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
		if json.Valid(r.Body) {
			t.Errorf("%s %s: body is JSON: %s", tc.method, tc.path, r.Body)
		}
	}
}

func TestMetricsAndChallenge(t *testing.T) {
	h := newHarness(t)
	h.adminToken()
	r := h.do("GET", "/v1/metrics", "", nil)
	wantStatus(t, r, 200)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") || !strings.Contains(string(r.Body), "agentwrit_audit_events_total 1\n") {
		t.Fatalf("metrics %q", r.Body)
	}
	r = h.do("GET", "/v1/challenge", "", nil)
	if string(r.Body) == "" || !strings.HasSuffix(string(r.Body), `,"expires_in":30}`+"\n") {
		t.Fatalf("challenge %s", r.Body)
	}
	a, b := h.challenge(), h.challenge()
	if a == b {
		t.Fatal("nonces repeat")
	}
	// Expired nonces are dropped by the next challenge.
	for range 1100 {
		h.challenge()
	}
	h.clock.Advance(31 * time.Second)
	h.challenge()
	if n := h.s.nonces.len(); n != 1 {
		t.Fatalf("%d nonces kept, want 1", n)
	}
}

// Start serves on loopback until Close or ctx cancellation.
func TestStart(t *testing.T) {
	s, err := New(Config{AdminSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	run, err := Start(t.Context(), s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(run.URL, "http://127.0.0.1:") || run.URL != "http://"+run.Addr {
		t.Fatalf("URL %q Addr %q", run.URL, run.Addr)
	}
	res, err := http.Get(run.URL + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"version":"2.0.0"`) || !strings.Contains(string(body), `"db_connected":false`) {
		t.Fatalf("health %d %s", res.StatusCode, body)
	}
	if err := run.Close(); err != nil {
		t.Fatal(err)
	}
	if err := run.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := http.Get(run.URL + "/v1/health"); err == nil {
		t.Fatal("still serving after Close")
	}

	ctx, cancel := context.WithCancel(t.Context())
	run, err = Start(ctx, s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := run.Close(); err != nil { // waits for the ctx-triggered shutdown
		t.Fatal(err)
	}
	if _, err := Start(t.Context(), s, "256.0.0.1:1"); err == nil {
		t.Fatal("bad address accepted")
	}
}

// ParityException: admin secrets are compared in constant time without
// bcrypt, so logins are fast and 11 back-to-back admin logins from one
// address get a 429, which the slow bcrypt check of the real broker rarely
// allows to happen (§6). Clients must not depend on either.
func TestParityExceptionFastAdminLogin(t *testing.T) {
	h := newHarness(t)
	for range 10 {
		wantStatus(t, h.do("POST", "/v1/admin/auth", "", map[string]string{"secret": testSecret}), 200)
	}
	wantStatus(t, h.do("POST", "/v1/admin/auth", "", map[string]string{"secret": testSecret}), 429)
}

// readAll reads the whole body whatever length was announced: exact,
// short, long, unknown or none.
func TestReadAllAnyAnnouncedLength(t *testing.T) {
	body := strings.Repeat("x", 1500)
	for _, length := range []int64{-1, 0, 1, 511, 512, 1499, 1500, 1501, 4096, maxBodyBytes + 1} {
		got, err := readAll(strings.NewReader(body), length)
		if err != nil || string(got) != body {
			t.Fatalf("announced %d: read %d bytes, err %v; want all 1500", length, len(got), err)
		}
	}
	rb := &readBody{Reader: bytes.NewReader([]byte(`{"a":1}`)), buf: []byte(`{"a":1}`)}
	one := make([]byte, 2)
	if _, err := rb.Read(one); err != nil {
		t.Fatal(err)
	}
	if rest := string(rb.unread()); rest != `a":1}` {
		t.Fatalf("unread after 2 bytes read: %q", rest)
	}
	if n, _ := rb.Read(one); n != 0 || len(rb.unread()) != 0 {
		t.Fatal("the body can be read again after unread")
	}
}

// A validate body in our client's exact form is read without a decoder;
// every other form still goes through the decoder, with the same answers.
func TestValidateTokenBodyForms(t *testing.T) {
	h := newHarness(t)
	tok, _ := h.s.mint(claims{Sub: "spiffe://agentwrit.local/agent/o/t/1", Scope: []string{"read:data:x"}}, 60)
	for _, c := range []struct {
		body      string
		fast      bool
		wantValid bool
		wantCode  int
	}{
		{`{"token":"` + tok + `"}`, true, true, 200},
		{`{"token": "` + tok + `"}`, false, true, 200},
		{`{"token":"` + tok + `"} trailing`, false, true, 200},
		{`{"token":"` + tok + `","x":1}`, false, true, 200},
		{`{"Token":"` + tok + `"}`, false, true, 200},
		{`{"token":"` + tok[:10] + `\u0041"}`, false, false, 200},
		{`{"token":"not-a-token"}`, true, false, 200},
		{`{"token":""}`, false, false, 400},
		{`{"token":"a"`, false, false, 400},
	} {
		req, _ := http.NewRequest(http.MethodPost, "/v1/token/validate", strings.NewReader(c.body))
		buf := []byte(c.body)
		req.Body = &readBody{Reader: bytes.NewReader(buf), buf: buf}
		if _, fast := tokenBody(req); fast != c.fast {
			t.Errorf("%s: read without a decoder: %v, want %v", c.body, fast, c.fast)
		}
		r := h.do(http.MethodPost, "/v1/token/validate", "", c.body)
		if r.Code != c.wantCode {
			t.Errorf("%s: status %d, want %d", c.body, r.Code, c.wantCode)
			continue
		}
		if c.wantCode == 200 {
			var v validateResponse
			if err := json.Unmarshal(r.Body, &v); err != nil || v.Valid != c.wantValid {
				t.Errorf("%s: valid %v (%v), want %v", c.body, v.Valid, err, c.wantValid)
			}
		}
	}
}
