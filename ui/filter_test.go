package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// thousandModel is a console over 1,000 tenants at w×h.
func thousandModel(t *testing.T, w, h int) Model {
	t.Helper()
	ts := manyTenants(1000)
	clk := &testClock{t: t0}
	f := newFake(ts, clk.now, nil)
	m := New(Options{Control: f, Tenants: ts, Broker: testBroker, TTL: 5 * time.Minute, Now: clk.now})
	m = update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m = update(t, m, snapshotMsg{snap: f.Snapshot()})
	return update(t, m, adminMsg{ok: true})
}

func typeKeys(t *testing.T, m Model, keys ...string) Model {
	t.Helper()
	for _, k := range keys {
		m = update(t, m, keyPress(k))
	}
	return m
}

func selectedID(m Model) string { return m.tp.tenants[m.tp.sel].ID }

// "/" narrows the list as you type (the title counts the matches), arrows
// move among the matches, enter keeps the selection and shows the whole
// catalog around it.
func TestFilterKeepsSelection(t *testing.T) {
	m := thousandModel(t, 100, 30)
	m = typeKeys(t, m, "/", "t", "0", "9", "9")
	if !m.tp.filter.active || m.tp.count() != 10 || selectedID(m) != "t0990" {
		t.Fatalf("after /t099: active %v, %d listed, selected %s", m.tp.filter.active, m.tp.count(), selectedID(m))
	}
	wantScreen(t, m, "Tenants (10 of 1,000)", "/t099▏", "▶ t0990", "t0999")
	m = typeKeys(t, m, "down", "down")
	m = typeKeys(t, m, "enter")
	if m.tp.filter.active || m.tp.count() != 1000 || selectedID(m) != "t0992" {
		t.Fatalf("after enter: active %v, %d listed, selected %s", m.tp.filter.active, m.tp.count(), selectedID(m))
	}
	wantScreen(t, m, "Tenants (1,000)", "▶ t0992", "of 1,000")
}

// esc clears the filter and goes back to the tenant selected before; keys
// that are commands elsewhere (q, ?, j) are text while typing; the kind and
// the name match too; backspace edits.
func TestFilterClearAndText(t *testing.T) {
	m := thousandModel(t, 100, 30)
	m = typeKeys(t, m, "down", "down", "/", "q")
	if m.quitting || m.tp.filter.query != "q" || m.tp.count() != 0 {
		t.Fatalf("q while typing: quitting %v, query %q, %d listed", m.quitting, m.tp.filter.query, m.tp.count())
	}
	wantScreen(t, m, "Tenants (0 of 1,000)", "no tenant matches")
	m = typeKeys(t, m, "backspace", "b", "a", "n", "k")
	if m.tp.count() != 333 {
		t.Fatalf("kind bank: %d listed, want 333", m.tp.count())
	}
	m = typeKeys(t, m, "esc")
	if m.tp.filter.active || m.tp.count() != 1000 || selectedID(m) != "t0002" {
		t.Fatalf("after esc: active %v, %d listed, selected %s", m.tp.filter.active, m.tp.count(), selectedID(m))
	}

	d, _, _ := newTestModel(t, 100, 30)
	d = typeKeys(t, d, "/", "s", "h", "o", "p", "w")
	if d.tp.count() != 1 || selectedID(d) != "retail" {
		t.Fatalf("name ShopWave: %d listed, selected %s", d.tp.count(), selectedID(d))
	}
}

// Home and End select the first and last tenant, in the whole list and in a
// filtered one.
func TestHomeEnd(t *testing.T) {
	m := thousandModel(t, 100, 30)
	m = typeKeys(t, m, "end")
	wantScreen(t, m, "▶ t0999", "of 1,000")
	m = typeKeys(t, m, "home")
	wantScreen(t, m, "▶ t0000")
	m = typeKeys(t, m, "/", "5", "0", "end")
	if selectedID(m) != "t0950" {
		t.Fatalf("end in /50: %s", selectedID(m))
	}
}

// tab gives the focus to the list, whose title is marked, and pgup/pgdn
// page it; tab again and they scroll the log, as before.
func TestFocusPaging(t *testing.T) {
	m := thousandModel(t, 100, 30)
	for i := range 30 {
		m.log.add(logEntry{at: t0, text: fmt.Sprint("entry ", i)})
	}
	rows := m.tenantRows()
	m = typeKeys(t, m, "tab", "pgdown")
	if m.focus != focusList || m.tp.sel != rows-1 || m.log.back != 0 {
		t.Fatalf("list focus: sel %d (want %d), log back %d", m.tp.sel, rows-1, m.log.back)
	}
	wantScreen(t, m, "▸ Tenants (1,000)")
	m = typeKeys(t, m, "pgdown", "pgup")
	if m.tp.sel != rows-1 {
		t.Fatalf("pgdown pgup: sel %d, want %d", m.tp.sel, rows-1)
	}
	m = typeKeys(t, m, "tab", "pgup")
	if m.focus != focusLog || m.tp.sel != rows-1 || m.log.back == 0 {
		t.Fatalf("log focus: sel %d, log back %d", m.tp.sel, m.log.back)
	}
	if strings.Contains(plain(m), "▸ Tenants") {
		t.Fatal("list still marked as focused")
	}
}

// A tall terminal lists more than the old 12 tenant rows.
func TestTallTerminalUsesRows(t *testing.T) {
	m := thousandModel(t, 200, 60)
	if r := m.tenantRows(); r < 20 {
		t.Fatalf("%d tenant rows at 200×60", r)
	}
	wantScreen(t, m, "t0024")
}

// The filter, goldened at 80×24 and 120×36.
func TestFilterGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 36}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := thousandModel(t, size[0], size[1])
			m = typeKeys(t, m, "/", "t", "0", "1", "down")
			requireGolden(t, m.View().Content)
		})
	}
}
