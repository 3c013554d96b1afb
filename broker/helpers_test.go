package broker

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenantui/tenantui/internal/fakeclock"
)

const testSecret = "dev-secret-dev-secret-1234567890"

var (
	reHex16   = regexp.MustCompile(`^[0-9a-f]{16}$`)
	reHex32   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	reHex64   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	reHex128  = regexp.MustCompile(`^[0-9a-f]{128}$`)
	reSPIFFE  = regexp.MustCompile(`^spiffe://agentwrit\.local/agent/([^/]+)/([^/]+)/([0-9a-f]{16})$`)
	reAppID   = regexp.MustCompile(`^app-tenant-console-[0-9a-f]{6}$`)
	reClient  = regexp.MustCompile(`^tc-[0-9a-f]{12}$`)
	reEventID = regexp.MustCompile(`^evt-\d{6}$`)
)

// newFakeClock is a settable clock shared by the server and the test.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 11, 26, 20, 0, 0, 287835008, time.UTC))
}

// harness drives a Server through its handler with httptest.
type harness struct {
	t     testing.TB
	s     *Server
	clock *fakeclock.Clock
	h     http.Handler
}

func newHarness(t testing.TB, mods ...func(*Config)) *harness {
	t.Helper()
	clock := newFakeClock()
	cfg := Config{AdminSecret: testSecret, Now: clock.Now}
	for _, m := range mods {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, s: s, clock: clock, h: s.Handler()}
}

func noLimits(c *Config) { c.DisableRateLimits = true }

type resp struct {
	Path   string // request path without query
	Code   int
	Header http.Header
	Body   []byte
}

func (r resp) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.Body, err)
	}
	return m
}

func (r resp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// newRequest builds a request; body may be nil, a string, []byte or a value to marshal.
func newRequest(method, path, token string, body any) *http.Request {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func (h *harness) serve(req *http.Request) resp {
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return resp{Path: req.URL.Path, Code: rec.Code, Header: rec.Result().Header, Body: rec.Body.Bytes()}
}

func (h *harness) do(method, path, token string, body any) resp {
	return h.serve(newRequest(method, path, token, body))
}

// wantProblem checks a problem+json reply field by field (§4).
func wantProblem(t testing.TB, r resp, status int, code, detail string) {
	t.Helper()
	if r.Code != status {
		t.Fatalf("status = %d, want %d; body %s", r.Code, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problem
	r.decode(t, &p)
	want := problem{Type: "urn:agentwrit:error:" + code, Title: http.StatusText(status), Status: status,
		Detail: detail, ErrorCode: code, RequestID: r.Header.Get("X-Request-ID")}
	if r.Path != "" {
		want.Instance = r.Path
	} else {
		want.Instance = p.Instance
	}
	if p != want {
		t.Fatalf("problem = %+v\nwant      %+v", p, want)
	}
	if p.RequestID == "" {
		t.Fatal("problem without request_id")
	}
}

func wantStatus(t testing.TB, r resp, status int) {
	t.Helper()
	if r.Code != status {
		t.Fatalf("status = %d, want %d; body %s", r.Code, status, r.Body)
	}
}

func (h *harness) adminToken() string {
	h.t.Helper()
	r := h.do("POST", "/v1/admin/auth", "", map[string]string{"secret": testSecret})
	wantStatus(h.t, r, 200)
	var out loginResponse
	r.decode(h.t, &out)
	return out.AccessToken
}

func (h *harness) newApp(name string, scopes ...string) AppCredentials {
	h.t.Helper()
	c, err := h.s.RegisterApp(name, scopes, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) appToken(c AppCredentials) string {
	h.t.Helper()
	r := h.do("POST", "/v1/app/auth", "", map[string]string{"client_id": c.ClientID, "client_secret": c.ClientSecret})
	wantStatus(h.t, r, 200)
	var out appLoginResponse
	r.decode(h.t, &out)
	return out.AccessToken
}

// launch creates a launch token on the route matching the caller token kind.
func (h *harness) launch(path, token string, body map[string]any) string {
	h.t.Helper()
	if _, ok := body["agent_name"]; !ok {
		body["agent_name"] = "test-agent"
	}
	r := h.do("POST", path, token, body)
	wantStatus(h.t, r, 201)
	var out launchTokenResponse
	r.decode(h.t, &out)
	return out.LaunchToken
}

func (h *harness) adminLaunch(admin string, scopes []string, extra map[string]any) string {
	h.t.Helper()
	body := map[string]any{"allowed_scope": scopes}
	for k, v := range extra {
		body[k] = v
	}
	return h.launch("/v1/admin/launch-tokens", admin, body)
}

func (h *harness) challenge() string {
	h.t.Helper()
	r := h.do("GET", "/v1/challenge", "", nil)
	wantStatus(h.t, r, 200)
	var out challengeResponse
	r.decode(h.t, &out)
	return out.Nonce
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// signNonce signs the hex-decoded nonce and base64s (std, padded) the result.
func signNonce(t testing.TB, priv ed25519.PrivateKey, nonceHex string) string {
	raw, err := hex.DecodeString(nonceHex)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, raw))
}

func pubB64(priv ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
}

func registerBody(t testing.TB, lt, nonce string, priv ed25519.PrivateKey, orch, task string, scopes []string) map[string]any {
	return map[string]any{
		"launch_token": lt, "nonce": nonce, "public_key": pubB64(priv), "signature": signNonce(t, priv, nonce),
		"orch_id": orch, "task_id": task, "requested_scope": scopes,
	}
}

type testAgent struct {
	ID, Token string
	ExpiresIn int
}

// register performs challenge + register with a fresh key and expects 200.
func (h *harness) register(lt, orch, task string, scopes ...string) testAgent {
	h.t.Helper()
	r := h.do("POST", "/v1/register", "", registerBody(h.t, lt, h.challenge(), newKey(h.t), orch, task, scopes))
	wantStatus(h.t, r, 200)
	var out registerResponse
	r.decode(h.t, &out)
	return testAgent{ID: out.AgentID, Token: out.AccessToken, ExpiresIn: out.ExpiresIn}
}

// agent registers an agent through an admin launch token.
func (h *harness) agent(admin, orch, task string, scopes ...string) testAgent {
	h.t.Helper()
	return h.register(h.adminLaunch(admin, scopes, nil), orch, task, scopes...)
}

func (h *harness) delegate(token, to string, scopes []string, ttl int) resp {
	body := map[string]any{"delegate_to": to, "scope": scopes}
	if ttl != 0 {
		body["ttl"] = ttl
	}
	return h.do("POST", "/v1/delegate", token, body)
}

func (h *harness) valid(token string) bool {
	h.t.Helper()
	r := h.do("POST", "/v1/token/validate", "", map[string]string{"token": token})
	wantStatus(h.t, r, 200)
	var out struct {
		Valid bool   `json:"valid"`
		Error string `json:"error"`
	}
	r.decode(h.t, &out)
	if !out.Valid && out.Error != "token is invalid or expired" {
		h.t.Fatalf("invalid reply error = %q", out.Error)
	}
	return out.Valid
}

// decodeJWT splits a token into its raw header and payload JSON.
func decodeJWT(t testing.TB, tok string) (header, payload []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	var err error
	if header, err = base64.RawURLEncoding.DecodeString(parts[0]); err != nil {
		t.Fatal(err)
	}
	if payload, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
		t.Fatal(err)
	}
	return header, payload
}

func tokenClaims(t testing.TB, tok string) claims {
	t.Helper()
	_, p := decodeJWT(t, tok)
	var c claims
	if err := json.Unmarshal(p, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// jsonKeys returns the top-level keys of a JSON object in document order.
func jsonKeys(t testing.TB, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// events returns the server's audit events of one type.
func (h *harness) events(eventType string) []AuditEvent {
	var out []AuditEvent
	for _, e := range h.s.AuditEvents() {
		if e.EventType == eventType {
			out = append(out, e)
		}
	}
	return out
}

func (h *harness) lastEvent() AuditEvent {
	ev := h.s.AuditEvents()
	if len(ev) == 0 {
		h.t.Fatal("no audit events")
	}
	return ev[len(ev)-1]
}
