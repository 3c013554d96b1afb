package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// tenantsPane owns the tenant catalog and everything known about each
// tenant: the latest snapshot, the decisions seen per stage (from events),
// which tenants have a step in flight, and the selection. It renders the
// tenants table; the agent card and the stepper read the selected tenant.
type tenantsPane struct {
	tenants []pipeline.Tenant
	index   map[string]int
	states  []pipeline.TenantState // aligned with tenants
	stages  []stageRecord          // aligned with tenants
	sel     int
	off     int // first visible row

	now    time.Time    // when live was counted
	filter tenantFilter // "/" narrows the list (filter.go)

	live       int       // active, unexpired agents (derived)
	nextExpiry time.Time // earliest expiry among active agents (zero if none)
	idW        int       // widest tenant id, for the id column
}

// stageRecord is what the events told us about one tenant's stages.
type stageRecord struct {
	current  pipeline.Stage   // stage started and not yet finished
	inflight bool             // the console is waiting for a Step on this tenant
	dec      [6]stageDecision // by stage
	lastErr  [6]string        // by stage, the last failure
}

// stageDecision holds the last local and store decisions taken during a stage.
type stageDecision struct {
	local, store *pipeline.Access
}

func newTenantsPane(ts []pipeline.Tenant) tenantsPane {
	p := tenantsPane{
		tenants: ts,
		index:   make(map[string]int, len(ts)),
		states:  make([]pipeline.TenantState, len(ts)),
		stages:  make([]stageRecord, len(ts)),
	}
	for i, t := range ts {
		p.index[t.ID] = i
		p.states[i] = pipeline.TenantState{Tenant: t}
		p.idW = max(p.idW, len(t.ID))
	}
	p.idW = min(max(p.idW, 6), 20)
	return p
}

// selected returns the selected tenant's index, or -1 with no tenants.
func (p *tenantsPane) selected() int {
	if len(p.tenants) == 0 {
		return -1
	}
	return p.sel
}

// move changes the selection by delta rows of the list (the filtered one,
// while filtering) and keeps it visible in rows rows.
func (p *tenantsPane) move(delta, rows int) {
	p.moveTo(max(p.pos(p.sel), 0)+delta, rows)
}

// moveTo selects the k-th listed tenant (clamped) and keeps it visible.
func (p *tenantsPane) moveTo(k, rows int) {
	if p.count() == 0 {
		return
	}
	p.sel = p.at(min(max(k, 0), p.count()-1))
	p.scrollTo(rows)
}

// scrollTo adjusts the offset so the selection is within the rows visible.
func (p *tenantsPane) scrollTo(rows int) {
	rows = max(rows, 1)
	if k := p.pos(p.sel); k >= 0 {
		if k < p.off {
			p.off = k
		}
		if k >= p.off+rows {
			p.off = k - rows + 1
		}
	}
	p.off = min(max(p.off, 0), max(p.count()-rows, 0))
}

// applySnapshot replaces the states of the tenants in snap (matched by id)
// and recomputes the derived counters.
func (p *tenantsPane) applySnapshot(snap snapshot, now time.Time) {
	for _, s := range snap {
		if i, ok := p.index[s.Tenant.ID]; ok {
			p.states[i] = s
		}
	}
	p.recount(now)
}

// recount derives the live agent count and the next expiry.
func (p *tenantsPane) recount(now time.Time) {
	p.now, p.live, p.nextExpiry = now, 0, time.Time{}
	for i := range p.states {
		a := p.states[i].Agent
		if a == nil || a.State != pipeline.AgentActive || !now.Before(a.ExpiresAt) {
			continue
		}
		p.live++
		if p.nextExpiry.IsZero() || a.ExpiresAt.Before(p.nextExpiry) {
			p.nextExpiry = a.ExpiresAt
		}
	}
}

// applyEvent records stage progress and the decisions taken during a
// stage. It reports whether the tenants table changed.
func (p *tenantsPane) applyEvent(ev pipeline.Event) bool {
	i, ok := p.index[ev.Tenant]
	if !ok {
		return false
	}
	r := &p.stages[i]
	switch ev.Kind {
	case pipeline.EventStageStarted:
		r.current = ev.Stage
		if ev.Stage > pipeline.StageNone && int(ev.Stage) < len(r.dec) {
			r.dec[ev.Stage] = stageDecision{}
			r.lastErr[ev.Stage] = ""
		}
		if ev.Stage == pipeline.StageCreate { // a new run: forget the old run's decisions
			r.dec = [6]stageDecision{}
			r.lastErr = [6]string{}
		}
		return true
	case pipeline.EventStageFinished:
		if r.current == ev.Stage {
			r.current = pipeline.StageNone
		}
		return true
	case pipeline.EventError:
		if ev.Stage > pipeline.StageNone && int(ev.Stage) < len(r.lastErr) {
			r.lastErr[ev.Stage] = ev.Err
			if r.current == ev.Stage {
				r.current = pipeline.StageNone
			}
		}
		return true
	case pipeline.EventDecision:
		a := ev.Access
		if a == nil || a.Actor != a.Target {
			return false
		}
		st := ev.Stage
		if st == pipeline.StageNone {
			st = r.current
		}
		if st <= pipeline.StageNone || int(st) >= len(r.dec) {
			return false
		}
		ac := *a
		switch a.Layer {
		case pipeline.LayerStore:
			r.dec[st].store = &ac
		default:
			r.dec[st].local = &ac
		}
		return true
	}
	return false
}

// runningStage is the stage shown as running for tenant i: the snapshot's,
// else the stage an event said started, else the next stage of an in-flight
// Step.
func (p *tenantsPane) runningStage(i int) pipeline.Stage {
	s := &p.states[i]
	switch {
	case s.Running != pipeline.StageNone:
		return s.Running
	case p.stages[i].current != pipeline.StageNone:
		return p.stages[i].current
	case p.stages[i].inflight:
		return nextStage(s, p.now)
	}
	return pipeline.StageNone
}

// anyRunning reports whether some tenant shows a running stage (the table
// then animates with the spinner).
func (p *tenantsPane) anyRunning() bool {
	for i := range p.states {
		if p.runningStage(i) != pipeline.StageNone {
			return true
		}
	}
	return false
}

// nextStage is the stage the next Step will run, as the runner decides it.
func nextStage(s *pipeline.TenantState, now time.Time) pipeline.Stage {
	if startsOver(s, now) {
		return pipeline.StageCreate
	}
	return s.Stage + 1
}

// startsOver reports whether the next Step starts the tenant over with a
// fresh agent: after a finished run, after a failed stage, and when its
// agent can no longer act (expired, revoked, released mid-run).
func startsOver(s *pipeline.TenantState, now time.Time) bool {
	if s.Stage == pipeline.StageNone || s.Stage == pipeline.StageRelease {
		return true
	}
	return s.Err != "" || effectiveState(s.Agent, now) != pipeline.AgentActive
}

// stageMark is the glyph of stage st for tenant i: ✓ done, ▸ running (the
// spinner frame when animating), ✗ failed, · pending.
type stageMark int

const (
	markPending stageMark = iota
	markDone
	markRunning
	markFailed
)

func (p *tenantsPane) mark(i int, st pipeline.Stage) stageMark {
	s := &p.states[i]
	run := p.runningStage(i)
	switch {
	case run == st:
		return markRunning
	case st > s.Stage && (p.stages[i].lastErr[st] != "" ||
		(s.Err != "" && run == pipeline.StageNone && st == s.Stage+1)):
		return markFailed
	case st <= s.Stage:
		return markDone
	}
	return markPending
}

func markGlyph(st Styles, m stageMark, spin string, plain bool) string {
	g, sty := "·", st.StagePending
	switch m {
	case markDone:
		g, sty = "✓", st.StageDone
	case markRunning:
		g, sty = "▸", st.StageRunning
		if spin != "" {
			g = spin
		}
	case markFailed:
		g, sty = "✗", st.StageFailed
	}
	if plain {
		return g
	}
	return sty.Render(g)
}

// stateWord is the agent state as the table shows it (upper case when the
// agent is dead for a reason worth noticing).
func stateWord(st Styles, s pipeline.AgentState, plain bool) string {
	w, sty := "—", st.StateNone
	switch s {
	case pipeline.AgentActive:
		w, sty = "active", st.StateActive
	case pipeline.AgentReleased:
		w, sty = "released", st.StateReleased
	case pipeline.AgentExpired:
		w, sty = "EXPIRED", st.StateExpired
	case pipeline.AgentRevoked:
		w, sty = "REVOKED", st.StateRevoked
	}
	if plain {
		return w
	}
	return sty.Render(w)
}

// effectiveState is the agent's state as of now: an active agent whose
// countdown reached zero is expired, whatever the last snapshot said.
func effectiveState(a *pipeline.AgentInfo, now time.Time) pipeline.AgentState {
	if a == nil {
		return pipeline.AgentNone
	}
	if a.State == pipeline.AgentActive && !now.Before(a.ExpiresAt) {
		return pipeline.AgentExpired
	}
	return a.State
}

// tenantColumns decides which optional columns fit in width.
type tenantColumns struct {
	id, dataType, scopes, name int // widths; 0 = hidden
}

func (p *tenantsPane) columns(width int) tenantColumns {
	c := tenantColumns{id: p.idW}
	used := 2 + c.id + 2 + 9 + 2 + 8 // marker, id, stages, state
	if used+22 <= width {
		c.dataType = 20
		used += 22
	}
	sw := 0
	if len(p.tenants) > 0 {
		t := p.tenants[p.sel]
		sw = len(t.ReadScope) + 1 + len(t.WriteScope)
		for _, t := range p.tenants[:min(len(p.tenants), 50)] {
			sw = max(sw, len(t.ReadScope)+1+len(t.WriteScope))
		}
	}
	if sw > 0 && used+sw+2 <= width {
		c.scopes = sw
		used += sw + 2
	}
	if used+22 <= width {
		c.name = 20
	}
	return c
}

// rowsFor is how many tenant rows fit in a table box of height h.
func rowsFor(h int) int { return max(h-3, 1) }

// view renders the tenants table as a box of w×h. spin is the spinner frame
// for running stages ("" when not animating); now decides expiry.
func (p *tenantsPane) view(w, h int, st Styles, spin string, now time.Time, focused bool) []string {
	inner := w - 4
	c := p.columns(inner)
	rows := rowsFor(h)
	lines := make([]string, 0, rows+1)

	hdr := "  " + pad("TENANT", c.id) + "  "
	if c.name > 0 {
		hdr += pad("NAME", c.name) + "  "
	}
	if c.dataType > 0 {
		hdr += pad("DATA", c.dataType) + "  "
	}
	if c.scopes > 0 {
		hdr += pad("SCOPES", c.scopes) + "  "
	}
	hdr += "STAGES     AGENT"
	lines = append(lines, st.ColHeader.Render(hdr))

	n := p.count()
	end := min(p.off+rows, n)
	for k := p.off; k < end; k++ {
		lines = append(lines, p.row(p.at(k), c, inner, st, spin, now))
	}
	switch {
	case len(p.tenants) == 0:
		lines = append(lines, st.Muted.Render("no tenants"))
	case n == 0:
		lines = append(lines, st.Muted.Render("no tenant matches: backspace edits, esc clears"))
	}

	title := fmt.Sprintf("Tenants (%s)", thousands(len(p.tenants)))
	note := st.Muted.Render("✓ done  ▸ running  · pending  ✗ failed")
	if n > rows {
		note = st.Muted.Render(fmt.Sprintf("%s–%s of %s  ↑/↓ scroll", thousands(p.off+1), thousands(end), thousands(n)))
	}
	if p.filter.active {
		title = fmt.Sprintf("Tenants (%s of %s)", thousands(n), thousands(len(p.tenants)))
		note = st.Key.Render("/"+p.filter.query+"▏") + st.Muted.Render(" enter keep · esc clear")
	}
	if focused {
		title = "▸ " + title
	}
	return box(st, title, note, lines, w, h)
}

func (p *tenantsPane) row(i int, c tenantColumns, inner int, st Styles, spin string, now time.Time) string {
	t := p.tenants[i]
	s := &p.states[i]
	sel := i == p.sel
	plain := sel // the selected row is drawn in one style so its background holds

	var b strings.Builder
	if sel {
		b.WriteString("▶ ")
	} else {
		b.WriteString("  ")
	}
	id := pad(truncMiddle(t.ID, c.id), c.id)
	if plain {
		b.WriteString(id)
	} else {
		b.WriteString(st.Strong.Render(id))
	}
	b.WriteString("  ")
	cell := func(text string, w int) {
		text = pad(ansiTrunc(text, w), w)
		if plain {
			b.WriteString(text)
		} else {
			b.WriteString(st.Muted.Render(text))
		}
		b.WriteString("  ")
	}
	if c.name > 0 {
		cell(t.Name, c.name)
	}
	if c.dataType > 0 {
		cell(t.DataType, c.dataType)
	}
	if c.scopes > 0 {
		cell(t.ReadScope+" "+t.WriteScope, c.scopes)
	}
	for k, stg := range pipeline.Stages {
		if k > 0 {
			b.WriteString(" ")
		}
		b.WriteString(markGlyph(st, p.mark(i, stg), spin, plain))
	}
	b.WriteString("  ")
	b.WriteString(stateWord(st, effectiveState(s.Agent, now), plain))

	line := b.String()
	if sel {
		return st.Selected.Render(fit(line, inner))
	}
	return line
}
