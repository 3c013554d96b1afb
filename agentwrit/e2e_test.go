package agentwrit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/broker"
)

const e2eAdminSecret = "dev-secret-dev-secret-1234567890"

var tenants = []string{"hospital", "bank", "retail"}

func tenantScope(t string) []string {
	return []string{"read:analytics:" + t, "write:reports:" + t}
}

// newBroker starts the embedded broker on a loopback httptest server.
func newBroker(t testing.TB, disableRateLimits bool) (*broker.Server, string) {
	t.Helper()
	s, err := broker.New(broker.Config{AdminSecret: e2eAdminSecret, DisableRateLimits: disableRateLimits})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts.URL
}

func valid(t *testing.T, app *agentwrit.App, token string) bool {
	t.Helper()
	r, err := app.Validate(context.Background(), token)
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	if !r.Valid && r.Error != "token is invalid or expired" {
		t.Errorf("invalid with error %q", r.Error)
	}
	return r.Valid
}

// TestE2ESeedFlow runs the seed flow through the client against the
// embedded broker, rate limits on.
func TestE2ESeedFlow(t *testing.T) {
	srv, url := newBroker(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var notes []string
	var notesMu sync.Mutex
	notify := agentwrit.WithNotify(func(m string) { notesMu.Lock(); notes = append(notes, m); notesMu.Unlock() })

	admin, err := agentwrit.NewAdmin(url, e2eAdminSecret)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := admin.CreateApp(ctx, "tenant-console", []string{"read:analytics:*", "write:reports:*"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(creds.AppID, "app-tenant-console-") || !strings.HasPrefix(creds.ClientID, "tc-") ||
		len(creds.ClientSecret) != 64 || creds.TokenTTL != 1800 || strings.Contains(creds.String(), creds.ClientSecret) {
		t.Fatalf("creds = %v", creds)
	}
	app, err := agentwrit.NewApp(url, creds.ClientID, creds.ClientSecret, notify)
	if err != nil {
		t.Fatal(err)
	}
	h, err := app.Health(ctx)
	if err != nil || h.Status != "ok" || h.Version != "2.0.0" {
		t.Fatalf("health = %+v, %v", h, err)
	}

	// Agents, one per tenant, scope as granted.
	agents := map[string]*agentwrit.Agent{}
	for _, tn := range tenants {
		g, err := app.CreateAgent(ctx, "nightly-pipeline", "etl-"+tn, tenantScope(tn), nil)
		if err != nil {
			t.Fatalf("create %s: %v", tn, err)
		}
		if !slices.Equal(g.Scope(), tenantScope(tn)) || g.TaskID() != "etl-"+tn || g.OrchID() != "nightly-pipeline" ||
			!strings.HasPrefix(g.ID(), "spiffe://agentwrit.local/agent/nightly-pipeline/etl-"+tn+"/") ||
			g.ExpiresAt().Sub(g.IssuedAt()) != 300*time.Second {
			t.Errorf("agent %s = %v", tn, g)
		}
		verifyJWT(t, srv.PublicKey(), g.Token())
		if !valid(t, app, g.Token()) {
			t.Errorf("%s token invalid", tn)
		}
		r, _ := app.Validate(ctx, g.Token())
		if r.Claims == nil || r.Claims.JTI != g.JTI() || !slices.Equal(r.Claims.Scope, g.Scope()) {
			t.Errorf("validate claims = %+v", r.Claims)
		}
		agents[tn] = g
	}
	hosp, bank, retail := agents["hospital"], agents["bank"], agents["retail"]

	// Delegation: narrow is fine, wide is a scope violation.
	d, err := hosp.Delegate(ctx, bank.ID(), []string{"read:analytics:hospital"}, 30)
	if err != nil {
		t.Fatalf("narrow delegation: %v", err)
	}
	if d.ExpiresIn != 30 || d.Claims.Sub != bank.ID() || !slices.Equal(d.Claims.Scope, []string{"read:analytics:hospital"}) ||
		len(d.Chain) != 1 || d.Chain[0].Agent != hosp.ID() || !slices.Equal(d.Chain[0].Scope, hosp.Scope()) ||
		d.Claims.ChainHash != agentwrit.ChainHash(d.Chain) || d.Claims.TaskID != "etl-hospital" {
		t.Errorf("delegated = %v, chain %+v, chain_hash %s", d, d.Chain, d.Claims.ChainHash)
	}
	rec := d.Chain[0]
	sig, _ := hex.DecodeString(rec.Signature)
	if !ed25519.Verify(srv.PublicKey(), []byte(rec.Agent+"|"+strings.Join(rec.Scope, ",")+"|"+rec.DelegatedAt), sig) {
		t.Error("delegation record signature does not verify with the broker key")
	}
	if !valid(t, app, d.Token) {
		t.Error("delegated token invalid")
	}
	_, err = hosp.Delegate(ctx, bank.ID(), []string{"read:analytics:bank"}, 0)
	var az *agentwrit.AuthorizationError
	if !errors.As(err, &az) || az.Code != agentwrit.CodeScopeViolation || az.Status != 403 {
		t.Errorf("wide delegation: %v", err)
	}
	_, err = hosp.Delegate(ctx, "spiffe://agentwrit.local/agent/x/y/z", []string{"read:analytics:hospital"}, 0)
	var nf *agentwrit.NotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("unknown delegate: %v", err)
	}

	// Renew replaces the token; the old one dies.
	oldTok, oldJTI := hosp.Token(), hosp.JTI()
	if err := hosp.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if hosp.JTI() == oldJTI || hosp.Token() == oldTok || valid(t, app, oldTok) || !valid(t, app, hosp.Token()) ||
		hosp.ExpiresAt().Sub(hosp.IssuedAt()) != 300*time.Second {
		t.Errorf("renew: jti %s -> %s", oldJTI, hosp.JTI())
	}

	// Release, then release again: the second is a local no-op.
	if err := hosp.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := hosp.Release(ctx); err != nil {
		t.Errorf("second release: %v", err)
	}
	if !hosp.Released() || valid(t, app, hosp.Token()) {
		t.Error("released token still valid")
	}
	var ae *agentwrit.AuthenticationError
	if err := hosp.Renew(ctx); !errors.As(err, &ae) || ae.Detail != "token verification failed" {
		t.Errorf("renew after release: %v", err)
	}

	// Over the app's ceiling.
	_, err = app.CreateAgent(ctx, "nightly-pipeline", "etl-bank-billing", []string{"read:billing:bank"}, nil)
	if !errors.As(err, &az) || az.Code != agentwrit.CodeForbidden {
		t.Errorf("over-ceiling agent: %v", err)
	}

	// Revocation, each level.
	rev := func(level agentwrit.RevokeLevel, target string) {
		t.Helper()
		r, err := admin.Revoke(ctx, level, target)
		if err != nil {
			t.Fatalf("revoke %s: %v", level, err)
		}
		if !r.Revoked || r.Level != level || r.Target != target || r.Count != 1 {
			t.Errorf("revoke %s = %+v", level, r)
		}
	}
	rev(agentwrit.RevokeToken, retail.JTI())
	if valid(t, app, retail.Token()) {
		t.Error("token-level revocation missed")
	}
	rev(agentwrit.RevokeAgent, bank.ID())
	if valid(t, app, bank.Token()) || valid(t, app, d.Token) {
		t.Error("agent-level revocation missed the agent or a token delegated to it")
	}
	taskAgent, err := app.CreateAgent(ctx, "nightly-pipeline", "etl-retail-rerun", tenantScope("retail"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rev(agentwrit.RevokeTask, "etl-retail-rerun")
	if valid(t, app, taskAgent.Token()) {
		t.Error("task-level revocation missed")
	}
	root, err := app.CreateAgent(ctx, "nightly-pipeline", "etl-hospital-2", tenantScope("hospital"), nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := app.CreateAgent(ctx, "nightly-pipeline", "etl-hospital-3", []string{"read:analytics:hospital"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := root.Delegate(ctx, leaf.ID(), []string{"read:analytics:hospital"}, 60)
	if err != nil {
		t.Fatal(err)
	}
	rev(agentwrit.RevokeChain, root.ID())
	if valid(t, app, d2.Token) || !valid(t, app, root.Token()) {
		t.Error("chain-level revocation: delegated token must die, the root's own token must live")
	}
	_, err = admin.Revoke(ctx, "galaxy", "x")
	var apiErr *agentwrit.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != agentwrit.CodeInvalidRequest {
		t.Errorf("bad level: %v", err)
	}
	// Garbage bearer tokens are a 401.
	_, _, err = app.Client().Renew(ctx, "not-a-token")
	if !errors.As(err, &ae) {
		t.Errorf("garbage bearer: %v", err)
	}

	// The audit trail: whole chain verifies, and tells the story.
	events, err := admin.AllAuditEvents(ctx, agentwrit.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 || events[0].ID != "evt-000001" || events[0].PrevHash != agentwrit.GenesisHash {
		t.Fatalf("audit starts with %+v", events[:min(1, len(events))])
	}
	if err := agentwrit.VerifyChain(events); err != nil {
		t.Fatalf("VerifyChain: %v", err)
	}
	count := map[string]int{}
	for _, e := range events {
		count[e.EventType]++
	}
	if count["token_released"] != 1 || count["token_revoked"] != 4 || count["delegation_created"] != 2 ||
		count["agent_registered"] != 6 || count["app_authenticated"] != 1 || count["scope_ceiling_exceeded"] != 1 ||
		count["delegation_attenuation_violation"] != 1 {
		t.Errorf("event counts = %v", count)
	}
	paged, err := admin.AllAuditEvents(ctx, agentwrit.AuditQuery{Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(paged) < len(events) || paged[len(events)-1] != events[len(events)-1] {
		t.Errorf("paging by 7 gave %d events, one page gave %d", len(paged), len(events))
	}
	if err := agentwrit.VerifyChain(paged); err != nil {
		t.Errorf("VerifyChain over pages of 7: %v", err)
	}
	page, err := admin.AuditEvents(ctx, agentwrit.AuditQuery{EventType: "token_revoked", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 4 || len(page.Events) != 2 || page.Limit != 2 {
		t.Errorf("filtered page = %+v", page)
	}
	for _, e := range page.Events {
		if e.Hash != agentwrit.EventHash(e.PrevHash, e) {
			t.Errorf("%s does not re-hash", e.ID)
		}
	}
	tampered := slices.Clone(events)
	tampered[3].Detail += " (edited)"
	var ce *agentwrit.ChainError
	if err := agentwrit.VerifyChain(tampered); !errors.As(err, &ce) || ce.Index != 3 {
		t.Errorf("tampered chain: %v", err)
	}

	// One login for the whole flow; no rate-limit waits.
	if count["app_authenticated"] != 1 || len(notes) != 0 {
		t.Errorf("app logins %d, notes %q", count["app_authenticated"], notes)
	}
}

// verifyJWT checks a token's signature with the broker's key.
func verifyJWT(t *testing.T, pub ed25519.PublicKey, tok string) {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || !ed25519.Verify(pub, []byte(tok[:i]), sig) {
		t.Errorf("token %s does not verify", agentwrit.ShortToken(tok))
	}
}

func TestE2EAdminAppManagement(t *testing.T) {
	_, url := newBroker(t, false)
	ctx := context.Background()
	admin, _ := agentwrit.NewAdmin(url, e2eAdminSecret)
	if err := admin.Authenticate(ctx); err != nil {
		t.Fatal(err)
	}
	creds, err := admin.CreateApp(ctx, "billing-sync", []string{"read:billing:*"}, 600)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := admin.ListApps(ctx)
	if err != nil || len(apps) != 1 || apps[0].AppID != creds.AppID || apps[0].Status != "active" || apps[0].CreatedAt == "" {
		t.Fatalf("list = %+v, %v", apps, err)
	}
	info, err := admin.UpdateApp(ctx, creds.AppID, []string{"read:billing:*", "write:billing:*"}, 0)
	if err != nil || !slices.Equal(info.Scopes, []string{"read:billing:*", "write:billing:*"}) || info.TokenTTL != 600 {
		t.Fatalf("update = %+v, %v", info, err)
	}
	if info, err = admin.GetApp(ctx, creds.AppID); err != nil || info.Name != "billing-sync" || len(info.Scopes) != 2 {
		t.Fatalf("get = %+v, %v", info, err)
	}
	_, err = admin.UpdateApp(ctx, creds.AppID, nil, 30)
	var apiErr *agentwrit.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != agentwrit.CodeInvalidTTL {
		t.Errorf("bad ttl: %v", err)
	}
	_, err = admin.GetApp(ctx, "app-nope-000000")
	var nf *agentwrit.NotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("unknown app: %v", err)
	}

	app, _ := agentwrit.NewApp(url, creds.ClientID, creds.ClientSecret)
	if err := app.Authenticate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteApp(ctx, creds.AppID); err != nil {
		t.Fatal(err)
	}
	fresh, _ := agentwrit.NewApp(url, creds.ClientID, creds.ClientSecret)
	err = fresh.Authenticate(ctx)
	var ae *agentwrit.AuthenticationError
	if !errors.As(err, &ae) || strings.Contains(err.Error(), creds.ClientSecret) {
		t.Errorf("login of a deleted app: %v", err)
	}

	// Flow A: admin launch token (no ceiling), registration by the client.
	lt, err := admin.CreateLaunchToken(ctx, agentwrit.LaunchTokenRequest{AgentName: "break-glass", AllowedScope: []string{"read:anything:x"}, MaxTTL: 60})
	if err != nil || len(lt.Token) != 64 || lt.Policy.MaxTTL != 60 {
		t.Fatalf("launch token = %v, %v", lt, err)
	}
	g, err := admin.Client().RegisterAgent(ctx, lt.Token, "ops", "break-glass", []string{"read:anything:x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.ExpiresAt().Sub(g.IssuedAt()) != 60*time.Second || !slices.Equal(g.Scope(), []string{"read:anything:x"}) {
		t.Errorf("flow A agent = %v", g)
	}
	// Reusing the single-use launch token is refused.
	_, err = admin.Client().RegisterAgent(ctx, lt.Token, "ops", "break-glass", []string{"read:anything:x"}, nil)
	if !errors.As(err, &ae) || !strings.Contains(ae.Detail, "already consumed") {
		t.Errorf("reused launch token: %v", err)
	}
}

// Many concurrent CreateAgent calls share one app login, so the broker's
// login limiter (burst 3 per client_id) never trips.
func TestE2ENoLoginStorm(t *testing.T) {
	srv, url := newBroker(t, false)
	creds, err := srv.RegisterApp("storm", []string{"read:analytics:*"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	app, _ := agentwrit.NewApp(url, creds.ClientID, creds.ClientSecret)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if _, err := app.CreateAgent(context.Background(), "o", fmt.Sprintf("t%d", i), []string{"read:analytics:x"}, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := 0
	for _, e := range srv.AuditEvents() {
		if e.EventType == "app_authenticated" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d app logins, want 1", n)
	}
}

// With the real limiter, a fourth login in a burst is refused with
// Retry-After 60; the session form gives up at once when the caller's
// deadline is sooner than that.
func TestE2ELoginRateLimit(t *testing.T) {
	srv, url := newBroker(t, false)
	creds, err := srv.RegisterApp("limited", []string{"read:analytics:*"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := agentwrit.NewClient(url)
	ctx := context.Background()
	for range 3 {
		if _, err := c.AppAuth(ctx, creds.ClientID, creds.ClientSecret); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.AppAuth(ctx, creds.ClientID, creds.ClientSecret)
	var rl *agentwrit.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 60*time.Second || rl.Code != agentwrit.CodeRateLimited {
		t.Fatalf("4th login: %v", err)
	}
	app, _ := agentwrit.NewApp(url, creds.ClientID, creds.ClientSecret)
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := app.Authenticate(short); !errors.As(err, &rl) || time.Since(start) > time.Second {
		t.Errorf("session login under the limit: %v after %v", err, time.Since(start))
	}
}

// BenchmarkCreateAgent measures a full CreateAgent (launch token, challenge,
// key generation, signature, registration, claims decode) through the client
// against the embedded broker over loopback, with a warm app session.
func BenchmarkCreateAgent(b *testing.B) {
	srv, url := newBroker(b, true)
	creds, err := srv.RegisterApp("bench", []string{"read:analytics:*", "write:reports:*"}, 0)
	if err != nil {
		b.Fatal(err)
	}
	app, err := agentwrit.NewApp(url, creds.ClientID, creds.ClientSecret)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := app.Authenticate(ctx); err != nil {
		b.Fatal(err)
	}
	scope := tenantScope("hospital")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := app.CreateAgent(ctx, "bench", fmt.Sprintf("t%d", i), scope, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateAgentParallel is BenchmarkCreateAgent from GOMAXPROCS
// goroutines sharing one App.
func BenchmarkCreateAgentParallel(b *testing.B) {
	srv, url := newBroker(b, true)
	creds, err := srv.RegisterApp("bench", []string{"read:analytics:*", "write:reports:*"}, 0)
	if err != nil {
		b.Fatal(err)
	}
	app, _ := agentwrit.NewApp(url, creds.ClientID, creds.ClientSecret)
	ctx := context.Background()
	if err := app.Authenticate(ctx); err != nil {
		b.Fatal(err)
	}
	scope := tenantScope("bank")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := app.CreateAgent(ctx, "bench", "task", scope, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
