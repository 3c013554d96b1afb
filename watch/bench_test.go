package watch

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/broker"
)

// BenchmarkCatchUp10k measures what `tenantui watch` does at start on a
// broker whose trail holds 10,000 events: read them all over HTTP from the
// embedded broker (10 pages of 1,000), verify the chain and fold 1,000
// agents' stories (create, renew, release) plus 4,000 revocations.
//
//	go test ./watch/ -run '^$' -bench CatchUp10k -benchtime 5x
func BenchmarkCatchUp10k(b *testing.B) {
	srv, err := broker.New(broker.Config{AdminSecret: "s3cret-for-tests", DisableRateLimits: true})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	admin, err := agentwrit.NewAdmin(hs.URL, "s3cret-for-tests")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	creds, err := admin.CreateApp(ctx, "bench", []string{"read:analytics:*", "write:reports:*"}, 0)
	if err != nil {
		b.Fatal(err)
	}
	app, err := agentwrit.NewApp(hs.URL, creds.ClientID, creds.ClientSecret)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		tenant := fmt.Sprintf("tenant-%04d", i)
		g, err := app.CreateAgent(ctx, "bench", "etl-"+tenant, []string{"read:analytics:" + tenant, "write:reports:" + tenant}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			if err := g.Renew(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if err := g.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 10000 - len(srv.AuditEvents()) {
		if _, err := admin.Revoke(ctx, agentwrit.RevokeToken, fmt.Sprintf("jti-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
	n := len(srv.AuditEvents())
	b.ResetTimer()
	for b.Loop() {
		w := New(Config{Broker: AdminBroker{admin}, Now: time.Now})
		for {
			u, _ := w.Poll(ctx)
			if u.Status.Fault != nil {
				b.Fatal(u.Status.Fault.Message)
			}
			if !u.Status.CatchingUp && u.Status.Events >= n {
				if u.Status.ChainBreak != nil {
					b.Fatal(u.Status.Chain)
				}
				break
			}
		}
	}
	b.ReportMetric(float64(n), "events")
}
