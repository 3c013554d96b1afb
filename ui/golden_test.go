package ui

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/charmbracelet/x/vt"

	"github.com/tenantui/tenantui/pipeline"
)

// Golden tests run the console in a teatest program at a fixed size, with a
// fixed clock, a pinned colour profile and no terminal queries, feed it
// through the fake controller and its event channel, and golden the final
// model's View().Content (plus a stripped copy that is easy to review).
// Refresh with: go test ./ui/ -update

// screen replays a program's output into a terminal emulator, so waits are
// on what a terminal would show, not on the renderer's byte stream (which
// moves the cursor over unchanged cells). teatest's Output drains, so the
// emulator accumulates across waits.
type screen struct{ e *vt.Emulator }

func newScreen(t *testing.T, w, h int) *screen {
	e := vt.NewEmulator(w, h)
	go func() { _, _ = io.Copy(io.Discard, e) }() // drain any reply the emulator sends
	t.Cleanup(func() {
		// End the drain. Closing the input pipe's writer, unlike e.Close,
		// does not race with the drain's Read.
		if c, ok := e.InputPipe().(io.Closer); ok {
			_ = c.Close()
		}
	})
	// The program does not own a TTY, so its renderer writes bare "\n" and
	// relies on the line discipline's ONLCR; LNM gives the emulator that.
	_, _ = e.WriteString(ansi.SetModeLineFeedNewLine)
	return &screen{e: e}
}

// shows is a WaitFor condition: the screen contains every sub.
func (s *screen) shows(subs ...string) func([]byte) bool {
	fed := 0
	return func(b []byte) bool {
		_, _ = s.e.Write(b[fed:])
		fed = len(b)
		text := s.e.String()
		for _, sub := range subs {
			if !strings.Contains(text, sub) {
				return false
			}
		}
		return true
	}
}

func startConsole(t *testing.T, w, h int) *teatest.TestModel {
	t.Helper()
	clk := &testClock{t: t0}
	events := make(chan pipeline.Event, 1024)
	f := newFake(pipeline.DefaultTenants(), clk.now, events)
	m := New(Options{Events: events, Control: f, Tenants: pipeline.DefaultTenants(), Broker: testBroker,
		TTL: 5 * time.Minute, Now: clk.now})
	return teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
}

func TestGolden(t *testing.T) {
	type step struct {
		keys []string
		wait []string // what the screen must show before the next step
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"first_screen", nil},
		{"agent_active", []step{{[]string{"enter"}, []string{" hospital: create done", "2 events", "ACTIVE"}}}},
		{"isolation", []step{
			{[]string{"enter"}, []string{" hospital: create done"}},
			{[]string{"i"}, []string{" Cross-tenant isolation verified.", "BLOCKED  bank agent cannot write hospital"}},
		}},
		{"help", []step{{[]string{"?"}, []string{"Keys", "over-ceiling"}}}},
	}
	for _, size := range [][2]int{{100, 30}, {80, 24}} {
		w, h := size[0], size[1]
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, w, h), func(t *testing.T) {
				tm := startConsole(t, w, h)
				scr := newScreen(t, w, h)
				teatest.WaitFor(t, tm.Output(), scr.shows("Decision log", "NO AGENT"),
					teatest.WithDuration(3*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
				for _, s := range c.steps {
					for _, k := range s.keys {
						tm.Send(keyPress(k))
					}
					teatest.WaitFor(t, tm.Output(), scr.shows(s.wait...),
						teatest.WithDuration(3*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
				}
				if err := tm.Quit(); err != nil {
					t.Fatal(err)
				}
				fm := tm.FinalModel(t, teatest.WithFinalTimeout(3*time.Second)).(Model)
				requireGolden(t, fm.View().Content)
			})
		}
	}
	t.Run("too_small_60x20", func(t *testing.T) {
		tm := startConsole(t, 60, 20)
		teatest.WaitFor(t, tm.Output(), newScreen(t, 60, 20).shows("terminal too small"),
			teatest.WithDuration(3*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
		if err := tm.Quit(); err != nil {
			t.Fatal(err)
		}
		fm := tm.FinalModel(t, teatest.WithFinalTimeout(3*time.Second)).(Model)
		got := fm.View().Content
		if want := "terminal too small: need 80×24, have 60×20"; !strings.Contains(ansi.Strip(got), want) {
			t.Fatalf("too-small screen %q lacks %q", ansi.Strip(got), want)
		}
		requireGolden(t, got)
	})
}

// requireGolden goldens the content as rendered (escape sequences and all)
// and, as a subtest, without escape sequences for review.
func requireGolden(t *testing.T, content string) {
	t.Helper()
	golden.RequireEqual(t, content)
	t.Run("plain", func(t *testing.T) { golden.RequireEqual(t, ansi.Strip(content)) })
}

// TestPaneGoldens goldens single panes at a few widths, dark and light.
func TestPaneGoldens(t *testing.T) {
	m, f, _ := newTestModel(t, 100, 30)
	ev := make(chan pipeline.Event, 256)
	f.events = ev
	m, _ = press(t, m, "enter", "enter", "x", "enter")
	m = feed(t, m, ev)
	s := m.tp.states[0]
	for _, dark := range []bool{true, false} {
		st := NewStyles(dark)
		theme := map[bool]string{true: "dark", false: "light"}[dark]
		for _, w := range []int{40, 64} {
			t.Run(fmt.Sprintf("card_%s_%d", theme, w), func(t *testing.T) {
				lines := append(cardStatic(st, &s, w-4), cardCountdown(st, &s, t0.Add(100*time.Second), m.ttl, w-4))
				requireGolden(t, strings.Join(box(st, "Agent · hospital", stateBadge(st, s.Agent, t0), lines, w, 8), "\n"))
			})
			t.Run(fmt.Sprintf("stepper_%s_%d", theme, w), func(t *testing.T) {
				requireGolden(t, strings.Join(box(st, "ETL stages", "", m.tp.stepperLines(0, st, "", w-4), w, 8), "\n"))
			})
		}
		for _, w := range []int{80, 120} {
			t.Run(fmt.Sprintf("probe_%s_%d", theme, w), func(t *testing.T) {
				requireGolden(t, strings.Join(m.probe.lines(st, "", w-4, 20), "\n"))
			})
			t.Run(fmt.Sprintf("tenants_%s_%d", theme, w), func(t *testing.T) {
				requireGolden(t, strings.Join(m.tp.view(w, 6, st, "", t0, false), "\n"))
			})
		}
	}
}
