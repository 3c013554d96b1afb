package ui

import (
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// auditModel opens the audit screen over n tenants that each ran a stage.
func auditModel(t *testing.T, n int) (Model, *fakeCtrl, *testClock) {
	t.Helper()
	ts := manyTenants(n)
	clk := &testClock{t: t0}
	f := newFake(ts, clk.now, nil)
	m := New(Options{Control: f, Tenants: ts, Broker: testBroker, Now: clk.now})
	m = update(t, m, tea.WindowSizeMsg{Width: 120, Height: 34})
	m = update(t, m, adminMsg{ok: true})
	for range n {
		m, _ = press(t, m, "enter", "down")
	}
	nm, cmd := m.Update(keyPress("A"))
	m = update(t, nm.(Model), firstMsg[auditDoneMsg](t, cmd))
	return m, f, clk
}

// Home and End jump to the oldest and newest events.
func TestAuditHomeEnd(t *testing.T) {
	m, _, _ := auditModel(t, 20) // 40 events, more than the screen
	m = update(t, m, keyPress("home"))
	if m.audit.back != len(m.audit.rows)-m.auditRows() || m.audit.back == 0 {
		t.Fatalf("home: back %d of %d rows", m.audit.back, len(m.audit.rows))
	}
	wantScreen(t, m, "t0000")
	m = update(t, m, keyPress("end"))
	if m.audit.back != 0 {
		t.Fatalf("end: back %d", m.audit.back)
	}
	wantScreen(t, m, "t0019")
}

// "/" types the focused filter's value: the first matching choice shows as
// you type (q is text, not quit), enter fetches it, esc restores.
func TestAuditTypedFilter(t *testing.T) {
	m, _, _ := auditModel(t, 20)
	m = typeKeys(t, m, "/", "q")
	if m.quitting || !m.audit.typing {
		t.Fatal("q while typing a filter must be text")
	}
	m = typeKeys(t, m, "backspace", "1", "7")
	if got := m.audit.filter().Tenant; got != "t0017" {
		t.Fatalf("typed 17: tenant filter %q", got)
	}
	wantScreen(t, m, "tenant: 17▏", "tenant ‹ t0017")
	nm, cmd := m.Update(keyPress("enter"))
	m = nm.(Model)
	msg := firstMsg[auditDoneMsg](t, cmd)
	if msg.filter.Tenant != "t0017" || len(msg.res.Entries) != 2 {
		t.Fatalf("typed filter fetched %+v (%d entries)", msg.filter, len(msg.res.Entries))
	}
	m = update(t, m, msg)
	wantScreen(t, m, "showing 2 of 40")

	m = typeKeys(t, m, "/", "9", "esc")
	if got := m.audit.filter().Tenant; got != "t0017" || m.audit.typing {
		t.Fatalf("esc: tenant filter %q, typing %v", got, m.audit.typing)
	}
}

// r refreshes; an open screen that follows the newest events refreshes by
// itself every few seconds, and not while scrolled back.
func TestAuditRefresh(t *testing.T) {
	m, f, clk := auditModel(t, 3)
	nm, cmd := m.Update(keyPress("r"))
	m = nm.(Model)
	msg := firstMsg[auditDoneMsg](t, cmd)
	m = update(t, m, msg)
	calls := len(f.Calls())

	// Another event in the broker's trail, then the clock runs.
	f.mu.Lock()
	f.auditf("token_released", "x", "etl-t0001-1", "success", "released")
	f.mu.Unlock()
	clk.t = clk.t.Add(auditRefreshEvery + time.Second)
	nm, cmd = m.Update(tickMsg{gen: m.gen})
	m = nm.(Model)
	msg = firstMsg[auditDoneMsg](t, cmd)
	if len(f.Calls()) != calls+1 || msg.res.Total != 7 {
		t.Fatalf("auto-refresh: %d new calls, total %d", len(f.Calls())-calls, msg.res.Total)
	}
	m = update(t, m, msg)
	wantScreen(t, m, "showing 7 of 7")

	m.audit.back = 1 // reading older events: leave the screen alone
	clk.t = clk.t.Add(auditRefreshEvery + time.Second)
	nm, _ = m.Update(tickMsg{gen: m.gen})
	if nm.(Model).audit.loading {
		t.Fatal("refreshed while scrolled back")
	}
}
