package ui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tenantui/tenantui/watch"
)

// watchChromeLines: title bar, status line, notice line, column headings
// and help line.
const watchChromeLines = 5

// Minimum size of the watch view.
const watchMinW, watchMinH = 80, 24

// View renders the watch view. It only formats: rows are derived in Update,
// countdowns are computed from the injected clock.
func (m WatchModel) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "tenantui watch"
	return v
}

func (m WatchModel) render() string {
	if m.w == 0 || m.h == 0 {
		return ""
	}
	if m.w < watchMinW || m.h < watchMinH {
		return m.st.TooSmall.Render(fmt.Sprintf("terminal too small: need %d×%d, have %d×%d", watchMinW, watchMinH, m.w, m.h))
	}
	now := m.now()
	lines := []string{m.titleBar(now), m.statusLine(), m.noticeLine(now)}
	bh := m.h - watchChromeLines
	var body []string
	switch m.screen {
	case watchDetail:
		body = m.detailLines(now, bh+1)
		lines = append(lines, body...)
	case watchMenu, watchConfirm:
		lines = append(lines, m.columnHeadings())
		menu := m.menuBox()
		rows := m.tableLines(now, bh)
		body = append(menu, rows[:max(bh-len(menu), 0)]...)
		lines = append(lines, body...)
	default:
		lines = append(lines, m.columnHeadings())
		lines = append(lines, m.tableLines(now, bh)...)
	}
	for len(lines) < m.h-1 {
		lines = append(lines, "")
	}
	lines = append(lines[:m.h-1], m.helpLine())
	for i := range lines {
		lines[i] = fit(lines[i], m.w)
	}
	return strings.Join(lines, "\n")
}

// titleBar: name, broker, health, clock.
func (m WatchModel) titleBar(now time.Time) string {
	st := m.st
	health := st.Unhealthy.Render("● unreachable")
	switch {
	case m.status.LastPoll.IsZero() && m.status.Fault == nil:
		health = st.HeaderDim.Render("○ connecting")
	case m.status.Fault != nil && m.status.Fault.Kind == watch.FaultUnreachable:
	case m.status.Healthy:
		health = st.Healthy.Render("● healthy") + st.HeaderDim.Render(" v"+m.status.Version)
	default:
		health = st.Unhealthy.Render("● not ok")
	}
	left := st.HeaderTitle.Render(" tenantui watch ") + st.HeaderDim.Render(" "+m.status.Broker+"  ") + health
	right := st.Clock.Render(hms(now) + " ")
	gap := m.w - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 1 {
		left = ansiTrunc(left, m.w-ansi.StringWidth(right)-1)
		gap = m.w - ansi.StringWidth(left) - ansi.StringWidth(right)
	}
	return left + st.Header.Render(strings.Repeat(" ", max(gap, 0))) + right
}

// statusLine: events seen, agents, chain status, last poll.
func (m WatchModel) statusLine() string {
	st := m.st
	s := m.status
	chain := st.Pass.Render("✓ " + s.Chain)
	if s.ChainBreak != nil {
		chain = st.Fail.Render("✗ " + s.Chain)
	} else if s.Events == 0 {
		chain = st.Muted.Render(s.Chain)
	}
	return " " + st.Strong.Render(watchDigits(s.Events)) + st.Muted.Render(" events · ") +
		st.Strong.Render(watchDigits(s.Agents)) + st.Muted.Render(" agents · ") + chain +
		st.Muted.Render(" · polled ") + st.Value.Render(hms(s.LastPoll))
}

// noticeLine: a fault, the catch-up progress, the filter or the last action.
func (m WatchModel) noticeLine(now time.Time) string {
	st := m.st
	s := m.status
	switch {
	case s.Fault != nil:
		f := s.Fault
		when := "retrying now"
		if d := f.RetryAt.Sub(now); d > 0 {
			when = "retry in " + clock((d + time.Second - 1).Truncate(time.Second))
		}
		return " " + st.Error.Render("⚠ "+strings.ToUpper(f.Kind)) + " " + st.Value.Render(f.Message) +
			st.Muted.Render(" · "+when+" · since "+hms(f.Since))
	case m.screen == watchFilter:
		return " " + st.Key.Render("/") + " " + st.FormFocus.Render(m.filter+" ") + st.Muted.Render(fmt.Sprintf("  %d of %d agents", m.shown, len(m.agents)))
	case !s.Restarted.IsZero() && now.Sub(s.Restarted) < 10*time.Second:
		return " " + st.Warn.Render("audit trail restarted at "+hms(s.Restarted)) +
			st.Muted.Render(": a new broker; showing its agents only")
	case m.flash != "":
		if m.flashOK {
			return " " + st.Status.Render(m.flash)
		}
		return " " + st.Error.Render(m.flash)
	case m.closed:
		return " " + st.Muted.Render("watcher stopped")
	case s.CatchingUp:
		return " " + st.StageRunning.Render(fmt.Sprintf("catching up: %s of %s events read", watchDigits(s.Events), watchDigits(s.BrokerEvents)))
	case m.filter != "":
		return " " + st.Muted.Render(fmt.Sprintf("filter %q: %d of %d agents (/ to change, esc in the filter clears it)", m.filter, m.shown, len(m.agents)))
	case s.LastPoll.IsZero():
		return " " + st.Muted.Render("reading the audit trail…")
	}
	return " " + st.Muted.Render("following the audit trail every "+m.opts.Interval.String())
}

// Table columns: cursor, state, time left, agent, scope, jti, renewals,
// delegations. The agent and scope columns share what is left.
func (m WatchModel) columns() (agentW, scopeW int) {
	rest := m.w - (2 + 9 + 1 + 7 + 1 + 1 + 1 + 8 + 1 + 3 + 1 + 3)
	agentW = min(max(rest/2, 20), 48)
	return agentW, rest - agentW
}

func (m WatchModel) columnHeadings() string {
	aw, sw := m.columns()
	return "  " + m.st.ColHeader.Render(pad("STATE", 9)) + " " + m.st.ColHeader.Render("   LEFT") + " " +
		m.st.ColHeader.Render(fit("AGENT (task/instance)", aw)) + " " + m.st.ColHeader.Render(fit("SCOPE", sw)) + " " +
		m.st.ColHeader.Render(pad("JTI", 8)) + " " + m.st.ColHeader.Render("REN") + " " + m.st.ColHeader.Render("DEL")
}

func (m WatchModel) tableLines(now time.Time, h int) []string {
	if len(m.rows) == 0 {
		msg := "no agents on this broker yet: they appear as soon as one registers"
		if m.filter != "" {
			msg = fmt.Sprintf("no agent matches %q", m.filter)
		}
		return []string{"  " + m.st.Muted.Render(msg)}
	}
	aw, sw := m.columns()
	out := make([]string, 0, h)
	for i := m.top; i < len(m.rows) && len(out) < h; i++ {
		r := m.rows[i]
		if r.id == "" {
			out = append(out, " "+m.st.Title.Render("▾ "+r.tenant)+m.st.Muted.Render(fmt.Sprintf("  %s · %d active", plural(r.count, "agent"), r.active)))
			continue
		}
		a := m.agents[r.id]
		cursor := "  "
		if i == m.sel {
			cursor = m.st.Cursor.Render("▶ ")
		}
		left := "   —"
		switch a.StateAt(now) {
		case watch.StateActive:
			left = clock((a.Left(now) + time.Second - 1).Truncate(time.Second))
		case watch.StateExpired:
			left = "0:00"
		}
		deleg := ""
		if n := len(a.Received) + len(a.Given); n > 0 {
			deleg = fmt.Sprint(n)
		}
		ren := ""
		if a.Renewals > 0 {
			ren = fmt.Sprint(a.Renewals)
		}
		jti := a.JTI
		if len(jti) > 8 {
			jti = jti[:8]
		}
		line := cursor + watchStateWord(m.st, a.StateAt(now)) + " " + pad(fmt.Sprintf("%7s", left), 7) + " " +
			fit(watchAgentCell(a, aw), aw) + " " + fit(watchScopeCell(a), sw) + " " +
			pad(jti, 8) + " " + fmt.Sprintf("%3s %3s", ren, deleg)
		if i == m.sel {
			line = m.st.Selected.Render(ansi.Strip(line))
		}
		out = append(out, line)
	}
	return out
}

// watchAgentCell is task/instance, the instance cut to fit (6 hex digits at
// least, then the task is cut); the orchestrator is on the detail screen.
func watchAgentCell(a watch.Agent, w int) string {
	p := watchAgentPath(a.ID)
	if a.Task == "" {
		return truncMiddle(p, w)
	}
	inst := p[strings.LastIndexByte(p, '/')+1:]
	if room := w - ansi.StringWidth(a.Task) - 1; len(inst) > room {
		inst = inst[:min(max(room-1, 6), len(inst))] + "…"
	}
	return ansiTrunc(a.Task, w-1-ansi.StringWidth(inst)) + "/" + inst
}

// watchAgentShort is task/instance with the instance cut to 6 hex digits.
func watchAgentShort(id string) string {
	p := watchAgentPath(id)
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return p
	}
	inst := parts[len(parts)-1]
	if len(inst) > 6 {
		inst = inst[:6] + "…"
	}
	return parts[len(parts)-2] + "/" + inst
}

// watchScopeCell is the scope without the identifier where it is the tenant,
// which the group heading already names: "read:analytics write:reports".
func watchScopeCell(a watch.Agent) string {
	parts := make([]string, len(a.Scope))
	for i, s := range a.Scope {
		parts[i] = s
		if rest, ok := strings.CutSuffix(s, ":"+a.Tenant); ok && strings.Count(rest, ":") == 1 {
			parts[i] = rest
		}
	}
	return strings.Join(parts, " ")
}

// watchStateWord is the state as a padded, coloured word.
func watchStateWord(st Styles, s watch.State) string {
	w := pad(strings.ToUpper(s.String()), 9)
	switch s {
	case watch.StateActive:
		return st.StateActive.Render(w)
	case watch.StateReleased:
		return st.StateReleased.Render(w)
	case watch.StateExpired:
		return st.StateExpired.Render(w)
	case watch.StateRevoked:
		return st.StateRevoked.Render(strings.TrimRight(w, " ")) + strings.Repeat(" ", 9-len(strings.TrimRight(w, " ")))
	}
	return st.StateNone.Render(w)
}

// watchReach explains what a revocation at each level reaches (§7).
var watchReach = map[string]string{
	"token": "this token only",
	"agent": "every token of this agent, and tokens delegated to it",
	"task":  "every agent of the task, later registrations too",
	"chain": "tokens delegated from this agent (not its own)",
}

func (m WatchModel) menuBox() []string {
	a := m.agents[m.target]
	inner := m.w - 4
	var lines []string
	if m.screen == watchConfirm {
		level := watchLevels[m.level]
		lines = append(lines,
			m.st.Warn.Render("Revoke at level "+level+"?")+" "+m.st.Muted.Render(watchReach[level]+"; target:"),
			m.st.Value.Render(watch.RevokeTarget(a, level)),
			m.st.Key.Render("y")+m.st.Muted.Render(" revoke · any other key cancels"))
		return box(m.st, "Revoke "+watchAgentPath(a.ID), "", lines, m.w, len(lines)+2)
	}
	for i, l := range watchLevels {
		t := watch.RevokeTarget(a, l)
		if t == "" {
			t = "(none)"
		}
		label := fmt.Sprintf("%-6s", l)
		line := "  " + label + " " + m.st.Muted.Render(watchReach[l]+" · "+watchTarget(t))
		if i == m.level {
			line = m.st.Cursor.Render("▶ ") + m.st.MenuCurrent.Render(label) + " " + m.st.Value.Render(watchReach[l]+" · "+watchTarget(t))
		}
		lines = append(lines, ansiTrunc(line, inner))
	}
	return box(m.st, "Revoke "+watchAgentPath(a.ID), "enter choose · esc back", lines, m.w, len(lines)+2)
}

// detailLines is the agent's story, then its events with their hashes.
func (m WatchModel) detailLines(now time.Time, h int) []string {
	a, ok := m.agents[m.detail]
	if !ok {
		return []string{"  " + m.st.Muted.Render("agent not found")}
	}
	st := m.st
	inner := m.w - 4
	kv := func(k, v string) string { return st.Label.Render(pad(k, 10)) + st.Value.Render(v) }
	state := watchStateWord(st, a.StateAt(now))
	switch a.StateAt(now) {
	case watch.StateActive:
		state += st.Muted.Render(" expires in " + clock((a.Left(now) + time.Second - 1).Truncate(time.Second)) + " at " + hms(a.Expires))
	case watch.StateExpired:
		state += st.Muted.Render(" at " + hms(a.Expires.Add(time.Second)) + " (by the clock)")
	case watch.StateReleased:
		state += st.Muted.Render(" by the agent itself at " + hms(a.ReleasedAt))
	case watch.StateRevoked:
		state += st.Muted.Render(fmt.Sprintf(" by the %s at level %s at %s (%s)", a.Revoked.By, a.Revoked.Level, hms(a.Revoked.At), a.Revoked.EventID))
	}
	info := []string{
		kv("agent", a.ID),
		kv("orch/task", a.Orch+" / "+a.Task) + st.Muted.Render("   tenant ") + st.Strong.Render(a.Tenant),
		kv("scope", strings.Join(a.Scope, " ")),
		kv("jti", a.JTI) + st.Muted.Render(fmt.Sprintf("   renewals %d", a.Renewals)),
		kv("issued", hms(a.Issued)) + st.Muted.Render("   ttl ") + st.Value.Render(a.TTL.String()) + st.Muted.Render("   expires ") + st.Value.Render(hms(a.Expires)),
		kv("state", state),
	}
	for _, d := range a.Received {
		info = append(info, kv("deleg in", "")+watchDelegState(st, d)+st.Value.Render(fmt.Sprintf("from %s %v depth %d", watchAgentShort(d.From), d.Scope, d.Depth)))
		info = append(info, kv("  chain", watchChain(d.Chain, a.ID)))
	}
	for _, d := range a.Given {
		info = append(info, kv("deleg out", "")+watchDelegState(st, d)+st.Value.Render(fmt.Sprintf("to %s %v depth %d", watchAgentShort(d.To), d.Scope, d.Depth)))
	}
	var evs []string
	for _, e := range a.Events {
		ts := e.Timestamp
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			ts = t.Format("15:04:05.000")
		}
		out := st.Strong.Render(e.ID) + " " + st.LogTime.Render(ts) + " " + st.Value.Render(e.EventType) + " " + st.Muted.Render(e.Outcome)
		evs = append(evs, out)
		for _, l := range wrap(e.Detail, inner-2) {
			evs = append(evs, "  "+st.LogText.Render(l))
		}
		evs = append(evs, "  "+st.Label.Render("hash ")+st.Code.Render(e.Hash), "  "+st.Label.Render("prev ")+st.Code.Render(e.PrevHash))
	}
	body := append(info, "")
	body = append(body, st.ColHeader.Render(fmt.Sprintf("Events (%d), hashes included", len(a.Events))))
	body = append(body, evs...)
	top := min(m.dtop, max(len(body)-(h-2), 0))
	note := ""
	if len(body) > h-2 {
		note = st.TitleNote.Render(fmt.Sprintf("↑/↓ %d–%d of %d", top+1, min(top+h-2, len(body)), len(body)))
	}
	for i := range body {
		body[i] = ansiTrunc(body[i], inner)
	}
	return box(st, "Agent "+watchAgentPath(a.ID), note, body[top:], m.w, h)
}

func watchDelegState(st Styles, d watch.Delegation) string {
	if d.Revoked != nil {
		return st.StateRevoked.Render("REVOKED") + st.Muted.Render(" ("+d.Revoked.Level+") ")
	}
	return st.StateActive.Render("DELEGATED") + " "
}

// chainText is "root → … → delegate".
func watchChain(chain []string, to string) string {
	parts := make([]string, 0, len(chain)+1)
	for _, c := range chain {
		parts = append(parts, watchAgentShort(c))
	}
	return strings.Join(append(parts, watchAgentShort(to)), " → ")
}

func (m WatchModel) helpLine() string {
	return " " + m.help.View(m.keys.forScreen(m.screen))
}

// watchDigits writes n with thousands separators: 10000 → "10,000".
func watchDigits(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
