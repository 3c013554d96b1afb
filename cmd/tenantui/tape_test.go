package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/broker"
	"github.com/tenantui/tenantui/internal/liveaudit"
	"github.com/tenantui/tenantui/internal/tapeplay"
	"github.com/tenantui/tenantui/pipeline"
	"github.com/tenantui/tenantui/ui"
)

// tapeCase is one tape of the repository and what its replay must show.
type tapeCase struct {
	file, output string
	// expect maps every Screenshot to the regexps the screen must match.
	// Keep them clear of line ends: the recording's terminal may be a few
	// columns narrower than the replay's estimate, and long lines are cut.
	expect map[string][]string
	// released is how many agents the console's quit releases.
	released int
	// states is every tenant's agent state after the quit ("" for no agent).
	states map[string]string
	// audit lists event types the broker's audit trail must hold, with how
	// many of each.
	audit map[string]int
}

var tapeCases = []tapeCase{
	{
		file: "demo.tape", output: "demo.gif",
		expect: map[string][]string{
			"demo-01-start.png":           {`Tenants \(3\)`, `NO AGENT`, `Decision log`, `0 agents live`, `enter next stage`},
			"demo-02-hospital-loaded.png": {`hospital .*✓ ✓ ✓ ✓ ·`, `ACTIVE`, `load +write:reports:hospital +ALLOW`, `report written to `, `report +\S+hospital/latest\.json`},
			"demo-03-countdown.png":       {`ACTIVE`, `expires in 4:5\d`},
			"demo-04-deny-read.png":       {`LOCAL CHECK`, `STORE CHECK`, `DENY`, `identifier "bank" ≠ "hospital"`, `BLOCKED by both layers`},
			"demo-05-allow-own.png":       {`hospital agent → hospital data`, `ALLOWED`, `reason +covered by`},
			"demo-06-isolation.png":       {`Cross-tenant isolation verified\.`, `✓ BLOCKED +hospital agent cannot read bank data`, `✓ ALLOWED +hospital agent can read its own data`},
			"demo-07-countdown.png":       {`Agent · hospital .*ACTIVE`, `expires in 4:[0-5]\d`},
		},
		released: 1,
		states:   map[string]string{"hospital": "released", "bank": "released", "retail": "released"},
		// Every agent the tape created was released, the last one by the
		// quit: 1 step, 3 in the run, 3 dedicated probe agents, 2 for the
		// isolation check, 1 for the start over.
		audit: map[string]int{"agent_registered": 10, "token_released": 10, "token_revoked": 0},
	},
	{
		file: "lifecycle.tape", output: "lifecycle.gif",
		expect: map[string][]string{
			"lifecycle-01-countdown.png": {`Agent · hospital .*ACTIVE`, `expires in 0:0[67]`, `1 agent live`},
			"lifecycle-02-revoked-denied.png": {`Agent · bank .*REVOKED`, `REVOKED — the operator killed this token`,
				`revoke +bank: revoked at level agent`, `STORE CHECK`, `BLOCKED`,
				`DENY +store +bank → bank read analytics: broker refused`, `1 agent live`},
			"lifecycle-03-expired-denied.png": {`Agent · hospital .*EXPIRED`, `EXPIRED at \d\d:\d\d:\d\d — the broker refuses`,
				`STORE CHECK`, `BLOCKED`,
				`DENY +store +hospital → hospital read analytics: broker refused`, `0 agents live`},
			"lifecycle-04-audit.png": {`Broker audit trail`, `✓ chain verified, \d+ events`, `token_revoked`,
				`agent_registered +hospital`, `agent_registered +bank`},
		},
		// The expired hospital started over with a fresh agent, which the
		// quit releases; the revoked token is dead already, so the broker
		// sees no release attempt for it.
		released: 1,
		states:   map[string]string{"hospital": "released", "bank": "revoked", "retail": ""},
		audit:    map[string]int{"agent_registered": 3, "token_revoked": 1, "token_auth_failed": 0, "token_released": 1},
	},
}

// TestTapes replays every tape against the real console: the embedded broker,
// the AgentWrit client, the pipeline runner and the ui, wired as cmdConsole
// wires them, with the console flags the tape types. One virtual clock is
// shared by the broker, the runner and the console, so a tape's Sleep 8s
// really expires an 8-second token at the broker, at no real cost.
func TestTapes(t *testing.T) {
	clearEnv(t)
	for _, tc := range tapeCases {
		t.Run(strings.TrimSuffix(tc.file, ".tape"), func(t *testing.T) {
			t.Parallel() // each tape has its own broker, clock and directories
			replayTape(t, tc)
		})
	}
}

func replayTape(t *testing.T, tc tapeCase) {
	begin := time.Now()
	// Start a second ahead of real time: the client's app session reads the
	// real clock and must see the broker's tokens as fresh.
	t0 := time.Now().Truncate(time.Second).Add(time.Second)
	clk := tapeplay.NewClock(t0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	running, creds, adminSecret := replayBroker(t, ctx, clk)

	// Built by the tape's start command; closed after the program is
	// stopped (cleanups run last-registered first, and Play registers its
	// own after this one).
	var r *pipeline.Runner
	uctx, ucancel := context.WithCancel(ctx)
	t.Cleanup(func() {
		ucancel()
		if r != nil {
			r.Close()
		}
	})

	start := func(cmdline string) (tea.Model, error) {
		c, err := consoleFlags(cmdline, t.TempDir())
		if err != nil {
			return nil, err
		}
		if c.broker != "" {
			return nil, fmt.Errorf("the tape uses --broker %s; the replay runs the embedded broker", c.broker)
		}
		tenants, err := c.tenants()
		if err != nil {
			return nil, err
		}
		sess, err := replaySession(ctx, running.URL, creds, adminSecret)
		if err != nil {
			return nil, err
		}
		// As cmdConsole does, on the virtual clock.
		con, err := newConsole(uctx, c, tenants, sess, clk.Now, nil)
		if err != nil {
			return nil, err
		}
		r = con.runner
		// QueryBackground stays off: the replay pins the colour profile.
		return ui.New(con.opts), nil
	}

	res := tapeplay.Play(t, filepath.Join("..", "..", tc.file), nil, tapeplay.Options{
		Output:       tc.output,
		Program:      "tenantui",
		Start:        start,
		Expectations: tc.expect,
		MinCols:      100, MinRows: 30,
		Clock:   clk,
		MaxWait: 20 * time.Second, // stores are generated on first use, slower under -race
	})
	ucancel() // as cmdConsole does when Run returns

	// The quit released every live agent: nothing is live, and the
	// console's safety net finds nothing left to release.
	fm := res.Model.(ui.Model)
	if !fm.Quitting() || fm.Released() != tc.released {
		t.Errorf("final model: quitting=%v released=%d; want quitting, released=%d", fm.Quitting(), fm.Released(), tc.released)
	}
	if n := r.LiveAgents(); n != 0 {
		t.Errorf("%d agents still live after the quit", n)
	}
	rctx, rcancel := context.WithTimeout(ctx, shutdownTimeout)
	defer rcancel()
	if n, err := r.ReleaseAll(rctx); n != 0 || err != nil {
		t.Errorf("the quit left %d agents to release (%v)", n, err)
	}
	for _, s := range r.Snapshot() {
		got := ""
		if s.Agent != nil {
			got = s.Agent.State.String()
		}
		if want := tc.states[s.Tenant.ID]; got != want {
			t.Errorf("%s agent after the quit: %q, want %q", s.Tenant.ID, got, want)
		}
	}

	// The broker saw it all, in a verified hash chain, and shows nothing
	// live. (The runner is shut down: ask the broker directly.)
	adm, err := agentwrit.NewAdmin(running.URL, adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := adm.AllAuditEvents(rctx, agentwrit.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if err := agentwrit.VerifyChain(evs); err != nil {
		t.Errorf("audit chain: %v", err)
	}
	if live := liveaudit.LiveAt(evs, clk.Now()); len(live) != 0 {
		t.Errorf("the broker shows live credentials after the quit: %q", live)
	}
	count := map[string]int{}
	for _, e := range evs {
		count[e.EventType]++
	}
	for typ, want := range tc.audit {
		if count[typ] != want {
			t.Errorf("the broker's audit trail has %d %s events, want %d", count[typ], typ, want)
		}
	}
	t.Logf("%s: %s, virtual time %s, real time %s; audit %v", tc.file, res.Cmdline,
		clk.Now().Sub(t0), time.Since(begin).Round(time.Millisecond), count)
}

// consoleFlags parses the console's flags out of a typed command line such as
// "go run ./cmd/tenantui --ttl 8 --seed 42", as cmdConsole would, with the
// data and reports directories moved under dir.
func consoleFlags(cmdline, dir string) (common, error) {
	var c common
	fields := strings.Fields(cmdline)
	i := 0
	for i < len(fields) && path.Base(fields[i]) != "tenantui" {
		i++
	}
	if i == len(fields) {
		return c, fmt.Errorf("%q does not run tenantui", cmdline)
	}
	args := fields[i+1:]
	if len(args) > 0 && args[0] == "console" {
		args = args[1:]
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return c, fmt.Errorf("%q does not start the console", cmdline)
	}
	// The replay's data and reports go to dir, whatever the tape says.
	args = append(args, "--data", filepath.Join(dir, "data"), "--reports", filepath.Join(dir, "reports"))
	c, _, err := parseCommon("console", args, io.Discard, nil)
	return c, err
}

func TestConsoleFlags(t *testing.T) {
	c, err := consoleFlags("go run ./cmd/tenantui --ttl 8 --seed 42", "/tmp/x")
	if err != nil || c.ttl != 8*time.Second || c.seed != 42 || c.data != filepath.Join("/tmp/x", "data") || c.reports != filepath.Join("/tmp/x", "reports") {
		t.Errorf("consoleFlags = %+v, %v", c, err)
	}
	for _, bad := range []string{"go run ./cmd/tenantui run --ttl 8", "go run ./cmd/other", "tenantui --ttl 0", "tenantui --nope"} {
		if _, err := consoleFlags(bad, "/tmp/x"); err == nil {
			t.Errorf("consoleFlags(%q): no error", bad)
		}
	}
	var ee *exitError
	if _, err := consoleFlags("tenantui --ttl nope", "/tmp/x"); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("a bad flag: %v, want a usage error", err)
	}
}

// replayBroker starts the embedded broker as startEmbedded does, on the
// replay's virtual clock, with the console's app; it stops with the test.
func replayBroker(t *testing.T, ctx context.Context, clk *tapeplay.Clock) (*broker.Running, broker.AppCredentials, string) {
	t.Helper()
	adminSecret := randomHex(24)
	srv, err := broker.New(broker.Config{AdminSecret: adminSecret, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := srv.RegisterApp("tenantui", AppCeiling, 1800)
	if err != nil {
		t.Fatal(err)
	}
	running, err := broker.Start(ctx, srv, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { running.Close() })
	return running, creds, adminSecret
}

// replaySession is the session connect makes for the embedded broker, on a
// broker a replay started itself (so that it knows the admin secret).
func replaySession(ctx context.Context, url string, creds broker.AppCredentials, adminSecret string) (*session, error) {
	opts := []agentwrit.Option{agentwrit.WithNotify(func(string) {}), agentwrit.WithUserAgent("tenantui")}
	app, err := agentwrit.NewApp(url, creds.ClientID, creds.ClientSecret, opts...)
	if err != nil {
		return nil, err
	}
	admin, err := agentwrit.NewAdmin(url, adminSecret, opts...)
	if err != nil {
		return nil, err
	}
	h, err := app.Health(ctx)
	if err != nil {
		return nil, err
	}
	if err := app.Authenticate(ctx); err != nil {
		return nil, err
	}
	return &session{App: app, Admin: admin, Mode: "embedded", URL: url, Version: h.Version,
		Healthy: h.Status == "ok", ClientID: creds.ClientID}, nil
}
