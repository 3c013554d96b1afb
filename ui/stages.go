package ui

import (
	"github.com/charmbracelet/x/ansi"

	"github.com/tenantui/tenantui/pipeline"
)

// The ETL stepper: the selected tenant's five stages, the scope each needs
// and the decision it got.

// stageScope is what a stage needs: a scope, or a description for the stages
// that talk to the broker instead of a store.
func stageScope(t pipeline.Tenant, s pipeline.Stage) (text string, isScope bool) {
	switch s {
	case pipeline.StageCreate:
		return "register agent (broker)", false
	case pipeline.StageExtract, pipeline.StageTransform:
		return t.ReadScope, true
	case pipeline.StageLoad:
		return t.WriteScope, true
	case pipeline.StageRelease:
		return "release token (broker)", false
	}
	return "", false
}

// stageVerdict renders the decisions seen during a stage: ALLOW when every
// layer allowed, DENY naming the layer that refused.
func stageVerdict(st Styles, d stageDecision) (string, string) {
	var layers string
	allowed := true
	for _, a := range []*pipeline.Access{d.local, d.store} {
		if a == nil {
			continue
		}
		if layers != "" {
			layers += "+"
		}
		layers += string(a.Layer)
		if !a.Allowed {
			allowed = false
		}
	}
	if layers == "" {
		return "", ""
	}
	if !allowed {
		for _, a := range []*pipeline.Access{d.local, d.store} {
			if a != nil && !a.Allowed {
				return verdict(st, false), string(a.Layer)
			}
		}
	}
	return verdict(st, true), layers
}

// allAllowed reports whether d holds decisions and every one allowed.
func allAllowed(d stageDecision) bool {
	seen := false
	for _, a := range []*pipeline.Access{d.local, d.store} {
		if a != nil {
			if !a.Allowed {
				return false
			}
			seen = true
		}
	}
	return seen
}

// stepperLines renders the stepper body for tenant i at inner width.
func (p *tenantsPane) stepperLines(i int, st Styles, spin string, inner int) []string {
	if i < 0 {
		return nil
	}
	t := p.tenants[i]
	r := &p.stages[i]
	scopeW := max(len(t.ReadScope), len(t.WriteScope))
	lines := make([]string, 0, 6)
	for _, stg := range pipeline.Stages {
		m := p.mark(i, stg)
		name := pad(stg.String(), 9)
		switch m {
		case markRunning:
			name = st.StageRunning.Render(name)
		case markPending:
			name = st.StagePending.Render(name)
		case markFailed:
			name = st.StageFailed.Render(name)
		default:
			name = st.Value.Render(name)
		}
		v, layers := stageVerdict(st, r.dec[stg])
		if m == markFailed && allAllowed(r.dec[stg]) {
			// Every check allowed, yet the stage failed: the failure is
			// not a decision (the broker did not answer, say).
			v, layers = st.StageFailed.Render("ERROR"), ""
		}
		switch {
		case v != "":
		case m == markDone:
			v = st.Muted.Render("done")
		case m == markRunning:
			v = st.StageRunning.Render("…")
		case m == markFailed:
			v = st.StageFailed.Render("FAIL")
		}
		need, isScope := stageScope(t, stg)
		room := inner - 12 // glyph, name
		if v != "" {
			room -= 6
		}
		if isScope {
			need = st.Value.Render(pad(truncScope(need, room), min(scopeW, room)))
		} else {
			need = st.Muted.Render(pad(ansi.Truncate(need, room, "…"), min(scopeW, room)))
		}
		line := markGlyph(st, m, spin, false) + " " + name + " " + need
		if v != "" {
			line += " " + v
			if layers != "" && ansi.StringWidth(line)+len(layers)+3 <= inner {
				line += st.Muted.Render(" (" + layers + ")")
			}
		}
		lines = append(lines, line)
	}
	lines = append(lines, p.stepHint(i, st, inner))
	return lines
}

// stepHint is the stepper's last line: what enter will do, or what failed.
func (p *tenantsPane) stepHint(i int, st Styles, inner int) string {
	s := &p.states[i]
	if run := p.runningStage(i); run != pipeline.StageNone {
		return st.StageRunning.Render("running " + run.String() + "…")
	}
	over := st.Key.Render("enter") + st.Muted.Render(" starts over with a fresh agent")
	if inner < 64 {
		over = st.Key.Render("enter") + st.Muted.Render(" starts over")
	}
	if s.Err != "" {
		// The failure's cause first; what enter does is the way on.
		room := max(inner-ansi.StringWidth(over)-3, 12)
		return st.Error.Render(ansi.Truncate("✗ "+oneLine(s.Err), room, "…")) + st.Muted.Render(" · ") + over
	}
	next := nextStage(s, p.now)
	hint := st.Key.Render("enter") + st.Muted.Render(" → "+next.String())
	switch {
	case s.Stage == pipeline.StageRelease:
		hint = st.StageDone.Render("run complete") + st.Muted.Render(" · ") + st.Key.Render("enter") + st.Muted.Render(" starts over")
	case s.Stage > pipeline.StageNone && next == pipeline.StageCreate:
		hint = st.Muted.Render("agent "+stateWord(st, effectiveState(s.Agent, p.now), true)+" · ") + over
	default:
		if sc, ok := stageScope(p.tenants[i], next); ok {
			hint += st.Muted.Render(" needs " + truncScope(sc, max(inner-24, 8)))
		}
	}
	return hint
}
