package ui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tenantui/tenantui/pipeline"
)

// Tests of the console's truth and its way out: what it shows is what the
// broker confirmed, and every way out goes through Controller.Shutdown.

func TestTooSmallScreenOnlyQuits(t *testing.T) {
	m, f, _ := newTestModel(t, 60, 20)
	for _, k := range []string{"enter", "a", "x", "i", "m", "d", "g", "o", "A", "e"} {
		var cmd tea.Cmd
		nm, cmd := m.Update(keyPress(k))
		m = nm.(Model)
		if cmd != nil || m.mode != modeMain || m.detail != detailNone {
			t.Fatalf("key %q acted on the too-small screen", k)
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("controller calls on the too-small screen: %q", calls)
	}
	wantScreen(t, m, "terminal too small: need 80×24, have 60×20", "press q to quit")
	m = update(t, m, keyPress("q"))
	if !m.Quitting() {
		t.Fatal("q must still quit")
	}
}

func TestHeaderFollowsTheBrokersHealth(t *testing.T) {
	m, f, clk := newTestModel(t, 100, 30)
	wantScreen(t, m, "● healthy")
	// The periodic check asks the controller, from a Cmd.
	nm, cmd := m.Update(healthTickMsg{gen: m.health.gen})
	m = nm.(Model)
	f.healthErr = errors.New("broker at http://127.0.0.1:8080 did not answer in time (timeout)")
	msg := firstMsg[healthDoneMsg](t, cmd)
	m = update(t, m, msg)
	wantScreen(t, m, "✗ unreachable since 20:15:04 (timeout)", "unreachable: broker at http://127.0.0.1:8080 did not answer")
	if strings.Contains(plain(m), "● healthy") {
		t.Fatal("a dead broker shown healthy")
	}
	// Still down later: the "since" stays.
	clk.t = clk.t.Add(10 * time.Second)
	m = update(t, m, healthDoneMsg{err: f.healthErr})
	wantScreen(t, m, "unreachable since 20:15:04")
	// Back: the header turns back and the log says so.
	f.healthErr = nil
	h, _ := f.Health(context.Background())
	m = update(t, m, healthDoneMsg{h: h})
	wantScreen(t, m, "● healthy", "reachable again")
}

func TestTransportFailureRechecksHealth(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	f.stepErr = errors.New("broker unreachable: connection refused")
	m, _ = press(t, m, "enter")
	// A plain error is not a transport error: no extra health check.
	if m.health.inflight {
		t.Fatal("a non-transport failure must not trigger a health check")
	}
	wantScreen(t, m, "broker unreachable: connection refused — step hospital")
}

func TestFailedStageIsNotShownAsAllowed(t *testing.T) {
	p := newTenantsPane(pipeline.DefaultTenants())
	ok := pipeline.Access{Layer: pipeline.LayerLocal, Allowed: true, Actor: "hospital", Target: "hospital"}
	p.applyEvent(pipeline.Event{Kind: pipeline.EventStageStarted, Tenant: "hospital", Stage: pipeline.StageExtract})
	p.applyEvent(pipeline.Event{Kind: pipeline.EventDecision, Tenant: "hospital", Access: &ok})
	p.applyEvent(pipeline.Event{Kind: pipeline.EventError, Tenant: "hospital", Stage: pipeline.StageExtract, Err: "broker unreachable"})
	p.states[0].Stage = pipeline.StageCreate
	p.states[0].Err = "broker unreachable at http://x: connection refused"
	st := NewStyles(true)
	lines := p.stepperLines(0, st, "", 60)
	var extract string
	for _, l := range lines {
		if strings.Contains(ansi.Strip(l), "extract") {
			extract = ansi.Strip(l)
		}
	}
	if !strings.Contains(extract, "ERROR") || strings.Contains(extract, "ALLOW") {
		t.Fatalf("a stage that failed on transport reads %q", extract)
	}
	if hint := ansi.Strip(lines[len(lines)-1]); !strings.Contains(hint, "✗ broker unreachable") || !strings.Contains(hint, "enter starts over") {
		t.Fatalf("hint %q: the cause first, then what enter does", hint)
	}
}

func TestDeadAgentStartsOver(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "enter", "enter") // create, extract
	first := m.tp.states[0].Agent.SPIFFEID
	if err := f.Revoke(context.Background(), "hospital", "agent"); err != nil {
		t.Fatal(err)
	}
	m = update(t, m, snapshotMsg{snap: f.Snapshot()})
	wantScreen(t, m, "REVOKED", "enter starts over")
	m, _ = press(t, m, "enter")
	s := m.tp.states[0]
	if s.Stage != pipeline.StageCreate || s.Agent.SPIFFEID == first || s.Agent.State != pipeline.AgentActive {
		t.Fatalf("enter after revocation must start over with a fresh agent: %+v", s)
	}
}

func TestRefusedReleaseKeepsRevoked(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "enter")
	if err := f.Revoke(context.Background(), "hospital", "token"); err != nil {
		t.Fatal(err)
	}
	m = update(t, m, snapshotMsg{snap: f.Snapshot()})
	m, _ = press(t, m, "d")
	if !m.statusErr || !strings.Contains(m.status, "release refused by the broker") {
		t.Fatalf("status %q", m.status)
	}
	if st := m.tp.states[0].Agent.State; st != pipeline.AgentRevoked {
		t.Fatalf("a refused release relabelled the agent %v", st)
	}
	wantScreen(t, m, "REVOKED")
}

func TestSignalsQuitThenExitAtOnce(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "enter")
	nm, cmd := m.Update(Interrupt())
	m = nm.(Model)
	if !m.Quitting() || cmd == nil {
		t.Fatal("a signal must start the way out")
	}
	wantScreen(t, m, "releasing every credential (1 agent live)", "ctrl+c again exits at once")
	nm, cmd = m.Update(Interrupt())
	m = nm.(Model)
	if _, ok := cmd().(tea.QuitMsg); !ok || !m.Abandoned() {
		t.Fatal("a second signal must exit at once")
	}
	if _, done := m.Shutdown(); done {
		t.Fatal("the shutdown did not finish: the owner must release")
	}
	for _, c := range f.Calls() {
		if c == "Shutdown" {
			t.Fatal("the Cmd was never run, so Shutdown was never called")
		}
	}
}

func TestQuitCountsReleasesAsTheyHappen(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	m = update(t, m, keyPress("q"))
	m = update(t, m, eventBatchMsg{
		{Kind: pipeline.EventReleased, Tenant: "hospital", Message: "hospital: agent released"},
		{Kind: pipeline.EventReleased, Tenant: "bank", Message: "bank: agent released"},
	})
	wantScreen(t, m, "2 released so far")
}

func TestShutdownResultIsShown(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	m = update(t, m, keyPress("q"))
	res := pipeline.ShutdownResult{Released: 1, Left: []pipeline.LiveCredential{{Tenant: "bank", Role: "stage", JTI: "e04463fc99"}}}
	nm, cmd := m.Update(shutdownDoneMsg{res: res})
	m = nm.(Model)
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("the console quits once the shutdown answered")
	}
	got, done := m.Shutdown()
	if !done || got.OK() || !m.statusErr || !strings.Contains(m.status, "stage:bank(jti e04463fc…)") {
		t.Fatalf("shutdown %+v done %v status %q", got, done, m.status)
	}
}

func TestCrossFormActsForTheSelectedTenant(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "x", "esc", "down", "x")
	if m.form.actor != 1 || m.form.target == 1 {
		t.Fatalf("form actor %d target %d, want the selected tenant (bank) as actor", m.form.actor, m.form.target)
	}
}

func TestProbeWithoutAgentUsesADedicatedOne(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	m, _ = press(t, m, "x", "enter")
	if !m.probe.res.Dedicated {
		t.Fatalf("probe %+v", m.probe.res)
	}
	wantScreen(t, m, "dedicated probe agent made the attempt and was released")
	if s := m.tp.states[0]; s.Agent != nil || s.Stage != pipeline.StageNone {
		t.Fatalf("the probe gave the tenant an agent or a stage: %+v", s)
	}
}

func TestOneTenantIsolationSaysNotChecked(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	res := pipeline.IsolationResult{Passed: true, NotApplicable: true, Note: "isolation needs two tenants; the catalog has one (solo)"}
	m = update(t, m, isolationDoneMsg{res: res})
	if strings.Contains(m.status, "verified") || !strings.Contains(m.status, "not checked") {
		t.Fatalf("status %q", m.status)
	}
}
