package ui

// The cross-tenant form's keys.

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

func (m Model) crossKey(k tea.KeyPressMsg) (Model, tea.Cmd) {
	km := m.km
	n := len(m.tp.tenants)
	switch {
	case key.Matches(k, km.Cancel):
		m.setMode(modeMain)
	case key.Matches(k, km.FieldPrev):
		m.form.moveField(-1)
	case key.Matches(k, km.FieldNext):
		m.form.moveField(1)
	case key.Matches(k, km.ValuePrev):
		m.form.change(-1, n)
	case key.Matches(k, km.ValueNext):
		m.form.change(1, n)
	case key.Matches(k, km.Run, km.Released):
		if n == 0 || m.ctrl == nil {
			m.setMode(modeMain)
			return m, nil
		}
		released := key.Matches(k, km.Released)
		a, t := m.tp.tenants[m.form.actor].ID, m.tp.tenants[m.form.target].ID
		m.probe = probeState{actor: a, target: t, op: m.form.op, released: released, pending: true}
		m.setMode(modeMain)
		m.showDetail(detailProbe)
		label := fmt.Sprintf("%s agent → %s %s…", a, t, m.form.op.Label())
		return m, m.call(label, probeCmd(m.ctrl, a, t, m.form.op, released))
	}
	m.touch(&m.ver.detail)
	return m, nil
}
