package ui

// The main screen's keys: the tenant list, stages and the actions on the
// selected tenant.

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/pipeline"
)

func (m Model) mainKey(k tea.KeyPressMsg) (Model, tea.Cmd) {
	km := m.km
	i := m.tp.selected()
	var t pipeline.Tenant
	if i >= 0 {
		t = m.tp.tenants[i]
	}
	switch {
	case key.Matches(k, km.Up):
		m.tp.move(-1, m.tenantRows())
		m.touch(&m.ver.tenants)
	case key.Matches(k, km.Down):
		m.tp.move(1, m.tenantRows())
		m.touch(&m.ver.tenants)
	case key.Matches(k, km.Close):
		switch {
		case m.showHelp:
			m.showHelp = false
		case m.detail != detailNone:
			m.detail = detailNone
			m.touch(&m.ver.detail)
		default:
			m.log.back = 0
			m.touch(&m.ver.log)
		}
	case m.listKey(k):
	case key.Matches(k, km.LogUp):
		m.log.scroll(-max(m.logRows()-1, 1), m.logRows())
		m.touch(&m.ver.log)
	case key.Matches(k, km.LogDown):
		m.log.scroll(max(m.logRows()-1, 1), m.logRows())
		m.touch(&m.ver.log)
	case key.Matches(k, km.Preview):
		if m.detail == detailPreview {
			m.detail = detailNone
		} else {
			m.detail = detailPreview
		}
		m.touch(&m.ver.detail)
	}
	if i < 0 || m.ctrl == nil {
		if key.Matches(k, km.Step, km.RunAll, km.Cross, km.Isolation, km.Matrix, km.Renew, km.Release,
			km.Revoke, km.Delegate, km.OverCeiling, km.Audit) {
			m.setStatus("nothing to drive: no tenants or no controller", true)
		}
		return m, nil
	}
	s := &m.tp.states[i]
	switch {
	case key.Matches(k, km.Step):
		if m.tp.stages[i].inflight || m.runAll {
			m.setStatus(t.ID+" is busy: wait for the running stage", true)
			return m, nil
		}
		m.tp.stages[i].inflight = true
		m.touch(&m.ver.tenants)
		label := fmt.Sprintf("%s: %s…", t.ID, nextStage(s, m.now()))
		if s.Stage > pipeline.StageNone && s.Stage < pipeline.StageRelease && startsOver(s, m.now()) {
			label = fmt.Sprintf("%s: starting over with a fresh agent…", t.ID)
		}
		return m, m.call(label, stepCmd(m.ctrl, t.ID))
	case key.Matches(k, km.RunAll):
		if m.runAll {
			m.setStatus("already running every tenant", true)
			return m, nil
		}
		m.runAll = true
		m.prog.start(len(m.tp.tenants), m.now())
		return m, m.call(fmt.Sprintf("running all %d tenants…", len(m.tp.tenants)), runAllCmd(m.ctrl))
	case key.Matches(k, km.Cross):
		m.form.open(i, len(m.tp.tenants))
		m.setMode(modeCross)
	case key.Matches(k, km.Isolation):
		m.iso = isolationState{pending: true}
		m.showDetail(detailIsolation)
		return m, m.call("isolation check…", isolationCmd(m.ctrl))
	case key.Matches(k, km.Matrix):
		m.matrix = matrixState{pending: true}
		m.showDetail(detailMatrix)
		return m, m.call("probing every actor × target…", matrixCmd(m.ctrl))
	case key.Matches(k, km.Renew):
		if s.Agent == nil {
			m.setStatus(t.ID+" has no agent yet: press enter to create one", true)
			return m, nil
		}
		return m, m.call("renewing "+t.ID+" agent…", renewCmd(m.ctrl, t.ID))
	case key.Matches(k, km.Release):
		switch st := effectiveState(s.Agent, m.now()); st {
		case pipeline.AgentNone:
			m.setStatus(t.ID+" has no agent yet: press enter to create one", true)
			return m, nil
		case pipeline.AgentReleased:
			m.setStatus(t.ID+" agent is already released", false)
			return m, nil
		}
		return m, m.call("releasing "+t.ID+" agent…", releaseCmd(m.ctrl, t.ID))
	case key.Matches(k, km.Revoke):
		m.menu = revokeMenu{tenant: i}
		m.setMode(modeRevoke)
	case key.Matches(k, km.Delegate):
		if len(m.tp.tenants) < 2 {
			m.setStatus("delegation needs two tenants", true)
			return m, nil
		}
		to := m.tp.tenants[(i+1)%len(m.tp.tenants)]
		m.deleg = delegationState{from: t.ID, to: to.ID, pending: true}
		m.showDetail(detailDelegation)
		return m, m.call(fmt.Sprintf("%s agent delegating to %s agent…", t.ID, to.ID), delegateCmd(m.ctrl, t, to))
	case key.Matches(k, km.OverCeiling):
		m.over = overCeilingState{tenant: t.ID, pending: true}
		m.showDetail(detailOverCeiling)
		return m, m.call("asking for read:billing:"+t.ID+"…", overCeilingCmd(m.ctrl, t.ID))
	case key.Matches(k, km.Audit):
		m.setMode(modeAudit)
		m.audit.loading = true
		m.touch(&m.ver.audit)
		if m.admin.known && !m.admin.ok {
			m.audit.loading = false
			return m, nil
		}
		return m, m.call("fetching the audit trail…", auditCmd(m.ctrl, pipeline.AuditFilter{}))
	}
	return m, nil
}
