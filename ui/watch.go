package ui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/watch"
)

// WatchController is what the watch view asks of the outside world: only a
// revocation. cmd/tenantui passes the watcher; tests pass a fake.
type WatchController interface {
	Revoke(ctx context.Context, level, target string) error
}

// WatchOptions configures [NewWatch].
type WatchOptions struct {
	Updates         <-chan watch.Update // from the watcher; closed when it stops
	Control         WatchController
	Now             func() time.Time
	Broker          string        // display URL
	Interval        time.Duration // the poll interval, for the status line
	QueryBackground bool          // ask the terminal for its background colour
}

// watchScreen is what the watch view shows.
type watchScreen int

const (
	watchTable   watchScreen = iota // agents grouped by tenant
	watchFilter                     // the table, typing a filter
	watchDetail                     // one agent's story and events
	watchMenu                       // revoke: choose a level
	watchConfirm                    // revoke: confirm
)

// watchLevels are the levels of §7, in the menu's order (the console's).
var watchLevels = revokeLevels

// watchRow is one table line: a tenant heading or an agent.
type watchRow struct {
	tenant string // heading: the tenant; agent: its tenant
	id     string // agent SPIFFE ID; empty for a heading
	count  int    // heading: agents of the tenant shown
	active int    // heading: of which active
}

// Messages of the watch view.
type (
	watchUpdateMsg struct {
		updates []watch.Update
		closed  bool
	}
	watchTickMsg    struct{ gen int }
	watchRevokedMsg struct {
		level, target, agent string
		err                  error
	}
)

// WatchModel is the Bubble Tea model of `tenantui watch`: a live table of
// every agent on a broker, grouped by tenant. It does no I/O: updates come
// from the watcher through a re-armed Cmd, revocations go out through the
// controller in a Cmd.
type WatchModel struct {
	opts WatchOptions
	st   Styles
	keys WatchKeyMap
	help help.Model
	w, h int

	status  watch.Status
	agents  map[string]watch.Agent
	rows    []watchRow // derived in Update: grouped, sorted, filtered
	shown   int        // agents in rows
	sel     int        // index into rows (always an agent row when any)
	top     int        // first row on screen
	closed  bool       // the watcher stopped
	gen     int
	screen  watchScreen
	filter  string
	detail  string // SPIFFE ID of the agent on the detail screen
	dtop    int    // detail scroll
	level   int    // revoke menu choice
	target  string // agent to revoke
	flash   string // last action's result
	flashOK bool
}

// NewWatch returns the watch view.
func NewWatch(opts WatchOptions) WatchModel {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	m := WatchModel{opts: opts, st: NewStyles(true), keys: DefaultWatchKeyMap(), help: help.New(),
		agents: map[string]watch.Agent{}}
	m.status.Broker = opts.Broker
	m.status.Chain = "chain: nothing read yet"
	m.help.Styles = m.st.Help
	return m
}

func (m WatchModel) now() time.Time { return m.opts.Now() }

// Init waits for the first update and starts the 1 Hz countdown tick.
func (m WatchModel) Init() tea.Cmd {
	cmds := []tea.Cmd{waitForWatch(m.opts.Updates), watchTick(m.gen)}
	if m.opts.QueryBackground {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	return tea.Batch(cmds...)
}

// waitForWatch takes every update already waiting as one message, so a
// catch-up of many pages costs one redraw.
func waitForWatch(ch <-chan watch.Update) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		u, ok := <-ch
		if !ok {
			return watchUpdateMsg{closed: true}
		}
		msg := watchUpdateMsg{updates: []watch.Update{u}}
		for range 256 {
			select {
			case u, ok := <-ch:
				if !ok {
					msg.closed = true
					return msg
				}
				msg.updates = append(msg.updates, u)
			default:
				return msg
			}
		}
		return msg
	}
}

func watchTick(gen int) tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return watchTickMsg{gen: gen} })
}

// revokeCmd asks the controller to revoke; the values are copied first.
func watchRevokeCmd(c WatchController, level, target, agent string) tea.Cmd {
	if c == nil {
		return func() tea.Msg { return watchRevokedMsg{level, target, agent, fmt.Errorf("revoke: no controller")} }
	}
	return func() (msg tea.Msg) {
		defer func() {
			if r := recover(); r != nil {
				msg = watchRevokedMsg{level, target, agent, fmt.Errorf("revoke: %v", r)}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return watchRevokedMsg{level, target, agent, c.Revoke(ctx, level, target)}
	}
}

// Update routes messages: window size, keys, updates, ticks.
func (m WatchModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
		m.scrollToSel()
		return m, nil
	case tea.BackgroundColorMsg:
		m.st = NewStyles(msg.IsDark())
		m.help.Styles = m.st.Help
		return m, nil
	case tea.KeyPressMsg:
		return m.key(msg)
	case watchUpdateMsg:
		for _, u := range msg.updates {
			if u.Reset {
				clear(m.agents) // a new trail: the old agents died with the old broker
			}
			m.status = u.Status
			for _, a := range u.Agents {
				m.agents[a.ID] = a
			}
		}
		m.rebuild()
		if msg.closed {
			m.closed = true
			return m, nil
		}
		return m, waitForWatch(m.opts.Updates)
	case watchTickMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		m.rebuild() // states move with the clock
		return m, watchTick(m.gen)
	case watchRevokedMsg:
		if msg.err != nil {
			m.flash, m.flashOK = "revoke failed: "+oneLine(msg.err.Error()), false
		} else {
			m.flash, m.flashOK = fmt.Sprintf("revoke accepted: level %s, target %s (the row changes when the trail records it)", msg.level, watchTarget(msg.target)), true
		}
		return m, nil
	}
	return m, nil
}

func (m WatchModel) key(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := m.keys.forScreen(m.screen)
	if key.Matches(msg, k.Interrupt) {
		return m, tea.Quit
	}
	switch m.screen {
	case watchFilter:
		switch {
		case key.Matches(msg, k.Apply):
			m.screen = watchTable
		case key.Matches(msg, k.Clear):
			m.filter, m.screen = "", watchTable
		case msg.Code == tea.KeyBackspace:
			if r := []rune(m.filter); len(r) > 0 {
				m.filter = string(r[:len(r)-1])
			}
		case msg.Text != "":
			m.filter += msg.Text
		}
		m.rebuild()
		return m, nil
	case watchMenu:
		switch {
		case key.Matches(msg, k.Up):
			m.level = (m.level + len(watchLevels) - 1) % len(watchLevels)
		case key.Matches(msg, k.Down):
			m.level = (m.level + 1) % len(watchLevels)
		case key.Matches(msg, k.Choose):
			if a, ok := m.agents[m.target]; ok && watch.RevokeTarget(a, watchLevels[m.level]) != "" {
				m.screen = watchConfirm
			} else {
				m.flash, m.flashOK = "nothing to revoke at level "+watchLevels[m.level]+" for this agent", false
			}
		case key.Matches(msg, k.Back):
			m.screen = watchTable
		}
		return m, nil
	case watchConfirm:
		switch {
		case key.Matches(msg, k.Confirm):
			m.screen = watchTable
			a := m.agents[m.target]
			level := watchLevels[m.level]
			target := watch.RevokeTarget(a, level)
			m.flash, m.flashOK = "revoking at level "+level+"…", true
			return m, watchRevokeCmd(m.opts.Control, level, target, a.ID)
		default: // anything else cancels
			m.screen = watchTable
			m.flash, m.flashOK = "revocation cancelled", true
		}
		return m, nil
	case watchDetail:
		switch {
		case key.Matches(msg, k.Back):
			m.screen = watchTable
		case key.Matches(msg, k.Up):
			m.dtop = max(m.dtop-1, 0)
		case key.Matches(msg, k.Down):
			m.dtop++
		case key.Matches(msg, k.PgUp):
			m.dtop = max(m.dtop-m.bodyHeight(), 0)
		case key.Matches(msg, k.PgDown):
			m.dtop += m.bodyHeight()
		case key.Matches(msg, k.Revoke):
			m.openMenu(m.detail)
		case key.Matches(msg, k.Quit):
			return m, tea.Quit
		}
		return m, nil
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m, tea.Quit
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.PgUp):
		m.move(-m.bodyHeight())
	case key.Matches(msg, k.PgDown):
		m.move(m.bodyHeight())
	case key.Matches(msg, k.Filter):
		m.screen = watchFilter
	case key.Matches(msg, k.Open):
		if id := m.selected(); id != "" {
			m.detail, m.dtop, m.screen = id, 0, watchDetail
		}
	case key.Matches(msg, k.Revoke):
		m.openMenu(m.selected())
	}
	return m, nil
}

func (m *WatchModel) openMenu(id string) {
	if id == "" {
		return
	}
	m.target, m.level, m.screen = id, 1, watchMenu // agent level first: it is the common case
}

// selected is the SPIFFE ID of the selected agent, or "".
func (m WatchModel) selected() string {
	if m.sel >= 0 && m.sel < len(m.rows) {
		return m.rows[m.sel].id
	}
	return ""
}

// move moves the selection by d agent rows, skipping headings.
func (m *WatchModel) move(d int) {
	if len(m.rows) == 0 {
		return
	}
	i := min(max(m.sel+d, 0), len(m.rows)-1)
	step := 1
	if d < 0 {
		step = -1
	}
	for i >= 0 && i < len(m.rows) && m.rows[i].id == "" {
		i += step
	}
	if i < 0 || i >= len(m.rows) {
		return
	}
	m.sel = i
	m.scrollToSel()
}

// bodyHeight is the number of table rows on screen.
func (m WatchModel) bodyHeight() int { return max(m.h-watchChromeLines, 1) }

func (m *WatchModel) scrollToSel() {
	bh := m.bodyHeight()
	if m.sel < m.top {
		m.top = m.sel
		if m.top > 0 && m.rows[m.top-1].id == "" {
			m.top-- // show the selected agent's heading too
		}
	}
	if m.sel >= m.top+bh {
		m.top = m.sel - bh + 1
	}
	m.top = min(max(m.top, 0), max(len(m.rows)-bh, 0))
}

// rebuild derives the rows from the agents: filtered, grouped by tenant in
// name order, agents by issue time within a tenant. The selection stays on
// the same agent when it is still shown.
func (m *WatchModel) rebuild() {
	keep := m.selected()
	now := m.now()
	f := strings.ToLower(m.filter)
	byTenant := map[string][]watch.Agent{}
	for _, a := range m.agents {
		if f != "" && !watchMatches(a, f, now) {
			continue
		}
		byTenant[a.Tenant] = append(byTenant[a.Tenant], a)
	}
	tenants := make([]string, 0, len(byTenant))
	for t := range byTenant {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	m.rows = m.rows[:0]
	m.shown = 0
	for _, t := range tenants {
		as := byTenant[t]
		sort.Slice(as, func(i, j int) bool {
			if !as[i].Issued.Equal(as[j].Issued) {
				return as[i].Issued.Before(as[j].Issued)
			}
			return as[i].ID < as[j].ID
		})
		active := 0
		for _, a := range as {
			if a.StateAt(now) == watch.StateActive {
				active++
			}
		}
		m.rows = append(m.rows, watchRow{tenant: t, count: len(as), active: active})
		for _, a := range as {
			m.rows = append(m.rows, watchRow{tenant: t, id: a.ID})
		}
		m.shown += len(as)
	}
	m.sel = -1
	for i, r := range m.rows {
		if r.id != "" && (r.id == keep || keep == "") {
			m.sel = i
			break
		}
	}
	if m.sel < 0 {
		m.sel = 0
		m.move(1)
	}
	m.scrollToSel()
}

// watchMatches: does the filter (lowercase) appear in the agent's tenant,
// SPIFFE ID, task, orchestrator, scope, jti or state word?
func watchMatches(a watch.Agent, f string, now time.Time) bool {
	for _, s := range []string{a.Tenant, a.ID, a.Task, a.Orch, strings.Join(a.Scope, " "), a.JTI, a.StateAt(now).String()} {
		if strings.Contains(strings.ToLower(s), f) {
			return true
		}
	}
	return false
}

// watchTarget shortens a revocation target for a status line.
func watchTarget(s string) string {
	if strings.HasPrefix(s, "spiffe://") {
		p := watchAgentPath(s)
		if i := strings.LastIndexByte(p, '/'); i >= 0 && len(p)-i > 7 {
			p = p[:i+7] + "…"
		}
		return p
	}
	if len(s) > 12 {
		return s[:8] + "…"
	}
	return s
}

// shortAgent drops "spiffe://<domain>/agent/" from a SPIFFE ID: what is left
// is orch/task/instance.
func watchAgentPath(id string) string {
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok {
		return id
	}
	if i := strings.Index(rest, "/agent/"); i >= 0 {
		return rest[i+len("/agent/"):]
	}
	return rest
}
