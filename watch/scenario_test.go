package watch

import (
	"context"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/broker"
	"github.com/tenantui/tenantui/internal/fakeclock"
)

// The stories are tested on trails recorded from a real AgentWrit v2.0.0
// broker (testdata/real-broker-trail.json) and, for the same scenario, on
// the embedded broker run in-process: both must fold into the same stories.
// Re-record against a real broker started on loopback with:
//
//	AGENTWRIT_ADMIN_SECRET=… go test ./watch/ -run TestRecordTrail -record-from http://127.0.0.1:8080
var recordFrom = flag.String("record-from", "", "record testdata/real-broker-trail.json from the broker at this URL")

const realTrail = "testdata/real-broker-trail.json"

// scenario creates, on the broker behind admin, one group of agents per
// story the tests check; tick advances the broker's clock (a no-op on a
// real broker, whose clock runs by itself).
func scenario(t *testing.T, ctx context.Context, url string, admin *agentwrit.Admin, opts ...agentwrit.Option) {
	t.Helper()
	creds, err := admin.CreateApp(ctx, "watch-scenarios", []string{"read:analytics:*", "write:reports:*"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	app, err := agentwrit.NewApp(url, creds.ClientID, creds.ClientSecret, opts...)
	if err != nil {
		t.Fatal(err)
	}
	scopeOf := func(tenant string) []string {
		return []string{"read:analytics:" + tenant, "write:reports:" + tenant}
	}
	create := func(task, tenant string, ttl int) *agentwrit.Agent {
		t.Helper()
		g, err := app.CreateAgent(ctx, "watch-test", task, scopeOf(tenant), &agentwrit.AgentOptions{MaxTTL: ttl})
		if err != nil {
			t.Fatalf("create %s: %v", task, err)
		}
		return g
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	revoke := func(level agentwrit.RevokeLevel, target string) {
		t.Helper()
		_, err := admin.Revoke(ctx, level, target)
		must("revoke "+string(level), err)
	}

	// create → release
	must("release", create("release", "hospital", 300).Release(ctx))
	// renew twice, then release
	g := create("renew", "bank", 300)
	must("renew", g.Renew(ctx))
	must("renew", g.Renew(ctx))
	must("release renewed", g.Release(ctx))
	// expiry by the clock: a 2 s agent left alone
	create("expiry", "retail", 2)
	// revocation at each level
	revoke(agentwrit.RevokeToken, create("revoke-token", "hospital", 300).JTI())
	revoke(agentwrit.RevokeAgent, create("revoke-agent", "bank", 300).ID())
	create("revoke-task", "retail", 300)
	create("revoke-task", "retail", 300)
	revoke(agentwrit.RevokeTask, "revoke-task")
	create("revoke-task", "retail", 300) // a later registration is dead on arrival (§7)
	// delegation: root → mid → leaf, then the chain started by root revoked
	root := create("deleg-root", "hospital", 300)
	mid := create("deleg-mid", "hospital", 300)
	leaf := create("deleg-leaf", "hospital", 300)
	d1, err := root.Delegate(ctx, mid.ID(), []string{"read:analytics:hospital"}, 120)
	must("delegate root → mid", err)
	_, err = app.Client().Delegate(ctx, d1.Token, leaf.ID(), []string{"read:analytics:hospital"}, 60)
	must("delegate mid → leaf", err)
	revoke(agentwrit.RevokeChain, root.ID())
}

// embeddedTrail runs the scenario on the embedded broker with a fake clock.
func embeddedTrail(t *testing.T) ([]agentwrit.AuditEvent, *fakeclock.Clock) {
	t.Helper()
	clk := fakeclock.New(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	srv, err := broker.New(broker.Config{AdminSecret: "s3cret-for-tests", Now: clk.Now, DisableRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	admin, err := agentwrit.NewAdmin(hs.URL, "s3cret-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	scenario(t, ctx, hs.URL, admin)
	all, err := admin.AllAuditEvents(ctx, agentwrit.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return all, clk
}

// TestRecordTrail records the scenario from a real broker (see recordFrom).
func TestRecordTrail(t *testing.T) {
	if *recordFrom == "" {
		t.Skip("recording only: pass -record-from URL")
	}
	secret := os.Getenv("AGENTWRIT_ADMIN_SECRET")
	admin, err := agentwrit.NewAdmin(*recordFrom, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before, err := admin.AuditEvents(ctx, agentwrit.AuditQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if before.Total > 1 {
		t.Fatalf("record from a fresh broker: its trail already has %d events", before.Total)
	}
	scenario(t, ctx, *recordFrom, admin)
	all, err := admin.AllAuditEvents(ctx, agentwrit.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if err := agentwrit.VerifyChain(all); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(all, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(realTrail), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(realTrail, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadTrail reads a recorded trail.
func loadTrail(t *testing.T, path string) []agentwrit.AuditEvent {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []agentwrit.AuditEvent
	if err := json.Unmarshal(b, &evs); err != nil {
		t.Fatal(err)
	}
	return evs
}
