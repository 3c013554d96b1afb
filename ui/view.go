package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// View and layout. View is pure formatting: every list it shows was derived
// in Update. Panes that do not depend on the clock are memoised by a version
// that Update bumps when their state changes, so a tick (which changes only
// the header clock and the countdown) re-renders two lines and re-joins the
// rest.

// versions says which state each memoised pane was drawn from.
type versions struct {
	tenants uint64 // tenant table, card, stepper, preview
	log     uint64
	detail  uint64 // detail pane, form, menu
	audit   uint64
	chrome  uint64 // header, styles, help
}

// viewCache holds the memoised panes. The model points to it, so copies of
// the model share it; version numbers come from one counter (seq), so two
// copies that diverged never share a key.
type viewCache struct {
	seq                                                 uint64
	tenants, stepper, card, detail, log, audit, preview memo
	header, help, fullHelp                              memo
}

type memoKey struct {
	a, b    uint64
	w, h, k int
	s       string
}

type memo struct {
	ok    bool
	key   memoKey
	lines []string
}

func (c *memo) get(k memoKey, f func() []string) []string {
	if c.ok && c.key == k {
		return c.lines
	}
	c.lines, c.key, c.ok = f(), k, true
	return c.lines
}

// touch marks the state behind v as changed.
func (m *Model) touch(v *uint64) {
	m.cache.seq++
	*v = m.cache.seq
}

func (m *Model) touchAll() {
	for _, v := range []*uint64{&m.ver.tenants, &m.ver.log, &m.ver.detail, &m.ver.audit, &m.ver.chrome} {
		m.touch(v)
	}
}

// layout is the screen split for the current size.
type layout struct {
	wide     bool
	bodyH    int
	tenantsH int
	leftW    int // wide: left column (card, stepper, preview)
	cardW    int // narrow: card width, the stepper gets the rest
	midH     int // card and stepper height
	stepH    int
	previewH int // wide: preview under the stepper (0: none)
	bottomW  int // detail + log area
	bottomH  int
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

func (m *Model) layout() layout {
	w, h := m.width, m.height
	l := layout{wide: w >= wideWidth, bodyH: h - 3, midH: 8, stepH: 8}
	n := max(len(m.tp.tenants), 1)
	// Tall terminals give the tenant list half the body (it used to stop at
	// 12 rows); up to 12 rows the split is as it always was.
	var rows int
	if l.wide {
		rows = max(clamp(l.bodyH/3-3, 3, 12), l.bodyH/2-3)
	} else {
		rows = max(clamp(l.bodyH-16, 3, 12), (l.bodyH-8)/2-3)
		if m.detail != detailNone || m.mode == modeCross || m.mode == modeRevoke {
			rows = max(rows-2, 3) // a short screen gives the open pane room
		}
	}
	l.tenantsH = min(n, rows) + 3
	below := l.bodyH - l.tenantsH
	if l.wide {
		l.leftW = clamp(w*2/5, 52, 72)
		l.stepH = clamp(below-l.midH, 0, 8)
		if p := below - l.midH - l.stepH; p >= 5 {
			l.previewH = p
		}
		l.bottomW, l.bottomH = w-l.leftW, below
	} else {
		l.cardW = w * 9 / 20 // the stepper needs the room for full scopes
		l.bottomW, l.bottomH = w, below-l.midH
	}
	return l
}

// tenantRows is how many tenant rows the table shows.
func (m *Model) tenantRows() int { return rowsFor(m.layout().tenantsH) }

// logRows approximates the log's visible rows (for paging).
func (m *Model) logRows() int { return max(m.layout().bottomH-2, 1) }

// auditRows is the audit screen's visible rows.
func (m *Model) auditRows() int { return max(m.layout().bodyH-6, 1) }

// View renders the console.
func (m Model) View() tea.View {
	var v tea.View
	v.AltScreen = true
	v.WindowTitle = "tenantui"
	v.SetContent(m.render())
	return v
}

func (m Model) render() string {
	w, h := m.width, m.height
	if w == 0 || h == 0 {
		return ""
	}
	if w < minWidth || h < minHeight {
		return m.st.TooSmall.Render(fmt.Sprintf("terminal too small: need %d×%d, have %d×%d", minWidth, minHeight, w, h)) +
			"\n" + "enlarge the window, or press q to quit"
	}
	now := m.now()
	l := m.layout()
	lines := make([]string, 0, h)
	lines = append(lines, m.headerLine(w, now))
	lines = append(lines, m.body(l, now)...)
	lines = append(lines, m.statusLine(w), m.helpLine(w))
	return strings.Join(lines, "\n")
}

// spinFrame is the spinner frame while something animates, else "".
func (m *Model) spinFrame() string {
	if !m.animating {
		return ""
	}
	return m.spin.View()
}

func (m Model) body(l layout, now time.Time) []string {
	w := m.width
	c := m.cache
	spin := m.spinFrame()
	var out []string
	if m.mode == modeAudit {
		out = c.audit.get(memoKey{a: m.ver.audit, b: m.ver.chrome, w: w, h: l.bodyH, s: spin}, func() []string {
			return m.audit.view(w, l.bodyH, m.st, m.admin, m.km, spin)
		})
	} else {
		tspin := ""
		if m.tableRunning {
			tspin = spin
		}
		focus := m.focus == focusList
		out = append(out, c.tenants.get(memoKey{a: m.ver.tenants, w: w, h: l.tenantsH, k: int(m.focus), s: tspin}, func() []string {
			return m.tp.view(w, l.tenantsH, m.st, tspin, now, focus)
		})...)
		if m.tour != nil { // tour: the lesson pane shares the space below the table (ui/tour_view.go)
			out = append(out, m.tourBody(l, now, spin, tspin)...)
		} else if l.wide {
			left := m.cardBox(l.leftW, l.midH, now)
			left = append(left, m.stepperBox(l.leftW, l.stepH, tspin)...)
			if l.previewH > 0 {
				left = append(left, m.previewBox(l.leftW, l.previewH)...)
			}
			out = append(out, sideBySide(left, l.leftW, m.detailAndLog(l.bottomW, l.bottomH, spin))...)
		} else {
			out = append(out, sideBySide(m.cardBox(l.cardW, l.midH, now), l.cardW, m.stepperBox(w-l.cardW, l.midH, tspin))...)
			out = append(out, m.detailAndLog(w, l.bottomH, spin)...)
		}
	}
	if m.showHelp {
		hl := c.fullHelp.get(memoKey{a: m.ver.chrome, b: uint64(m.mode), w: w}, func() []string {
			return strings.Split(m.help.FullHelpView(m.km.FullHelp()), "\n")
		})
		hb := box(m.st, "Keys", m.st.Muted.Render("? or esc closes"), hl, w, min(len(hl)+2, l.bodyH))
		out = append(out[:max(len(out)-len(hb), 0):max(len(out)-len(hb), 0)], hb...)
	}
	// exactly bodyH lines
	for len(out) < l.bodyH {
		out = append(out, strings.Repeat(" ", w))
	}
	return out[:l.bodyH]
}

func (m Model) cardBox(w, h int, now time.Time) []string {
	i := m.tp.selected()
	if i < 0 {
		return box(m.st, "Agent", "", nil, w, h)
	}
	s := &m.tp.states[i]
	inner := w - 4
	static := m.cache.card.get(memoKey{a: m.ver.tenants, w: w, h: h}, func() []string {
		return cardStatic(m.st, s, inner)
	})
	lines := static
	if cd := cardCountdown(m.st, s, now, m.ttl, inner); cd != "" {
		lines = make([]string, 0, h-2)
		lines = append(lines, static[:min(len(static), h-3)]...)
		for len(lines) < h-3 {
			lines = append(lines, "")
		}
		lines = append(lines, cd)
	}
	return box(m.st, "Agent · "+s.Tenant.ID, stateBadge(m.st, s.Agent, now), lines, w, h)
}

func (m Model) stepperBox(w, h int, spin string) []string {
	if h < 3 {
		return nil
	}
	i := m.tp.selected()
	return m.cache.stepper.get(memoKey{a: m.ver.tenants, w: w, h: h, s: spin}, func() []string {
		title := "ETL stages"
		if i >= 0 {
			title += " · " + m.tp.tenants[i].ID
		}
		return box(m.st, title, "", m.tp.stepperLines(i, m.st, spin, w-4), w, h)
	})
}

func (m Model) previewBox(w, h int) []string {
	i := m.tp.selected()
	if i < 0 {
		return nil
	}
	return m.cache.preview.get(memoKey{a: m.ver.tenants, w: w, h: h}, func() []string {
		s := &m.tp.states[i]
		title, note := previewTitle(s)
		return box(m.st, title, m.st.Muted.Render(truncMiddle(note, max(w/2, 8))), previewLines(m.st, s, w-4), w, h)
	})
}

// detailAndLog is the detail pane (when one is open) above the log. When
// both do not fit, the detail wins: the status line still shows the latest
// outcome.
func (m Model) detailAndLog(w, h int, spin string) []string {
	title, note, lines, ok := m.detailContent(w-4, h, spin)
	logBox := func(h int) []string {
		return m.cache.log.get(memoKey{a: m.ver.log, b: m.ver.chrome, w: w, h: h}, func() []string {
			return m.log.view(w, h, m.st)
		})
	}
	if !ok {
		return logBox(h)
	}
	want := len(lines) + 2
	if h-want >= 3 {
		return append(box(m.st, title, note, lines, w, want), logBox(h-want)...)
	}
	title, note, lines = m.scrollDetail(title, note, lines, h-2) // filter.go
	return box(m.st, title, note, lines, w, h)
}

// detailContent is the open detail pane's title, note and lines (memoised
// as [title, note, lines...]).
func (m Model) detailContent(inner, h int, spin string) (string, string, []string, bool) {
	kind := m.detail
	switch m.mode {
	case modeCross:
		kind = detailForm
	case modeRevoke:
		kind = detailMenu
	}
	if kind == detailNone {
		return "", "", nil, false
	}
	pend := ""
	if m.pending() {
		pend = spin
	}
	c := m.cache.detail.get(memoKey{a: m.ver.detail, b: m.ver.tenants, w: inner, h: h, k: int(kind), s: pend}, func() []string {
		title, note, body := m.renderDetail(kind, inner, h, pend)
		return append([]string{title, note}, body...)
	})
	return c[0], c[1], c[2:], true
}

func (m Model) renderDetail(kind detailKind, inner, h int, spin string) (string, string, []string) {
	st := m.st
	i := m.tp.selected()
	switch kind {
	case detailForm:
		return "Cross-tenant attempt", st.Muted.Render("pick, then enter"), m.form.lines(st, m.tp.tenants, m.km, inner, h-2)
	case detailMenu:
		t := ""
		if m.menu.tenant < len(m.tp.tenants) {
			t = m.tp.tenants[m.menu.tenant].ID
		}
		return "Revoke · " + t + " agent", st.Muted.Render("operator action"),
			m.menu.lines(st, &m.tp.states[m.menu.tenant], m.admin, m.km, inner)
	case detailProbe:
		title, note := m.probe.title()
		return title, st.Muted.Render(note), m.probe.lines(st, spin, inner, h-2)
	case detailIsolation:
		return "Isolation check", st.Muted.Render("fresh agents · both layers"), m.iso.lines(st, spin, inner, h-2)
	case detailMatrix:
		return "Access matrix", st.Muted.Render("store decisions"), m.matrix.lines(st, spin, inner, h-2)
	case detailDelegation:
		return "Delegation · " + m.deleg.from + " agent → " + m.deleg.to + " agent", "", m.deleg.lines(st, spin, inner)
	case detailOverCeiling:
		return "Over-ceiling creation · " + m.over.tenant, st.Muted.Render("read:billing:" + m.over.tenant), m.over.lines(st, spin, inner)
	case detailError:
		return "Last error", st.Muted.Render("in full · esc closes"), m.errorLines(inner)
	case detailPreview:
		if i < 0 {
			return "Data", "", nil
		}
		s := &m.tp.states[i]
		title, note := previewTitle(s)
		return title, st.Muted.Render(truncMiddle(note, max(inner/2, 8))), previewLines(st, s, inner)
	}
	return "", "", nil
}

func (m Model) headerLine(w int, now time.Time) string {
	st := m.st
	const clockW = 10
	left := m.cache.header.get(memoKey{a: m.ver.chrome, w: w}, func() []string {
		text, ok := m.healthBadge()
		return []string{headerLeft(st, m.broker, text, ok, w-clockW)}
	})[0]
	lw := ansi.StringWidth(left)
	return left + st.Header.Render(strings.Repeat(" ", max(w-lw-clockW, 0))) + st.Clock.Render(" "+now.Format("15:04:05")+" ")
}

// headerLeft is the broker line, dropping the least useful parts first
// (client ID, version, labels) until it fits in room.
func headerLeft(st Styles, b BrokerInfo, healthText string, healthy bool, room int) string {
	url := b.URL
	if url == "" {
		url = "—"
	}
	health := st.Healthy.Render(healthText)
	if !healthy {
		health = st.Unhealthy.Render(healthText)
	}
	sep := st.HeaderDim.Render("  │  ")
	build := func(labels, version, client, mode bool, urlW int) string {
		s := st.HeaderTitle.Render(" tenantui") + sep
		if labels {
			s += st.HeaderDim.Render("broker ")
		}
		s += st.Header.Render(truncMiddle(url, urlW))
		if mode && b.Mode != "" {
			s += st.HeaderDim.Render(" (" + b.Mode + ")")
		}
		if version && b.Version != "" {
			s += st.Header.Render(" v" + strings.TrimPrefix(b.Version, "v"))
		}
		s += health
		if b.AdminRejected {
			s += st.Unhealthy.Render(" ✗ admin rejected")
		}
		if client && b.ClientID != "" {
			s += sep
			if labels {
				s += st.HeaderDim.Render("app ")
			}
			s += st.Header.Render(b.ClientID)
		}
		return s
	}
	for _, v := range []struct{ labels, version, client bool }{
		{true, true, true}, {false, true, true}, {false, false, true}, {false, true, false}, {false, false, false},
	} {
		if s := build(v.labels, v.version, v.client, true, 48); ansi.StringWidth(s) <= room {
			return s
		}
	}
	// Still too wide (a long health cause): the URL gives way, never the
	// health, which is what the header must tell.
	for _, mode := range []bool{true, false} {
		fixed := ansi.StringWidth(build(false, false, false, mode, 0))
		if urlW := room - fixed; urlW >= 12 {
			return build(false, false, false, mode, urlW)
		}
	}
	return ansi.Truncate(build(false, false, false, false, 12), room, "…")
}

func (m Model) statusLine(w int) string {
	st := m.st
	right := fmt.Sprintf("%s live", plural(m.tp.live, "agent"))
	if m.eventsDone {
		right += " · events ended"
	}
	right = st.Muted.Render("  " + right + " ")
	var left string
	switch {
	case m.prog.active:
		left = " " + m.prog.line(st, m.now(), w)
	case m.busy > 0:
		left = " " + m.spin.View() + " " + st.Status.Render(m.busyLabel)
	case m.statusErr:
		left = " " + st.Error.Render(m.status)
	default:
		left = " " + st.Status.Render(m.status)
	}
	return fit(left, w-ansi.StringWidth(right)) + right
}

// helpLine is the short help of the current mode; "? help" and "q quit"
// always stay visible at its end.
func (m Model) helpLine(w int) string {
	return m.cache.help.get(memoKey{a: m.ver.chrome, b: uint64(m.mode), w: w}, func() []string {
		tail := m.help.ShortHelpView([]key.Binding{m.km.Help, m.km.Quit})
		m.help.SetWidth(max(w-ansi.StringWidth(tail)-4, 10))
		head := m.help.ShortHelpView(m.km.ShortHelp())
		sep := m.st.Help.ShortSeparator.Render(" • ")
		return []string{fit(" "+head+sep+tail, w)}
	})[0]
}
