package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/tenantui/tenantui/internal/tapeplay"
	"github.com/tenantui/tenantui/pipeline"
)

// TestDemoTape replays ../demo.tape against the console driven by a fake
// controller that behaves like the pipeline runner (see internal/tapeplay for
// how keys, sleeps, waits and screenshots are replayed). The shell part
// (typing `go run ./cmd/tenantui …` and Enter) starts the model directly.
// cmd/tenantui's TestTapes replays the same tape against the real stack.
//
// Each Sleep advances the console's and the fake's virtual clock by the
// tape's duration, so countdowns read as they would in the recording.
func TestDemoTape(t *testing.T) {
	clk := tapeplay.NewClock(t0)
	events := make(chan pipeline.Event, 4096)
	fake := newFake(pipeline.DefaultTenants(), clk.Now, events)
	fake.delay = 10 * time.Millisecond
	model := New(Options{Events: events, Control: fake, Tenants: pipeline.DefaultTenants(), Broker: testBroker,
		TTL: 5 * time.Minute, Now: clk.Now})

	res := tapeplay.Play(t, "../demo.tape", model, tapeplay.Options{
		Output:  "demo.gif",
		Program: "tenantui",
		Clock:   clk,
		MinCols: 100, MinRows: 30,
		// Every Screenshot of the tape, and what it must show (regexps).
		Expectations: map[string][]string{
			"demo-01-start.png":           {`Tenants \(3\)`, `NO AGENT`, `Decision log`, `0 agents live`, `enter next stage`},
			"demo-02-hospital-loaded.png": {`hospital .*✓ ✓ ✓ ✓ ·`, `ACTIVE`, `load +write:reports:hospital +ALLOW`, `report written to reports/hospital`},
			"demo-03-countdown.png":       {`ACTIVE`, `expires in 4:5\d`},
			"demo-04-deny-read.png":       {`LOCAL CHECK`, `STORE CHECK`, `DENY`, `identifier "bank" ≠ "hospital"`, `BLOCKED by both layers`},
			"demo-05-allow-own.png":       {`hospital agent → hospital data`, `ALLOWED`, `reason +covered by`},
			"demo-06-isolation.png":       {`Cross-tenant isolation verified\.`, `✓ BLOCKED +hospital agent cannot read bank data`, `✓ ALLOWED +hospital agent can read its own data`},
			"demo-07-countdown.png":       {`Agent · hospital .*ACTIVE`, `expires in 4:[0-5]\d`},
		},
	})

	// The tape ends by quitting: the console releases its agents, then exits.
	fm := res.Model.(Model)
	if !fm.Quitting() || fm.Released() < 1 {
		t.Fatalf("final model: quitting=%v released=%d", fm.Quitting(), fm.Released())
	}
	calls := fake.Calls()
	if calls[len(calls)-1] != "Shutdown" {
		t.Fatalf("the last controller call was %q, want Shutdown; calls: %q", calls[len(calls)-1], calls)
	}
	for _, want := range []string{"Step hospital", "RunAll", "Probe hospital bank read", "Probe hospital retail write",
		"Probe hospital hospital read", "IsolationCheck"} {
		if !strings.Contains(strings.Join(calls, "\n"), want) {
			t.Errorf("the tape never made the controller call %q; calls: %q", want, calls)
		}
	}
}
