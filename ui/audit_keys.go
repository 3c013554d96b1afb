package ui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// auditRefreshEvery is how often an open audit screen that follows the
// newest events asks for the trail again.
const auditRefreshEvery = 5 * time.Second

// auditMoreKey handles the audit screen's Home/End, typed filters and
// refresh. It reports whether it used the key.
func (m *Model) auditMoreKey(k tea.KeyPressMsg) (bool, tea.Cmd) {
	a := &m.audit
	if a.typing {
		return true, m.auditTypeKey(k)
	}
	km, rows := m.km, m.auditRows()
	switch {
	case key.Matches(k, km.Oldest):
		a.back = max(len(a.rows)-rows, 0)
	case key.Matches(k, km.Newest):
		a.back = 0
	case key.Matches(k, km.TypeFilter):
		if a.focus < len(a.opts) && len(a.opts[a.focus]) > 0 {
			a.typing, a.query, a.prevIdx = true, "", a.idx[a.focus]
		}
	case key.Matches(k, km.Refresh):
		return true, m.auditFetch("refreshing the audit trail…")
	default:
		return false, nil
	}
	return true, nil
}

// auditTypeKey edits the typed value: the focused filter shows the first
// choice containing it as you type; enter applies it, esc restores the
// previous choice.
func (m *Model) auditTypeKey(k tea.KeyPressMsg) tea.Cmd {
	a := &m.audit
	switch {
	case key.Matches(k, m.keys.FilterAccept):
		a.typing = false
		return m.auditFetch("filtering the audit trail…")
	case key.Matches(k, m.keys.FilterClear):
		a.typing = false
		a.idx[a.focus] = a.prevIdx
		return nil
	case key.Matches(k, m.keys.Erase):
		if r := []rune(a.query); len(r) > 0 {
			a.query = string(r[:len(r)-1])
		}
	case k.Text != "" && k.Mod&(tea.ModCtrl|tea.ModAlt) == 0:
		a.query += k.Text
	default:
		return nil
	}
	a.idx[a.focus] = a.match(a.focus, a.query)
	return nil
}

// match is the index of the first choice of filter f containing q (case
// insensitive), or 0 ("all") when none does or q is empty.
func (a *auditPane) match(f int, q string) int {
	if q == "" {
		return 0
	}
	lq := strings.ToLower(q)
	for i, v := range a.opts[f] {
		if v != "" && strings.Contains(strings.ToLower(v), lq) {
			return i
		}
	}
	return 0
}

// auditFetch asks for the listing of the current filter.
func (m *Model) auditFetch(label string) tea.Cmd {
	if m.ctrl == nil || !m.admin.ok || m.audit.loading {
		return nil
	}
	m.audit.loading = true
	m.audit.fetched = m.now()
	return m.call(label, auditCmd(m.ctrl, m.audit.filter()))
}

// auditAutoRefresh refreshes an open audit screen every auditRefreshEvery,
// unless the reader has scrolled back or is typing a filter.
func (m *Model) auditAutoRefresh() tea.Cmd {
	a := &m.audit
	if m.mode != modeAudit || a.loading || a.typing || a.back > 0 || a.res == nil {
		return nil
	}
	now := m.now()
	if a.fetched.IsZero() {
		a.fetched = now
		return nil
	}
	if now.Sub(a.fetched) < auditRefreshEvery {
		return nil
	}
	m.touch(&m.ver.audit)
	return m.auditFetch("refreshing the audit trail…")
}

func (m Model) auditKey(k tea.KeyPressMsg) (Model, tea.Cmd) {
	km := m.km
	rows := m.auditRows()
	if used, cmd := m.auditMoreKey(k); used { // audit_keys.go
		m.touch(&m.ver.audit)
		return m, cmd
	}
	switch {
	case key.Matches(k, km.Back):
		m.setMode(modeMain)
		return m, nil
	case key.Matches(k, km.Filter):
		m.audit.focus = (m.audit.focus + 1) % len(auditFilterNames)
	case key.Matches(k, km.FilterValue, km.FilterNext):
		d := 1
		if key.Matches(k, km.FilterValue) {
			d = -1
		}
		before := m.audit.filter()
		m.audit.change(d)
		if f := m.audit.filter(); f != before && m.ctrl != nil && m.admin.ok {
			m.audit.loading = true
			m.touch(&m.ver.audit)
			return m, m.call("filtering the audit trail…", auditCmd(m.ctrl, f))
		}
	case key.Matches(k, km.ScrollUp):
		m.audit.scroll(-1, rows)
	case key.Matches(k, km.ScrollDown):
		m.audit.scroll(1, rows)
	case key.Matches(k, km.PageUp):
		m.audit.scroll(-(rows - 1), rows)
	case key.Matches(k, km.PageDown):
		m.audit.scroll(rows-1, rows)
	}
	m.touch(&m.ver.audit)
	return m, nil
}
