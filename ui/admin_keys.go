package ui

// The revoke menu's keys.

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

func (m Model) revokeKey(k tea.KeyPressMsg) (Model, tea.Cmd) {
	km := m.km
	switch {
	case key.Matches(k, km.Cancel):
		m.setMode(modeMain)
	case key.Matches(k, km.MenuUp):
		m.menu.move(-1)
	case key.Matches(k, km.MenuDown):
		m.menu.move(1)
	case key.Matches(k, km.Choose):
		t := m.tp.tenants[m.menu.tenant]
		level := revokeLevels[m.menu.sel]
		switch {
		case !m.admin.ok:
			why := m.admin.why
			if !m.admin.known {
				why = "admin availability unknown yet"
			}
			m.setStatus("revoke unavailable: "+why, true)
			return m, nil
		case m.tp.states[m.menu.tenant].Agent == nil:
			m.setStatus(t.ID+" has no agent to revoke", true)
			return m, nil
		}
		m.setMode(modeMain)
		return m, m.call(fmt.Sprintf("revoking %s agent (%s)…", t.ID, level), revokeCmd(m.ctrl, t.ID, level))
	}
	m.touch(&m.ver.detail)
	return m, nil
}
