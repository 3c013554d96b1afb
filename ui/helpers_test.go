package ui

import (
	"testing"
	"time"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tenantui/tenantui/pipeline"
)

// t0 is the fixed clock of every test.
var t0 = time.Date(2026, 11, 26, 20, 15, 4, 0, time.UTC)

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

var testBroker = BrokerInfo{URL: "http://127.0.0.1:8080", Mode: "embedded", Version: "2.0.0", Healthy: true, ClientID: "tc-3f9a21c0"}

// newTestModel is a console on a fake controller at w×h with the first
// snapshot and the admin answer applied, as after Init.
func newTestModel(t testing.TB, w, h int) (Model, *fakeCtrl, *testClock) {
	t.Helper()
	clk := &testClock{t: t0}
	f := newFake(pipeline.DefaultTenants(), clk.now, nil)
	m := New(Options{Control: f, Tenants: pipeline.DefaultTenants(), Broker: testBroker, TTL: 5 * time.Minute, Now: clk.now})
	m = update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m = update(t, m, snapshotMsg{snap: f.Snapshot()})
	m = update(t, m, adminMsg{ok: true})
	return m, f, clk
}

func update(t testing.TB, m Model, msg tea.Msg) Model {
	t.Helper()
	nm, _ := m.Update(msg)
	return nm.(Model)
}

// plain is the screen without escape sequences.
func plain(m Model) string { return ansi.Strip(m.View().Content) }

func keyPress(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(s)[0]
	return tea.KeyPressMsg{Code: r, Text: s}
}

// press sends one key and settles the model (see settle).
func press(t testing.TB, m Model, keys ...string) (Model, []tea.Msg) {
	t.Helper()
	var all []tea.Msg
	for _, k := range keys {
		nm, cmd := m.Update(keyPress(k))
		var msgs []tea.Msg
		m, msgs = settle(t, nm.(Model), cmd)
		all = append(all, msgs...)
	}
	return m, all
}

// settle runs cmd and every command that follows from it, feeding each
// result back into m, until no Controller call or refresh is in flight. Timer
// messages (clock and spinner) are dropped. It returns the messages fed.
func settle(t testing.TB, m Model, cmd tea.Cmd) (Model, []tea.Msg) {
	t.Helper()
	msgs := make(chan tea.Msg, 256)
	pending := 0
	launch := func(c tea.Cmd) {
		if c == nil {
			return
		}
		pending++
		go func() { msgs <- c() }()
	}
	launch(cmd)
	var fed []tea.Msg
	deadline := time.After(5 * time.Second)
	for m.busy > 0 || m.refreshing {
		select {
		case msg := <-msgs:
			pending--
			switch msg := msg.(type) {
			case tea.BatchMsg:
				for _, c := range msg {
					launch(c)
				}
				continue
			case nil, tickMsg, spinner.TickMsg:
				continue
			}
			fed = append(fed, msg)
			nm, c := m.Update(msg)
			m = nm.(Model)
			launch(c)
		case <-deadline:
			t.Fatalf("settle: timed out with %d calls in flight", m.busy)
		}
	}
	// Collect what already finished (e.g. tea.Quit after the last call);
	// with nothing outstanding there is nothing to wait for.
	for pending > 0 {
		select {
		case msg := <-msgs:
			pending--
			switch msg := msg.(type) {
			case tea.BatchMsg:
				for _, c := range msg {
					launch(c)
				}
			case nil, tickMsg, spinner.TickMsg:
			default:
				fed = append(fed, msg)
			}
		case <-time.After(20 * time.Millisecond):
			return m, fed
		}
	}
	return m, fed
}

// feed applies the fake's pending events, then settles the refreshes they
// ask for.
func feed(t testing.TB, m Model, ev chan pipeline.Event) Model {
	t.Helper()
	for {
		// Take what is waiting as one batch, as the console's listener does.
		var batch eventBatchMsg
	take:
		for {
			select {
			case e := <-ev:
				batch = append(batch, e)
			default:
				break take
			}
		}
		if len(batch) == 0 {
			return m
		}
		nm, cmd := m.Update(batch)
		m, _ = settle(t, nm.(Model), cmd)
	}
}

// firstMsg runs cmd (and the batches it returns) and returns the first
// message of type T, failing after 3 s. Timer messages are skipped.
func firstMsg[T tea.Msg](t testing.TB, cmd tea.Cmd) T {
	t.Helper()
	var zero T
	if cmd == nil {
		t.Fatalf("want a command producing %T, got nil", zero)
	}
	msgs := make(chan tea.Msg, 64)
	run := func(c tea.Cmd) { go func() { msgs <- c() }() }
	run(cmd)
	deadline := time.After(3 * time.Second)
	for {
		select {
		case msg := <-msgs:
			if b, ok := msg.(tea.BatchMsg); ok {
				for _, c := range b {
					if c != nil {
						run(c)
					}
				}
				continue
			}
			if v, ok := msg.(T); ok {
				return v
			}
		case <-deadline:
			t.Fatalf("no %T from the command", zero)
			return zero
		}
	}
}
