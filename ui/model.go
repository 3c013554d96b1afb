package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/pipeline"
)

// Minimum and wide terminal sizes.
const (
	minWidth  = 80
	minHeight = 24
	wideWidth = 120
)

// mode is which screen has the keyboard.
type mode int

const (
	modeMain   mode = iota
	modeCross       // cross-tenant form
	modeRevoke      // revoke menu
	modeAudit       // audit screen
)

// detailKind is what the detail pane shows.
type detailKind int

const (
	detailNone detailKind = iota
	detailProbe
	detailIsolation
	detailMatrix
	detailDelegation
	detailOverCeiling
	detailPreview
	detailForm  // the cross-tenant form (modeCross)
	detailMenu  // the revoke menu (modeRevoke)
	detailError // the last error in full
)

// Model is the console: the one tea.Model of the package. Panes are plain
// structs it owns and renders.
type Model struct {
	ctrl    Controller
	events  <-chan pipeline.Event
	now     func() time.Time
	queryBG bool
	broker  BrokerInfo
	ttl     time.Duration

	keys KeyMap // all bindings
	km   KeyMap // bindings of the current mode
	help help.Model
	spin spinner.Model
	st   Styles

	width, height int
	mode          mode
	showHelp      bool
	focus         paneFocus // which pane pgup/pgdn page; tab cycles (filter.go)
	detailOff     int       // first line of the detail pane shown, when it overflows

	tp     tenantsPane
	log    logPane
	detail detailKind
	form   crossForm
	menu   revokeMenu
	audit  auditPane
	probe  probeState
	iso    isolationState
	matrix matrixState
	deleg  delegationState
	over   overCeilingState
	admin  adminState

	status       string
	statusErr    bool
	busy         int    // Controller calls in flight
	busyLabel    string // what the latest one does
	spinning     bool   // a spinner tick chain is alive
	animating    bool   // something on screen shows the spinner
	tableRunning bool   // the tenants table shows a running stage
	runAll       bool
	prog         runProgress // the latest run-all (progress.go)
	stale        staleSet    // panes to redraw at the next spinner frame (touchBusy)

	refreshing, refreshAgain bool
	eventsDone               bool

	gen int // tick chain generation

	quitting     bool
	abandoned    bool                     // exit at once asked: the owner releases
	quitReleased int                      // releases seen while quitting
	shut         *pipeline.ShutdownResult // the way out, once done
	released     int

	health        healthState
	recheckHealth bool   // a call failed on transport: ask the broker's health
	lastErr       string // the last failure in full (e opens it)

	ver   versions
	cache *viewCache

	tour *tourState // tour: nil outside the guided tour (ui/tour.go)
}

// New returns the console for opts.
func New(opts Options) Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	st := NewStyles(true)
	keys := DefaultKeyMap()
	h := help.New()
	h.Styles = st.Help
	m := Model{
		ctrl:    opts.Control,
		events:  opts.Events,
		now:     opts.Now,
		queryBG: opts.QueryBackground,
		broker:  opts.Broker,
		ttl:     opts.TTL,
		keys:    keys,
		km:      keys.forMode(modeMain),
		help:    h,
		spin:    spinner.New(spinner.WithSpinner(spinner.MiniDot), spinner.WithStyle(st.Spinner)),
		st:      st,
		tp:      newTenantsPane(append([]pipeline.Tenant(nil), opts.Tenants...)),
		gen:     1,
		cache:   &viewCache{},
		status:  "ready: ↑/↓ picks a tenant, enter runs its next stage",
	}
	if opts.Broker.AdminRejected {
		m.setStatus(adminRejectedText, true)
	}
	m.touchAll()
	m.tourInit(opts.Tour, opts.TTL) // tour:
	return m
}

// Quitting reports whether the user asked to quit.
func (m Model) Quitting() bool { return m.quitting }

// Released is how many agents the console released on the way out.
func (m Model) Released() int { return m.released }

// Init starts the clock, the event listener, the first snapshot and the
// admin check.
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{tick(m.gen), waitForEvent(m.events)}
	if m.ctrl != nil {
		cmds = append(cmds, refreshCmd(m.ctrl), adminCmd(m.ctrl), healthTick(m.health.gen))
	}
	if m.queryBG {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	cmds = append(cmds, m.tourInitCmd()) // tour: the first lesson's setup
	return tea.Batch(cmds...)
}

// Update handles, in order: window size, keys, domain messages, ticks, then
// the spinner.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if m.tour != nil { // tour: the lesson pane sees every message (ui/tour.go)
		return m.tourUpdate(msg)
	}
	return m.update(msg)
}

func (m Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
		m.tp.scrollTo(m.tenantRows())
		m.touch(&m.ver.tenants)
	case tea.BackgroundColorMsg:
		m.setStyles(msg.IsDark())

	case tea.KeyPressMsg:
		m, cmd = m.handleKey(msg)

	case eventMsg:
		cmd = m.onEvents(pipeline.Event(msg))
	case eventBatchMsg:
		cmd = m.onEvents(msg...)
	case eventsClosedMsg:
		m.eventsDone = true
	case snapshotMsg:
		m.applySnapshot(msg.snap)
		m.refreshing = false
		if m.refreshAgain {
			m.refreshAgain = false
			cmd = m.requestRefresh()
		}
	case adminMsg:
		m.admin = adminState{known: true, ok: msg.ok, why: msg.why}
		m.touch(&m.ver.detail)
		m.touch(&m.ver.audit)

	case stepDoneMsg:
		m.done(msg.snap)
		if i, ok := m.tp.index[msg.tenant]; ok {
			m.tp.stages[i].inflight = false
		}
		if msg.err != nil {
			m.fail("step "+msg.tenant, msg.err)
		} else if i, ok := m.tp.index[msg.tenant]; ok {
			m.setStatus(fmt.Sprintf("%s: %s done", msg.tenant, m.tp.states[i].Stage), false)
		}
	case runAllDoneMsg:
		m.done(msg.snap)
		m.runAll = false
		m.flushStale()
		m.prog.finish(m.now(), m.tp.states)
		if msg.err != nil {
			m.fail("run all ("+m.prog.completion()+")", msg.err)
		} else {
			m.setStatus(m.prog.completion(), false)
		}
	case probeDoneMsg:
		m.done(msg.snap)
		m.probe.pending, m.probe.res = false, msg.res
		m.probe.err = errText(msg.err)
		m.touch(&m.ver.detail)
		if msg.err != nil {
			m.fail("cross-tenant attempt", msg.err)
		} else {
			r := msg.res
			m.setStatus(fmt.Sprintf("%s agent → %s %s: local %s, store %s", r.Actor, r.Target, r.Op.Label(),
				r.Local.Verdict(), r.Store.Verdict()), false)
		}
	case isolationDoneMsg:
		m.done(msg.snap)
		m.iso = isolationState{res: msg.res, err: errText(msg.err)}
		m.touch(&m.ver.detail)
		switch {
		case msg.err != nil:
			m.fail("isolation check", msg.err)
		case msg.res.NotApplicable:
			m.setStatus("Isolation not checked: "+msg.res.Note, true)
		case msg.res.Passed:
			m.setStatus("Cross-tenant isolation verified.", false)
		default:
			m.setStatus("Cross-tenant isolation FAILED", true)
		}
	case matrixDoneMsg:
		m.done(msg.snap)
		m.matrix = matrixState{res: msg.res, err: errText(msg.err)}
		m.touch(&m.ver.detail)
		if msg.err != nil {
			m.fail("matrix", msg.err)
		} else {
			m.setStatus(matrixStatus(msg.res), msg.res.Failures > 0)
		}
	case renewDoneMsg:
		m.done(msg.snap)
		if msg.err != nil {
			m.fail("renew "+msg.tenant, msg.err)
		} else {
			m.setStatus(msg.tenant+" agent renewed: new jti, fresh countdown; the old token is dead", false)
			m.gen++ // restart the clock in step with the new countdown
			cmd = tick(m.gen)
		}
	case releaseDoneMsg:
		m.done(msg.snap)
		if msg.err != nil {
			m.fail("release "+msg.tenant, msg.err)
		} else {
			m.setStatus(msg.tenant+" agent released: its token is revoked", false)
		}
	case revokeDoneMsg:
		m.done(msg.snap)
		if msg.err != nil {
			m.fail("revoke "+msg.tenant, msg.err)
		} else {
			m.setStatus(fmt.Sprintf("%s agent revoked at level %s", msg.tenant, msg.level), false)
		}
	case delegateDoneMsg:
		m.done(msg.snap)
		m.deleg = delegationState{from: msg.from, to: msg.to, results: msg.results, err: errText(msg.err)}
		m.touch(&m.ver.detail)
		if msg.err != nil {
			m.fail("delegate", msg.err)
		} else {
			m.setStatus(fmt.Sprintf("delegation %s → %s: cross-tenant scope refused, own scope delegated", msg.from, msg.to), false)
		}
	case overCeilingDoneMsg:
		m.done(msg.snap)
		m.over = overCeilingState{tenant: msg.tenant, access: msg.access, err: errText(msg.err)}
		m.touch(&m.ver.detail)
		if msg.err != nil {
			m.fail("over-ceiling", msg.err)
		} else {
			m.setStatus(fmt.Sprintf("over-ceiling agent for %s: broker says %s", msg.tenant, msg.access.Verdict()), false)
		}
	case auditDoneMsg:
		m.done(nil)
		if msg.filter == m.audit.filter() || msg.filter == (pipeline.AuditFilter{}) {
			if msg.err != nil {
				m.audit.err = msg.err.Error()
				m.fail("audit", msg.err)
			} else {
				m.audit.setResult(msg.filter, msg.res)
				if msg.filter != m.audit.filter() { // the unfiltered trail arrived for choices only
					cmd = m.call("filtering the audit trail…", auditCmd(m.ctrl, m.audit.filter()))
				}
			}
			m.audit.loading = cmd != nil
			m.touch(&m.ver.audit)
		}
	case shutdownDoneMsg:
		return m, m.onShutdown(msg.res)
	case interruptMsg:
		m, cmd = m.onInterrupt()
		return m, cmd
	case healthTickMsg:
		if msg.gen != m.health.gen || m.quitting {
			return m, nil
		}
		return m, tea.Batch(m.checkHealth(), healthTick(m.health.gen))
	case healthDoneMsg:
		m.onHealth(msg)

	case tickMsg:
		if msg.gen != m.gen {
			return m, nil // a stale chain
		}
		if now := m.now(); !m.tp.nextExpiry.IsZero() && !now.Before(m.tp.nextExpiry) {
			m.tp.recount(now) // an agent just expired: the table shows it
			m.touch(&m.ver.tenants)
		}
		return m, tea.Batch(tick(m.gen), m.auditAutoRefresh())

	case spinner.TickMsg:
		refresh := m.flushStale()
		if !m.animating {
			m.spinning = false // let the chain die
			return m, refresh
		}
		m.spin, cmd = m.spin.Update(msg)
		return m, tea.Batch(cmd, refresh)
	}
	if m.recheckHealth {
		m.recheckHealth = false
		cmd = tea.Batch(cmd, m.checkHealth())
	}
	m.tableRunning = m.tp.anyRunning()
	m.animating = m.busy > 0 || m.tableRunning || m.pending()
	if m.animating && !m.spinning {
		m.spinning = true
		cmd = tea.Batch(cmd, m.spin.Tick)
	}
	return m, cmd
}

// pending reports whether a detail pane waits for a result.
func (m *Model) pending() bool {
	return m.probe.pending || m.iso.pending || m.matrix.pending || m.deleg.pending || m.over.pending ||
		(m.mode == modeAudit && m.audit.loading)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}

// handleKey routes a key press by mode.
func (m Model) handleKey(k tea.KeyPressMsg) (Model, tea.Cmd) {
	if m.quitting {
		if key.Matches(k, m.keys.Interrupt) {
			return m.abandon() // second ctrl+c: do not wait for the release
		}
		return m, nil
	}
	if m.showHelp && key.Matches(k, m.keys.Close) && m.mode != modeMain {
		m.showHelp = false // esc closes the help first, whatever screen is under it
		return m, nil
	}
	if !key.Matches(k, m.keys.Interrupt) { // typing a query: q, ? and the rest are text
		switch {
		case m.mode == modeMain && m.tp.filter.active:
			return m.filterKey(k)
		case m.mode == modeAudit && m.audit.typing:
			return m.auditKey(k)
		}
	}
	switch {
	case key.Matches(k, m.km.Quit):
		return m.quit()
	case m.tooSmall():
		return m, nil // nothing on screen to act on: only quit and resize
	case key.Matches(k, m.km.ShowError):
		m.showDetail(detailError)
		return m, nil
	case key.Matches(k, m.km.Help):
		m.showHelp = !m.showHelp
		m.help.ShowAll = m.showHelp
		return m, nil
	}
	switch m.mode {
	case modeCross:
		return m.crossKey(k)
	case modeRevoke:
		return m.revokeKey(k)
	case modeAudit:
		return m.auditKey(k)
	}
	return m.mainKey(k)
}

// call starts a Controller call: the spinner runs until its result arrives.
func (m *Model) call(label string, c tea.Cmd) tea.Cmd {
	m.busy++
	m.busyLabel = label
	m.animating = true
	if m.spinning {
		return c
	}
	m.spinning = true
	return tea.Batch(c, m.spin.Tick)
}

// done ends a Controller call and applies its snapshot.
func (m *Model) done(snap snapshot) {
	m.busy = max(m.busy-1, 0)
	if m.busy == 0 {
		m.busyLabel = ""
	}
	if snap != nil {
		m.applySnapshot(snap)
	}
}

func (m *Model) applySnapshot(snap snapshot) {
	if snap == nil {
		return
	}
	if len(m.tp.tenants) == 0 && len(snap) > 0 { // no catalog given: take the runner's
		ts := make([]pipeline.Tenant, len(snap))
		for i, s := range snap {
			ts[i] = s.Tenant
		}
		m.tp = newTenantsPane(ts)
	}
	m.tp.applySnapshot(snap, m.now())
	m.tp.scrollTo(m.tenantRows())
	m.touchBusy(paneTenants)
}

// onEvents logs events, records stage decisions and refreshes the states
// when the event changed one.
func (m *Model) onEvents(evs ...pipeline.Event) tea.Cmd {
	refresh := false
	for _, ev := range evs {
		if e, ok := entryFor(ev); ok {
			if e.tag != tagError || !m.recentError(ev.Err) {
				m.log.add(e)
				m.touchBusy(paneLog)
			}
		}
		if m.tp.applyEvent(ev) {
			m.touchBusy(paneTenants)
		}
		if m.prog.active {
			if i, ok := m.tp.index[ev.Tenant]; ok {
				m.prog.apply(ev, i)
			}
		}
		if m.quitting && ev.Kind == pipeline.EventReleased {
			m.quitReleased++
			m.busyLabel = fmt.Sprintf("releasing every credential: %d released so far… ctrl+c again exits at once", m.quitReleased)
		}
		switch ev.Kind {
		case pipeline.EventDecision, pipeline.EventDelegated, pipeline.EventInfo:
		default:
			refresh = true
		}
	}
	cmds := []tea.Cmd{waitForEvent(m.events)}
	if refresh {
		cmds = append(cmds, m.refreshBusy())
	}
	return tea.Batch(cmds...)
}

// requestRefresh asks for a snapshot, at most one in flight.
func (m *Model) requestRefresh() tea.Cmd {
	if m.ctrl == nil {
		return nil
	}
	if m.refreshing {
		m.refreshAgain = true
		return nil
	}
	m.refreshing = true
	return refreshCmd(m.ctrl)
}

// recentError reports whether one of the last log entries is an error
// mentioning text: the runner and the console may both report a failure.
func (m *Model) recentError(text string) bool {
	if text == "" {
		return false
	}
	es := m.log.visible()
	for k := len(es) - 1; k >= max(len(es)-10, 0); k-- {
		if es[k].tag == tagError && strings.Contains(es[k].text, text) {
			return true
		}
	}
	return false
}

func (m *Model) setStatus(s string, isErr bool) {
	m.status, m.statusErr = s, isErr
}

func (m *Model) setMode(md mode) {
	m.mode = md
	m.km = m.keys.forMode(md)
	m.detailOff = 0
	m.tp.scrollTo(m.tenantRows()) // the table may yield rows to a form (layout)
	m.touch(&m.ver.detail)
	m.touch(&m.ver.audit)
	m.touch(&m.ver.tenants)
}

func (m *Model) showDetail(d detailKind) {
	m.detail = d
	m.detailOff = 0
	m.tp.scrollTo(m.tenantRows())
	m.touch(&m.ver.detail)
	m.touch(&m.ver.tenants)
}

func (m *Model) setStyles(dark bool) {
	m.st = NewStyles(dark)
	m.help.Styles = m.st.Help
	m.spin.Style = m.st.Spinner
	m.touchAll()
}
