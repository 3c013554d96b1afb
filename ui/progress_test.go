package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/pipeline"
)

// While run-all runs, the status line counts finished and failed tenants
// with a progress bar, a rate and the time left; events of other kinds, and
// a tenant's second event, do not count.
func TestRunAllProgressLine(t *testing.T) {
	ts := manyTenants(10)
	clk := &testClock{t: t0}
	f := newFake(ts, clk.now, nil)
	m := New(Options{Control: f, Tenants: ts, Broker: testBroker, Now: clk.now})
	m = update(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m = update(t, m, keyPress("a"))
	if !m.prog.active || m.prog.total != 10 {
		t.Fatalf("progress not started: %+v", m.prog)
	}
	wantScreen(t, m, " 0/10 · 0 failed")
	ev := func(kind pipeline.EventKind, tenant string, st pipeline.Stage) {
		m = update(t, m, eventMsg(pipeline.Event{Kind: kind, Tenant: tenant, Stage: st, Time: clk.t}))
	}
	for _, id := range []string{"t0000", "t0001", "t0002"} {
		ev(pipeline.EventStageFinished, id, pipeline.StageLoad) // not the end
		ev(pipeline.EventStageFinished, id, pipeline.StageRelease)
	}
	ev(pipeline.EventError, "t0003", pipeline.StageExtract)
	ev(pipeline.EventReleased, "t0003", pipeline.StageNone)
	ev(pipeline.EventStageFinished, "t0001", pipeline.StageRelease) // counted already
	clk.t = t0.Add(2 * time.Second)
	m.touchAll()
	if m.prog.done != 4 || m.prog.failed != 1 {
		t.Fatalf("done %d failed %d, want 4 and 1", m.prog.done, m.prog.failed)
	}
	wantScreen(t, m, " 4/10 · 1 failed · 2/s · ETA 3.0 s")
	if line := plain(m); !strings.Contains(line, "████████░░░░░░░░░░░░ 4/10") {
		t.Fatalf("no progress bar:\n%s", line)
	}
}

// With the fake controller: the run's own events drive the count, and its
// end leaves the completion line; a failing run says how far it got.
func TestRunAllCompletionLine(t *testing.T) {
	ts := manyTenants(12)
	clk := &testClock{t: t0}
	events := make(chan pipeline.Event, 4096)
	f := newFake(ts, clk.now, events)
	m := New(Options{Events: events, Control: f, Tenants: ts, Broker: testBroker, Now: clk.now})
	m = update(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, _ = press(t, m, "a")
	m = feed(t, m, events)
	if m.runAll || m.prog.active {
		t.Fatal("run all still marked as running")
	}
	if m.status != "12/12 done in 0.0 s, 0 failed" {
		t.Fatalf("status %q", m.status)
	}
	wantScreen(t, m, "12/12 done in 0.0 s, 0 failed")

	// A run that stops on its first tenant (as the fake's does).
	f = newFake(ts, clk.now, events)
	f.stepErr = errors.New("broker unreachable")
	m = New(Options{Events: events, Control: f, Tenants: ts, Broker: testBroker, Now: clk.now})
	m = update(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, _ = press(t, m, "a")
	m = feed(t, m, events)
	// The cause first, then what failed and the count.
	if m.status != "broker unreachable — run all (1/12 done in 0.0 s, 1 failed)" {
		t.Fatalf("status %q", m.status)
	}
}

// The progress line at 80×24 and 120×36.
func TestRunAllProgressGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 36}} {
		t.Run(strings.Join([]string{itoa(size[0]), itoa(size[1])}, "x"), func(t *testing.T) {
			m := thousandModel(t, size[0], size[1])
			m = update(t, m, keyPress("a"))
			for i := range 412 {
				kind := pipeline.EventStageFinished
				if i%100 == 7 {
					kind = pipeline.EventError
				}
				m = update(t, m, eventMsg(pipeline.Event{Kind: kind, Tenant: m.tp.tenants[i].ID, Stage: pipeline.StageRelease, Time: t0}))
			}
			m.now = func() time.Time { return t0.Add(2300 * time.Millisecond) }
			m.touchAll()
			requireGolden(t, m.View().Content)
		})
	}
}

func itoa(n int) string { return thousands(n) }

// During run-all the table and the log are redrawn at spinner frames, not
// for every event; the end of the run redraws them at once.
func TestRunAllRedrawsAtFrames(t *testing.T) {
	m, _, _ := newTestModel(t, 100, 30)
	m = update(t, m, keyPress("a"))
	tv, lv := m.ver.tenants, m.ver.log
	m = update(t, m, eventMsg(pipeline.Event{Kind: pipeline.EventStageStarted, Tenant: "bank", Stage: pipeline.StageCreate, Time: t0}))
	m = update(t, m, eventMsg(pipeline.Event{Kind: pipeline.EventStageFinished, Tenant: "bank", Stage: pipeline.StageCreate, Time: t0}))
	if m.ver.tenants != tv || m.ver.log != lv || m.stale != paneTenants|paneLog|snapshotDue {
		t.Fatalf("redrawn for an event during run-all (stale %b)", m.stale)
	}
	nm, cmd := m.Update(m.spin.Tick())
	m = nm.(Model)
	if m.ver.tenants == tv || m.ver.log == lv || m.stale != 0 {
		t.Fatal("not redrawn at the spinner frame")
	}
	if !m.refreshing || cmd == nil {
		t.Fatal("the deferred snapshot was not asked for at the spinner frame")
	}
	tv = m.ver.tenants
	m = update(t, m, runAllDoneMsg{})
	m = update(t, m, eventMsg(pipeline.Event{Kind: pipeline.EventStageStarted, Tenant: "bank", Stage: pipeline.StageExtract, Time: t0}))
	if m.ver.tenants == tv {
		t.Fatal("not redrawn after run-all")
	}
}
