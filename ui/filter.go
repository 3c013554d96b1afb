package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// The tenant filter: "/" narrows the tenants table as you type, matching the
// id, name or kind (case-insensitively, anywhere). enter keeps the tenant
// selected in the narrowed list and shows the whole catalog again around it;
// esc clears the filter and goes back to the tenant selected before. The
// matches are derived here, in Update, never in View.

// tenantFilter is the filter's state, owned by tenantsPane.
type tenantFilter struct {
	active  bool   // typing a query
	query   string // as typed
	prevSel int    // selection before the filter opened (esc goes back)
	matches []int  // indices of matching tenants, in catalog order; nil: all
}

// openFilter starts typing a query.
func (p *tenantsPane) openFilter() {
	p.filter = tenantFilter{active: true, prevSel: p.sel}
	p.off = 0
}

// setQuery narrows the table to the tenants matching q and selects the
// first match when the selected tenant is filtered out.
func (p *tenantsPane) setQuery(q string, rows int) {
	p.filter.query = q
	if q == "" {
		p.filter.matches = nil
	} else {
		lq := strings.ToLower(q)
		p.filter.matches = p.filter.matches[:0:0]
		for i, t := range p.tenants {
			if strings.Contains(strings.ToLower(t.ID), lq) || strings.Contains(strings.ToLower(t.Name), lq) ||
				strings.Contains(strings.ToLower(string(t.Kind)), lq) {
				p.filter.matches = append(p.filter.matches, i)
			}
		}
	}
	if p.pos(p.sel) < 0 && p.count() > 0 {
		p.sel = p.at(0)
	}
	p.off = 0
	p.scrollTo(rows)
}

// closeFilter ends the filter: keep=true leaves the selection on the tenant
// picked in the narrowed list (if any matched), keep=false restores the one
// selected before. The whole catalog shows again.
func (p *tenantsPane) closeFilter(keep bool, rows int) {
	if !keep || p.count() == 0 {
		p.sel = p.filter.prevSel
	}
	p.filter = tenantFilter{}
	p.scrollTo(rows)
}

// count is the number of tenants the table lists.
func (p *tenantsPane) count() int {
	if p.filter.matches != nil || p.filter.query != "" {
		return len(p.filter.matches)
	}
	return len(p.tenants)
}

// at is the catalog index of the k-th listed tenant.
func (p *tenantsPane) at(k int) int {
	if p.filter.matches != nil || p.filter.query != "" {
		return p.filter.matches[k]
	}
	return k
}

// pos is the position of catalog index i in the list, or -1 if filtered out.
func (p *tenantsPane) pos(i int) int {
	if p.filter.matches == nil && p.filter.query == "" {
		return i
	}
	for k, j := range p.filter.matches {
		if j == i {
			return k
		}
	}
	return -1
}

// filterKey handles a key while the query is being typed: text extends it,
// backspace shortens it, ↑/↓, Home/End and pgup/pgdn move among the matches.
func (m Model) filterKey(k tea.KeyPressMsg) (Model, tea.Cmd) {
	rows := m.tenantRows()
	switch {
	case key.Matches(k, m.keys.FilterAccept):
		sel := m.tp.sel
		m.tp.closeFilter(true, rows)
		if m.tp.sel == sel && len(m.tp.tenants) > 0 {
			m.setStatus("selected "+m.tp.tenants[sel].ID, false)
		}
	case key.Matches(k, m.keys.FilterClear):
		m.tp.closeFilter(false, rows)
	case key.Matches(k, m.keys.Up):
		if k.Text == "" { // an arrow; "k" is part of the query
			m.tp.move(-1, rows)
		} else {
			m.tp.setQuery(m.tp.filter.query+k.Text, rows)
		}
	case key.Matches(k, m.keys.Down):
		if k.Text == "" {
			m.tp.move(1, rows)
		} else {
			m.tp.setQuery(m.tp.filter.query+k.Text, rows)
		}
	case key.Matches(k, m.keys.Home):
		m.tp.moveTo(0, rows)
	case key.Matches(k, m.keys.End):
		m.tp.moveTo(m.tp.count()-1, rows)
	case key.Matches(k, m.keys.PageUp):
		m.tp.move(-max(rows-1, 1), rows)
	case key.Matches(k, m.keys.PageDown):
		m.tp.move(max(rows-1, 1), rows)
	case key.Matches(k, m.keys.Erase):
		if q := m.tp.filter.query; q != "" {
			r := []rune(q)
			m.tp.setQuery(string(r[:len(r)-1]), rows)
		}
	case k.Text != "" && k.Mod&(tea.ModCtrl|tea.ModAlt) == 0:
		m.tp.setQuery(m.tp.filter.query+k.Text, rows)
	}
	m.touch(&m.ver.tenants)
	return m, nil
}

// listKey handles the main screen's list keys: "/" opens the filter,
// Home/End select the first and last tenant, tab moves the focus between the
// list and the log, and pgup/pgdn page the list when it has the focus. It
// reports whether it used the key.
func (m *Model) listKey(k tea.KeyPressMsg) bool {
	km, rows := m.km, m.tenantRows()
	switch {
	case key.Matches(k, km.FilterOpen):
		m.tp.openFilter()
	case key.Matches(k, km.Home):
		m.tp.moveTo(0, rows)
	case key.Matches(k, km.End):
		m.tp.moveTo(m.tp.count()-1, rows)
	case key.Matches(k, km.Focus):
		m.focus = m.nextFocus()
		m.touch(&m.ver.log)
		m.touch(&m.ver.detail)
	case m.focus == focusList && key.Matches(k, km.PageUp):
		m.tp.move(-max(rows-1, 1), rows)
	case m.focus == focusList && key.Matches(k, km.PageDown):
		m.tp.move(max(rows-1, 1), rows)
	case m.focus == focusDetail && m.detail != detailNone && key.Matches(k, km.PageUp, km.PageDown):
		d := max(m.detailRows()-1, 1)
		if key.Matches(k, km.PageUp) {
			d = -d
		}
		m.detailOff = max(m.detailOff+d, 0) // clamped when drawn
		m.touch(&m.ver.detail)
		return true
	default:
		return false
	}
	m.touch(&m.ver.tenants)
	return true
}

// paneFocus is the pane pgup/pgdn page on the main screen.
type paneFocus int

const (
	focusLog    paneFocus = iota // the default, as before there was a focus
	focusList                    // the tenant list
	focusDetail                  // the open detail pane (probe, matrix, preview…)
)

// nextFocus is the focus after tab: log → list → detail (when one is open)
// → log.
func (m *Model) nextFocus() paneFocus {
	switch m.focus {
	case focusLog:
		return focusList
	case focusList:
		if m.detail != detailNone {
			return focusDetail
		}
	}
	return focusLog
}

// detailRows is roughly how many lines the detail pane shows (for paging).
func (m *Model) detailRows() int {
	l := m.layout()
	return max(l.bottomH-2, 1)
}

// scrollDetail windows a detail pane that overflows its rows: the lines from
// detailOff (clamped), and a note saying what is hidden and how to see it.
func (m Model) scrollDetail(title, note string, lines []string, rows int) (string, string, []string) {
	if rows <= 0 || len(lines) <= rows {
		return title, note, lines
	}
	off := min(m.detailOff, len(lines)-rows)
	below := len(lines) - rows - off
	hint := fmt.Sprintf("↑%d ↓%d", off, below)
	if m.focus == focusDetail {
		title = "▸ " + title
		hint += " pgup/pgdn"
	} else {
		hint += " tab"
	}
	return title, m.st.Warn.Render(hint), lines[off : off+rows]
}
