package agentwrit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantui/tenantui/scope"
)

// fakeBroker implements just enough of the broker for agent tests: app
// login, app launch tokens, challenge, register (verifying the signature
// over the hex-decoded nonce and the padded base64), renew, release and
// delegate. It is strict where the client could get the wire format wrong.
type fakeBroker struct {
	t *testing.T

	// grant, if set, decides the scope put in an agent token.
	grant func(requested []string) []string

	mu          sync.Mutex
	launches    map[string]fakeLaunch // launch token -> policy
	nonces      map[string]bool       // nonce -> consumed
	agents      map[string]bool       // registered SPIFFE IDs
	dead        map[string]bool       // revoked jti
	launchBody  []map[string]any
	registered  []RegisterRequest
	releases    int
	renewBearer []string
	seq         int
}

type fakeLaunch struct {
	scope  []string
	maxTTL int
	used   bool
}

const fakeAppToken = "fake-app-token"

func newFakeBroker(t *testing.T) (*fakeBroker, *httptest.Server) {
	fb := &fakeBroker{t: t, launches: map[string]fakeLaunch{}, nonces: map[string]bool{},
		agents: map[string]bool{}, dead: map[string]bool{}}
	srv := httptest.NewServer(fb)
	t.Cleanup(srv.Close)
	return fb, srv
}

func (fb *fakeBroker) hex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (fb *fakeBroker) mint(c Claims) string {
	now := time.Now().Unix()
	c.Iat, c.Nbf = now, now
	c.JTI = fb.hex(16)
	return mintJWT(fb.t, c)
}

// bearer returns the live claims of the request's bearer token.
func (fb *fakeBroker) bearer(w http.ResponseWriter, r *http.Request) (Claims, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		writeProblem(w, r, 401, CodeUnauthorized, "invalid authorization scheme")
		return Claims{}, false
	}
	c, err := ParseClaims(tok)
	if err != nil || fb.dead[c.JTI] || c.Exp < time.Now().Unix() {
		writeProblem(w, r, 401, CodeUnauthorized, "token verification failed")
		return Claims{}, false
	}
	return c, true
}

func (fb *fakeBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	var body map[string]any
	if r.Body != nil {
		_ = json.NewDecoder(r.Body).Decode(&body)
	}
	strs := func(k string) []string {
		var out []string
		l, _ := body[k].([]any)
		for _, v := range l {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	str := func(k string) string { s, _ := body[k].(string); return s }

	switch r.Method + " " + r.URL.Path {
	case "POST /v1/app/auth":
		writeJSON(w, 200, map[string]any{"access_token": fakeAppToken, "expires_in": 1800, "token_type": "Bearer"})

	case "POST /v1/app/launch-tokens":
		if r.Header.Get("Authorization") != "Bearer "+fakeAppToken {
			writeProblem(w, r, 401, CodeUnauthorized, "token verification failed")
			return
		}
		fb.launchBody = append(fb.launchBody, body)
		if !scope.IsSubset(strs("allowed_scope"), []string{"read:analytics:*", "write:reports:*"}) {
			writeProblem(w, r, 403, CodeForbidden, "requested scopes exceed app ceiling; allowed: [read:analytics:* write:reports:*]")
			return
		}
		maxTTL, _ := body["max_ttl"].(float64)
		if maxTTL <= 0 {
			maxTTL = 300
		}
		lt := fb.hex(32)
		fb.launches[lt] = fakeLaunch{scope: strs("allowed_scope"), maxTTL: int(maxTTL)}
		writeJSON(w, 201, map[string]any{"launch_token": lt, "expires_at": time.Now().Add(30 * time.Second).UTC().Format(time.RFC3339),
			"policy": map[string]any{"allowed_scope": strs("allowed_scope"), "max_ttl": int(maxTTL)}})

	case "GET /v1/challenge":
		n := fb.hex(32)
		fb.nonces[n] = false
		writeJSON(w, 200, map[string]any{"nonce": n, "expires_in": 30})

	case "POST /v1/register":
		var req RegisterRequest
		b, _ := json.Marshal(body)
		_ = json.Unmarshal(b, &req)
		fb.registered = append(fb.registered, req)
		lt, ok := fb.launches[req.LaunchToken]
		switch {
		case !ok:
			writeProblem(w, r, 401, CodeUnauthorized, "launch token: launch token not found")
			return
		case lt.used:
			writeProblem(w, r, 401, CodeUnauthorized, "launch token: launch token already consumed")
			return
		case !scope.IsSubset(req.RequestedScope, lt.scope):
			writeProblem(w, r, 403, CodeScopeViolation, "requested scope exceeds allowed scope")
			return
		}
		used, ok := fb.nonces[req.Nonce]
		if !ok || used {
			writeProblem(w, r, 401, CodeUnauthorized, "nonce: nonce not found or expired")
			return
		}
		fb.nonces[req.Nonce] = true
		// The key and the signature must be standard base64 *with padding*.
		pub, err := base64.StdEncoding.DecodeString(req.PublicKey)
		if err != nil || len(req.PublicKey) != 44 || !strings.HasSuffix(req.PublicKey, "=") || len(pub) != ed25519.PublicKeySize {
			writeProblem(w, r, 401, CodeUnauthorized, "invalid Ed25519 public key: wrong key size")
			return
		}
		sig, err := base64.StdEncoding.DecodeString(req.Signature)
		if err != nil || len(req.Signature) != 88 || !strings.HasSuffix(req.Signature, "==") {
			writeProblem(w, r, 401, CodeUnauthorized, "nonce signature verification failed: base64 decode failed")
			return
		}
		// Signed over the 32 bytes the nonce's hex stands for, not its text.
		raw, _ := hex.DecodeString(req.Nonce)
		if !ed25519.Verify(pub, raw, sig) {
			writeProblem(w, r, 401, CodeUnauthorized, "nonce signature verification failed")
			return
		}
		lt.used = true
		fb.launches[req.LaunchToken] = lt
		id := fmt.Sprintf("spiffe://agentwrit.local/agent/%s/%s/%s", req.OrchID, req.TaskID, fb.hex(8))
		fb.agents[id] = true
		granted := req.RequestedScope
		if fb.grant != nil {
			granted = fb.grant(granted)
		}
		tok := fb.mint(Claims{Sub: id, Scope: granted, TaskID: req.TaskID, OrchID: req.OrchID,
			Exp: time.Now().Unix() + int64(lt.maxTTL)})
		writeJSON(w, 200, map[string]any{"agent_id": id, "access_token": tok, "expires_in": lt.maxTTL})

	case "POST /v1/token/renew":
		c, ok := fb.bearer(w, r)
		if !ok {
			return
		}
		fb.renewBearer = append(fb.renewBearer, r.Header.Get("Authorization"))
		fb.dead[c.JTI] = true
		ttl := c.Exp - c.Iat
		c.Exp = time.Now().Unix() + ttl
		writeJSON(w, 200, map[string]any{"access_token": fb.mint(c), "expires_in": ttl})

	case "POST /v1/token/release":
		c, ok := fb.bearer(w, r)
		if !ok {
			return
		}
		fb.releases++
		fb.dead[c.JTI] = true
		w.WriteHeader(http.StatusNoContent)

	case "POST /v1/delegate":
		c, ok := fb.bearer(w, r)
		if !ok {
			return
		}
		if !scope.IsSubset(strs("scope"), c.Scope) {
			writeProblem(w, r, 403, CodeScopeViolation, "delegated scope exceeds delegator scope")
			return
		}
		to := str("delegate_to")
		if !fb.agents[to] {
			writeProblem(w, r, 404, CodeNotFound, "delegate agent not found")
			return
		}
		ttl, _ := body["ttl"].(float64)
		if ttl <= 0 {
			ttl = 60
		}
		chain := append(c.DelegationChain, DelegationRecord{Agent: c.Sub, Scope: c.Scope,
			DelegatedAt: time.Now().UTC().Format(time.RFC3339Nano), Signature: fb.hex(64)})
		tok := fb.mint(Claims{Sub: to, Scope: strs("scope"), TaskID: c.TaskID, OrchID: c.OrchID,
			Exp: time.Now().Unix() + int64(ttl), DelegationChain: chain, ChainHash: ChainHash(chain)})
		writeJSON(w, 200, map[string]any{"access_token": tok, "expires_in": int(ttl), "delegation_chain": chain})

	default:
		http.NotFound(w, r)
	}
}

func (fb *fakeBroker) app(t *testing.T, url string) *App {
	a, err := NewApp(url, "tc-cad3ae1a6290", "app-secret-app-secret-app-secret")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var (
	hospitalScope = []string{"read:analytics:hospital", "write:reports:hospital"}
	jtiRE         = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func TestCreateAgent(t *testing.T) {
	fb, srv := newFakeBroker(t)
	a := fb.app(t, srv.URL)
	before := time.Now().Unix()
	g, err := a.CreateAgent(context.Background(), "nightly-pipeline", "etl-hospital", hospitalScope, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.ID(), "spiffe://agentwrit.local/agent/nightly-pipeline/etl-hospital/") {
		t.Errorf("ID = %s", g.ID())
	}
	if g.OrchID() != "nightly-pipeline" || g.TaskID() != "etl-hospital" || !jtiRE.MatchString(g.JTI()) {
		t.Errorf("agent = %v", g)
	}
	if got := g.Scope(); strings.Join(got, " ") != strings.Join(hospitalScope, " ") {
		t.Errorf("Scope = %v", got)
	}
	if iat := g.IssuedAt().Unix(); iat < before || g.ExpiresAt().Unix() != iat+300 {
		t.Errorf("iat %v exp %v", g.IssuedAt(), g.ExpiresAt())
	}
	if c := g.Claims(); c.Sub != g.ID() || c.JTI != g.JTI() || g.Token() == "" || g.Released() {
		t.Errorf("claims = %+v", c)
	}
	if !g.Covers("read:analytics:hospital") || g.Covers("read:analytics:bank") {
		t.Error("Covers disagrees with the granted scope")
	}
	// The launch token request is exactly what §9 prescribes.
	want := map[string]any{"agent_name": "nightly-pipeline/etl-hospital",
		"allowed_scope": []any{"read:analytics:hospital", "write:reports:hospital"}, "max_ttl": 300.0, "single_use": true}
	if got := fb.launchBody[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("launch body = %v, want %v", got, want)
	}
	// The registration carried the agent's own key.
	reg := fb.registered[0]
	if reg.PublicKey != base64.StdEncoding.EncodeToString(g.PublicKey()) {
		t.Error("registered key is not the agent's")
	}
}

func TestCreateAgentOptions(t *testing.T) {
	fb, srv := newFakeBroker(t)
	a := fb.app(t, srv.URL)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	g, err := a.CreateAgent(context.Background(), "o", "t", []string{"read:analytics:bank"},
		&AgentOptions{MaxTTL: 2, Label: "custom-label", PrivateKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.PublicKey(), key.Public().(ed25519.PublicKey)) {
		t.Error("PrivateKey option ignored")
	}
	if d := g.ExpiresAt().Sub(g.IssuedAt()); d != 2*time.Second {
		t.Errorf("TTL = %v, want 2s", d)
	}
	if fb.launchBody[0]["agent_name"] != "custom-label" || fb.launchBody[0]["max_ttl"] != 2.0 {
		t.Errorf("launch body = %v", fb.launchBody[0])
	}
}

// Scope reports what the token grants, not what was asked for.
func TestAgentScopeIsTheGrantedOne(t *testing.T) {
	fb, srv := newFakeBroker(t)
	fb.grant = func([]string) []string { return []string{"read:analytics:hospital"} }
	g, err := fb.app(t, srv.URL).CreateAgent(context.Background(), "o", "t", hospitalScope, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Scope(); len(got) != 1 || got[0] != "read:analytics:hospital" {
		t.Errorf("Scope = %v, want the granted [read:analytics:hospital]", got)
	}
	got := g.Scope()
	got[0] = "mutated"
	if g.Scope()[0] != "read:analytics:hospital" {
		t.Error("Scope exposes internal state")
	}
}

func TestCreateAgentErrors(t *testing.T) {
	fb, srv := newFakeBroker(t)
	a := fb.app(t, srv.URL)
	ctx := context.Background()

	_, err := a.CreateAgent(ctx, "o", "t", []string{"read:billing:bank"}, nil)
	var az *AuthorizationError
	if !errors.As(err, &az) || az.Code != CodeForbidden {
		t.Fatalf("over the ceiling: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "agentwrit: create agent o/t: launch token: 403 forbidden: ") {
		t.Errorf("message %q", err)
	}

	for _, bad := range [][2]string{{"", "t"}, {"o", ""}, {"o", ".."}, {"o/x", "t"}, {"o", "t t"}} {
		n := len(fb.launchBody)
		if _, err := a.CreateAgent(ctx, bad[0], bad[1], hospitalScope, nil); err == nil {
			t.Errorf("CreateAgent(%q, %q) accepted", bad[0], bad[1])
		}
		if len(fb.launchBody) != n {
			t.Errorf("CreateAgent(%q, %q) spent a launch token", bad[0], bad[1])
		}
	}
	if _, err := a.CreateAgent(ctx, "o", "t", hospitalScope, &AgentOptions{PrivateKey: make([]byte, 10)}); err == nil {
		t.Error("short key accepted")
	}
}

func TestNewRegisterRequestSignsHexDecodedNonce(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	nonce := strings.Repeat("0a1b2c3d", 8)
	req, err := NewRegisterRequest("lt", nonce, key, "o", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.PublicKey) != 44 || len(req.Signature) != 88 || !strings.HasSuffix(req.Signature, "==") {
		t.Errorf("not padded std base64: %q %q", req.PublicKey, req.Signature)
	}
	gotPub, _ := base64.StdEncoding.DecodeString(req.PublicKey)
	sig, _ := base64.StdEncoding.DecodeString(req.Signature)
	raw, _ := hex.DecodeString(nonce)
	if !bytes.Equal(gotPub, pub) || !ed25519.Verify(pub, raw, sig) {
		t.Error("signature is not over the hex-decoded nonce")
	}
	if ed25519.Verify(pub, []byte(nonce), sig) {
		t.Error("signature is over the nonce's ASCII text")
	}
	if req.RequestedScope == nil {
		t.Error("nil scope must be sent as []")
	}
	if _, err := NewRegisterRequest("lt", "not hex", key, "o", "t", nil); err == nil {
		t.Error("non-hex nonce accepted")
	}
}

func TestAgentRenew(t *testing.T) {
	fb, srv := newFakeBroker(t)
	g, err := fb.app(t, srv.URL).CreateAgent(context.Background(), "o", "t", hospitalScope, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldTok, oldJTI := g.Token(), g.JTI()
	if err := g.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fb.renewBearer[0] != "Bearer "+oldTok {
		t.Error("renew did not present the old token")
	}
	if g.Token() == oldTok || g.JTI() == oldJTI || !jtiRE.MatchString(g.JTI()) || g.Claims().JTI != g.JTI() {
		t.Errorf("token not replaced: jti %s -> %s", oldJTI, g.JTI())
	}
	if g.ExpiresAt().Sub(g.IssuedAt()) != 300*time.Second || strings.Join(g.Scope(), " ") != strings.Join(hospitalScope, " ") {
		t.Errorf("renewed agent = %v", g)
	}
	// The new token works, the old one is dead.
	if err := g.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.c.Renew(context.Background(), oldTok); err == nil {
		t.Error("old token still renews")
	}
}

func TestAgentReleaseTwiceIsLocalNoop(t *testing.T) {
	fb, srv := newFakeBroker(t)
	g, err := fb.app(t, srv.URL).CreateAgent(context.Background(), "o", "t", hospitalScope, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !g.Released() {
		t.Error("not marked released")
	}
	if err := g.Release(context.Background()); err != nil {
		t.Errorf("second release: %v", err)
	}
	if fb.releases != 1 {
		t.Errorf("broker saw %d releases, want 1", fb.releases)
	}
	// A released token is dead: renewing it is the broker's 401.
	err = g.Renew(context.Background())
	var ae *AuthenticationError
	if !errors.As(err, &ae) || ae.Detail != "token verification failed" {
		t.Errorf("renew after release: %v", err)
	}
	if !strings.Contains(g.String(), " released") {
		t.Errorf("String = %s", g)
	}
}

func TestAgentReleaseOfDeadToken(t *testing.T) {
	fb, srv := newFakeBroker(t)
	g, err := fb.app(t, srv.URL).CreateAgent(context.Background(), "o", "t", hospitalScope, nil)
	if err != nil {
		t.Fatal(err)
	}
	fb.mu.Lock()
	fb.dead[g.JTI()] = true // revoked by an operator
	fb.mu.Unlock()
	err = g.Release(context.Background())
	var ae *AuthenticationError
	if !errors.As(err, &ae) || !g.Released() {
		t.Fatalf("release of a revoked token: %v (released %v)", err, g.Released())
	}
	if err := g.Release(context.Background()); err != nil {
		t.Errorf("second release: %v", err)
	}
}

func TestAgentDelegate(t *testing.T) {
	fb, srv := newFakeBroker(t)
	a := fb.app(t, srv.URL)
	ctx := context.Background()
	hosp, err := a.CreateAgent(ctx, "o", "etl-hospital", hospitalScope, nil)
	if err != nil {
		t.Fatal(err)
	}
	bank, err := a.CreateAgent(ctx, "o", "etl-bank", []string{"read:analytics:bank"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := hosp.Delegate(ctx, bank.ID(), []string{"read:analytics:hospital"}, 30)
	if err != nil {
		t.Fatal(err)
	}
	if d.Claims.Sub != bank.ID() || d.ExpiresIn != 30 || len(d.Chain) != 1 || d.Chain[0].Agent != hosp.ID() ||
		d.Claims.ChainHash != ChainHash(d.Chain) || !d.Claims.Delegated() || d.Claims.TaskID != "etl-hospital" {
		t.Errorf("delegated = %v chain %+v", d, d.Chain)
	}
	if strings.Contains(d.String(), d.Token) || strings.Contains(fmt.Sprintf("%#v", d), d.Token) {
		t.Error("Delegated leaks its token")
	}

	_, err = hosp.Delegate(ctx, bank.ID(), []string{"read:analytics:bank"}, 0)
	var az *AuthorizationError
	if !errors.As(err, &az) || az.Code != CodeScopeViolation {
		t.Errorf("wider delegation: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "agentwrit: delegate from "+hosp.ID()+": 403 scope_violation") {
		t.Errorf("message %q", err)
	}
	_, err = hosp.Delegate(ctx, "spiffe://agentwrit.local/agent/x/y/z", []string{"read:analytics:hospital"}, 0)
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Code != CodeNotFound {
		t.Errorf("unknown delegate: %v", err)
	}
}

func TestAgentConcurrentUse(t *testing.T) {
	fb, srv := newFakeBroker(t)
	a := fb.app(t, srv.URL)
	ctx := context.Background()
	g, err := a.CreateAgent(ctx, "o", "t", hospitalScope, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if err := g.Renew(ctx); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := g.Delegate(ctx, g.ID(), []string{"read:analytics:hospital"}, 10); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() { _ = g.String(); _ = g.Claims(); _ = g.Token(); _ = g.ExpiresAt(); _ = g.Scope() })
	}
	wg.Wait()
}

func TestConcurrentCreateAgent(t *testing.T) {
	fb, srv := newFakeBroker(t)
	a := fb.app(t, srv.URL)
	var wg sync.WaitGroup
	ids := make(chan string, 20)
	for i := range 20 {
		wg.Go(func() {
			g, err := a.CreateAgent(context.Background(), "o", fmt.Sprintf("t%d", i), hospitalScope, nil)
			if err != nil {
				t.Error(err)
				return
			}
			ids <- g.ID()
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 20 {
		t.Errorf("%d distinct agents, want 20", len(seen))
	}
}

// Secrets never show up in String, %v, %+v, %#v, slog or errors.
func TestRedaction(t *testing.T) {
	fb, srv := newFakeBroker(t)
	const secret = "app-secret-app-secret-app-secret"
	a := fb.app(t, srv.URL)
	g, err := a.CreateAgent(context.Background(), "o", "t", hospitalScope, nil)
	if err != nil {
		t.Fatal(err)
	}
	ad, _ := NewAdmin(srv.URL, "admin-secret-admin-secret")
	creds := AppCredentials{AppID: "app-x-123456", ClientID: "x-123", ClientSecret: strings.Repeat("f00d", 16)}
	lt := LaunchToken{Token: strings.Repeat("beef", 16), ExpiresAt: "2026-11-26T20:00:31Z"}
	tr := TokenResponse{AccessToken: g.Token(), ExpiresIn: 300}
	rr := RegisterResponse{AgentID: g.ID(), AccessToken: g.Token()}
	rq := RegisterRequest{LaunchToken: lt.Token}
	d := &Delegated{Token: g.Token()}

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	values := []any{a, ad, g, creds, &creds, lt, tr, rr, rq, d}
	var out strings.Builder
	for _, v := range values {
		fmt.Fprintf(&out, "%v %+v %#v %s\n", v, v, v, v)
		log.Info("value", "v", v)
	}
	all := out.String() + logs.String()
	for _, s := range []string{secret, "admin-secret-admin-secret", g.Token(), creds.ClientSecret, lt.Token,
		string(g.key), base64.StdEncoding.EncodeToString(g.key)} {
		if strings.Contains(all, s) {
			t.Errorf("output contains a secret %q:\n%s", ShortToken(s), all)
		}
	}
	for _, s := range []string{g.ID(), "jti=" + g.JTI()[:8] + "…", "eyJhbGciOiJF…", "f00d…", "tc-cad3ae1a6290"} {
		if !strings.Contains(all, s) {
			t.Errorf("output lacks %q:\n%s", s, all)
		}
	}
}

func TestShortToken(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "",
		"eyJhbGciOiJFZERTQSJ9.": "eyJhbGciOiJF…",
		"123456789012":          "1234…",
		"abc":                   "a…",
	} {
		if got := ShortToken(in); got != want {
			t.Errorf("ShortToken(%q) = %q, want %q", in, got, want)
		}
	}
}
