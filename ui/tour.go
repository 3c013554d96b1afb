package ui

// The guided tour (tenantui tour): a lesson pane beside the console, and a
// Progress per lesson fed with the same events and results the console
// shows. Hooks elsewhere are few and marked "tour:": the Tour field of
// Options and Model, Update's first lines, Init, and the body's layout.

import (
	"context"
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/pipeline"
	"github.com/tenantui/tenantui/tour"
)

// Tour turns the console into the guided tour (Options.Tour).
type Tour struct {
	// Lessons are shown in order; there must be at least one.
	Lessons []tour.Lesson
	// Control gives a lesson a fresh pipeline (setup fresh, or a ttl other
	// than the running one). nil: lessons never reset (tests).
	Control TourControl
}

// TourControl resets the pipeline between lessons. It may block; the
// console calls it from a Cmd.
type TourControl interface {
	// Reset releases every live agent, then starts a fresh pipeline state
	// whose agents live ttl.
	Reset(ctx context.Context, ttl time.Duration) error
}

// TourSkipMsg moves to the next lesson whether or not the current one is
// done. No key sends it: `tenantui tour --solve` does, to go on checking the
// lessons after one that fails.
type TourSkipMsg struct{}

// tourSetupDoneMsg is the end of a lesson's reset.
type tourSetupDoneMsg struct {
	lesson int
	ttl    time.Duration
	err    error
	snap   snapshot
}

// tourState is the tour's part of the model. The model is used linearly,
// so it is shared by pointer between copies, like the view cache.
type tourState struct {
	lessons []tour.Lesson
	ctl     TourControl
	defTTL  time.Duration // the tour's TTL for lessons without one
	curTTL  time.Duration // the running pipeline's TTL
	next    key.Binding

	i        int // current lesson
	progress *tour.Progress
	results  []tour.Result
	done     bool // every condition held at once (latched)
	finished bool // past the last lesson
	setup    bool // a reset in flight
	setupErr string
	keys     int   // key presses handled
	events   int64 // pipeline events received
}

// tourInit sets up the tour from opts (called by New).
func (m *Model) tourInit(t *Tour, ttl time.Duration) {
	if t == nil || len(t.Lessons) == 0 {
		return
	}
	m.tour = &tourState{lessons: t.Lessons, ctl: t.Control, defTTL: ttl, curTTL: ttl,
		next: key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "next lesson"))}
	m.tourBegin(0) // Init issues the first lesson's setup, if any
}

// tourInitCmd is the first lesson's setup, issued by Init.
func (m Model) tourInitCmd() tea.Cmd {
	t := m.tour
	if t == nil || !t.setup {
		return nil
	}
	return tourSetupCmd(t.ctl, m.ctrl, t.i, m.lessonTTL(t.i))
}

func (m *Model) lessonTTL(i int) time.Duration {
	if ttl := m.tour.lessons[i].Setup.TTL; ttl > 0 {
		return ttl
	}
	return m.tour.defTTL
}

// tourBegin puts the console in a known state for lesson i — main screen,
// first tenant selected, no panel open, a fresh cross-tenant form — and
// either starts checking it or marks its reset as due (the caller issues
// tourSetupCmd; busy counts it).
func (m *Model) tourBegin(i int) {
	t := m.tour
	t.i, t.progress, t.results, t.done, t.setupErr = i, nil, nil, false, ""
	m.setMode(modeMain)
	m.detail, m.showHelp, m.help.ShowAll = detailNone, false, false
	m.form = crossForm{}
	m.tp.sel = 0
	m.tp.scrollTo(m.tenantRows())
	m.touchAll()
	l := t.lessons[i]
	if t.ctl != nil && (l.Setup.Fresh || m.lessonTTL(i) != t.curTTL) {
		t.setup = true
		m.busy++
		m.busyLabel = fmt.Sprintf("lesson %d: a fresh pipeline…", i+1)
		return
	}
	m.tourStart()
}

// tourStart starts checking the current lesson from now on.
func (m *Model) tourStart() {
	t := m.tour
	t.progress = tour.NewProgress(t.lessons[t.i])
	t.results = t.progress.Check(m.tp.states, m.now())
	m.setStatus(fmt.Sprintf("lesson %d/%d: %s", t.i+1, len(t.lessons), t.lessons[t.i].Title), false)
}

func tourSetupCmd(tc TourControl, c Controller, lesson int, ttl time.Duration) tea.Cmd {
	return guarded("lesson setup", func() tea.Msg {
		ctx, cancel := timeout(callTimeout)
		defer cancel()
		err := tc.Reset(ctx, ttl)
		var snap snapshot
		if c != nil {
			snap = c.Snapshot()
		}
		return tourSetupDoneMsg{lesson: lesson, ttl: ttl, err: err, snap: snap}
	}, func(err error) tea.Msg { return tourSetupDoneMsg{lesson: lesson, ttl: ttl, err: err} })
}

// tourUpdate is Update in the tour: the tour's keys and messages first, then
// the console's Update, then the lesson's check against the new state.
func (m Model) tourUpdate(msg tea.Msg) (tea.Model, tea.Cmd) {
	t := m.tour
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		t.keys++
		switch {
		case m.quitting || key.Matches(msg, m.km.Quit):
		case key.Matches(msg, t.next):
			return m.tourNext(false)
		case t.setup:
			m.setStatus("wait: the lesson's fresh pipeline is being set up", true)
			return m, nil
		}
	case TourSkipMsg:
		return m.tourNext(true)
	case eventMsg:
		t.events++
	case eventBatchMsg:
		t.events += int64(len(msg))
	case tourSetupDoneMsg:
		m.done(nil)
		t.setup = false
		if msg.lesson != t.i {
			return m, nil
		}
		if msg.err != nil {
			t.setupErr = oneLine(msg.err.Error())
			m.setStatus(fmt.Sprintf("lesson %d setup: %s (n retries)", t.i+1, t.setupErr), true)
			m.touch(&m.ver.detail)
			return m, nil
		}
		t.curTTL, m.ttl = msg.ttl, msg.ttl
		m.tp = newTenantsPane(m.tp.tenants)
		m.applySnapshot(msg.snap)
		m.tourStart()
		m.touchAll()
		return m, nil
	}
	nm, cmd := m.update(msg)
	m = nm.(Model)
	m.tourObserve(msg)
	return m, cmd
}

// tourNext moves on when the lesson is done (or when forced); otherwise it
// says what is still missing.
func (m Model) tourNext(force bool) (tea.Model, tea.Cmd) {
	t := m.tour
	m.touch(&m.ver.detail)
	switch {
	case t.finished:
		m.setStatus("the tour is over: q quits (and releases every agent)", false)
		return m, nil
	case t.setup:
		m.setStatus("wait: the lesson's fresh pipeline is being set up", true)
		return m, nil
	case t.setupErr != "" && !force:
		m.tourBegin(t.i) // retry the setup
		return m, m.tourInitCmd()
	case !t.done && !force:
		if r, ok := tour.FirstUnmet(t.results); ok {
			m.setStatus(fmt.Sprintf("lesson %d is not done — %s", t.i+1, r.Missing), true)
		} else {
			m.setStatus(fmt.Sprintf("lesson %d is not done yet", t.i+1), true)
		}
		return m, nil
	}
	if t.i+1 >= len(t.lessons) {
		t.finished = true
		m.setStatus(fmt.Sprintf("tour complete: %d lessons. Explore freely; q quits", len(t.lessons)), false)
		return m, nil
	}
	m.tourBegin(t.i + 1)
	cmd := m.tourInitCmd()
	if cmd != nil && !m.spinning {
		m.spinning = true
		cmd = tea.Batch(cmd, m.spin.Tick)
	}
	m.animating = m.busy > 0
	return m, cmd
}

// tourObserve feeds the lesson's Progress with what msg reports and checks
// the lesson against the console's state.
func (m *Model) tourObserve(msg tea.Msg) {
	t := m.tour
	p := t.progress
	if p == nil || t.finished {
		return
	}
	switch msg := msg.(type) {
	case eventMsg:
		p.Event(pipeline.Event(msg))
	case eventBatchMsg:
		for _, ev := range msg {
			p.Event(ev)
		}
	case isolationDoneMsg:
		if msg.err == nil {
			p.Isolation(msg.res)
		}
	case auditDoneMsg:
		if msg.err == nil {
			p.Audit(msg.res)
		}
	case spinner.TickMsg:
		return // nothing changed but the spinner
	}
	if t.done {
		return // latched: the evidence stays as it was when the lesson was done
	}
	t.results = p.Check(m.tp.states, m.now())
	m.touch(&m.ver.detail)
	if tour.Done(t.results) {
		t.done = true
		if m.busy == 0 {
			m.setStatus(fmt.Sprintf("✓ lesson %d done — press n for the next lesson", t.i+1), false)
		}
	}
}

// TourStatus is the tour's progress as `tenantui tour --solve` reads it.
type TourStatus struct {
	Lesson   int  // index of the current lesson
	Finished bool // past the last lesson
	Keys     int  // key presses handled so far
	// Events counts the pipeline events the console has received.
	Events int64
	// Idle is true when no Controller call, refresh or lesson setup is in
	// flight.
	Idle     bool
	Done     bool
	SetupErr string
	Results  []tour.Result
}

// TourStatus reports the tour's progress (zero without a tour).
func (m Model) TourStatus() TourStatus {
	t := m.tour
	if t == nil {
		return TourStatus{}
	}
	return TourStatus{Lesson: t.i, Finished: t.finished, Keys: t.keys, Events: t.events, Done: t.done, SetupErr: t.setupErr,
		Idle: m.busy == 0 && !m.refreshing && !t.setup, Results: append([]tour.Result(nil), t.results...)}
}

// KeyPresses are the key presses a solution's command sends, in order
// (none for Sleep).
func KeyPresses(k tour.Key) []tea.KeyPressMsg {
	codes := map[tour.KeyCmd]tea.KeyPressMsg{
		tour.KeyEnter: {Code: tea.KeyEnter}, tour.KeyEscape: {Code: tea.KeyEscape}, tour.KeyTab: {Code: tea.KeyTab},
		tour.KeySpace: {Code: tea.KeySpace, Text: " "}, tour.KeyUp: {Code: tea.KeyUp}, tour.KeyDown: {Code: tea.KeyDown},
		tour.KeyLeft: {Code: tea.KeyLeft}, tour.KeyRight: {Code: tea.KeyRight}, tour.KeyBackspace: {Code: tea.KeyBackspace},
	}
	var out []tea.KeyPressMsg
	switch k.Cmd {
	case tour.KeySleep:
	case tour.KeyType:
		for _, r := range k.Text {
			out = append(out, tea.KeyPressMsg{Code: r, Text: string(r)})
		}
	default:
		for range max(k.Count, 1) {
			out = append(out, codes[k.Cmd])
		}
	}
	return out
}
