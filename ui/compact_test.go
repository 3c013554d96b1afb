package ui

import (
	"regexp"
	"strings"
	"testing"
)

// At 80×24 the cross-tenant form shows every hint, u included.
func TestFormHintsFitAt80x24(t *testing.T) {
	m, _, _ := newTestModel(t, 80, 24)
	m = update(t, m, keyPress("x"))
	wantScreen(t, m, "acting agent", "operation", "enter run attempt", "u use released token", "esc cancel")
	if s := plain(m); strings.Contains(s, "more") {
		t.Fatalf("the form is cut:\n%s", s)
	}
	requireGolden(t, m.View().Content)
}

// With help open over the form, esc closes the help and keeps the form.
func TestEscClosesHelpFirst(t *testing.T) {
	m, _, _ := newTestModel(t, 80, 24)
	m = typeKeys(t, m, "x", "?", "esc")
	if m.showHelp || m.mode != modeCross {
		t.Fatalf("help %v, mode %v", m.showHelp, m.mode)
	}
	m = typeKeys(t, m, "esc")
	if m.mode != modeMain {
		t.Fatal("the second esc must cancel the form")
	}
}

// At 80×24 a detail pane taller than its box scrolls: its title says how
// much is hidden, tab gives it the focus and pgup/pgdn move it.
func TestDetailScrollsAt80x24(t *testing.T) {
	m, _, _ := newTestModel(t, 80, 24)
	m, _ = press(t, m, "enter", "enter", "enter", "enter", "p")
	if m.detail != detailPreview {
		t.Fatal("p must open the preview")
	}
	wantScreen(t, m, "↑0 ↓", " tab")
	first := plain(m)
	m = typeKeys(t, m, "tab", "tab")
	if m.focus != focusDetail {
		t.Fatalf("focus %v after two tabs with a detail open", m.focus)
	}
	wantScreen(t, m, "▸ Data · hospital", "pgup/pgdn")
	m = typeKeys(t, m, "pgdown")
	if m.detailOff == 0 || plain(m) == first {
		t.Fatal("pgdown did not scroll the detail pane")
	}
	if !strings.Contains(plain(m), "↑") || strings.Contains(plain(m), "↑0 ") {
		t.Fatalf("title does not say lines are hidden above:\n%s", plain(m))
	}
	for range 20 {
		m = typeKeys(t, m, "pgdown")
	}
	wantScreen(t, m, "↓0 pgup/pgdn")
	m = typeKeys(t, m, "tab")
	if m.focus != focusLog {
		t.Fatalf("focus %v, want the log", m.focus)
	}
}

// With a thousand tenants at 80×24 the table yields two rows to the form, so
// the form still shows every hint, and the selected tenant stays in view.
func TestFormFitsWithManyTenants(t *testing.T) {
	m := thousandModel(t, 80, 24)
	m = typeKeys(t, m, "down", "down", "down", "down", "x")
	wantScreen(t, m, "acting agent", "u use released token", "esc cancel", "▶ t0004")
	if s := plain(m); regexp.MustCompile(`↑\d+ ↓\d+`).MatchString(s) {
		t.Fatalf("the form scrolls:\n%s", s)
	}
	m = typeKeys(t, m, "esc")
	wantScreen(t, m, "▶ t0004")
}
