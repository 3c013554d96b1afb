package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tenantui/tenantui/pipeline"
	"github.com/tenantui/tenantui/tour"
)

// fakeTourCtl records resets; err, when set, makes them fail.
type fakeTourCtl struct {
	mu     sync.Mutex
	resets []time.Duration
	err    error
}

func (f *fakeTourCtl) Reset(_ context.Context, ttl time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, ttl)
	return f.err
}

func builtinLessons(t testing.TB) []tour.Lesson {
	t.Helper()
	ls, err := tour.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// newTourModel is the tour on a fake controller at w×h, as after Init,
// with the fake's events on ev.
func newTourModel(t testing.TB, w, h int, lessons []tour.Lesson, tc TourControl) (Model, *fakeCtrl, chan pipeline.Event) {
	t.Helper()
	ev := make(chan pipeline.Event, 256)
	f := newFake(pipeline.DefaultTenants(), func() time.Time { return t0 }, ev)
	var tourOpt = &Tour{Lessons: lessons}
	if tc != nil {
		tourOpt.Control = tc
	}
	m := New(Options{Control: f, Tenants: pipeline.DefaultTenants(), Broker: testBroker, TTL: 5 * time.Minute,
		Now: func() time.Time { return t0 }, Tour: tourOpt})
	m = update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m, _ = settle(t, m, m.Init())
	m = update(t, m, adminMsg{ok: true})
	return m, f, ev
}

// step presses keys, settling and feeding the fake's events after each.
func step(t testing.TB, m Model, ev chan pipeline.Event, keys ...string) Model {
	t.Helper()
	for _, k := range keys {
		m, _ = press(t, m, k)
		m = feed(t, m, ev)
	}
	return m
}

func TestTourNextCannotSkipAnUnfinishedLesson(t *testing.T) {
	m, f, ev := newTourModel(t, 100, 30, builtinLessons(t), nil)
	if s := m.TourStatus(); s.Lesson != 0 || s.Done || len(s.Results) != 3 {
		t.Fatalf("start: %+v", s)
	}
	m = step(t, m, ev, "n")
	if s := m.TourStatus(); s.Lesson != 0 {
		t.Fatalf("n skipped lesson 1: now at %d", s.Lesson)
	}
	if want := "lesson 1 is not done — not yet: hospital agent is active (it is none)"; m.status != want || !m.statusErr {
		t.Errorf("status %q (err %v), want %q", m.status, m.statusErr, want)
	}
	// Part of the work is not enough.
	m = step(t, m, ev, "enter", "down", "enter")
	m = step(t, m, ev, "n")
	if s := m.TourStatus(); s.Lesson != 0 || s.Done {
		t.Fatalf("n skipped a half-done lesson 1: %+v", s)
	}
	if !strings.Contains(m.status, "retail agent is active (it is none)") {
		t.Errorf("status %q does not say what is missing", m.status)
	}
	// Pressing the keys is not what counts: the agents must really be
	// active. A controller that fails every step leaves the lesson undone.
	f.mu.Lock()
	f.stepErr = errors.New("broker down")
	f.mu.Unlock()
	m = step(t, m, ev, "down", "enter", "n")
	if s := m.TourStatus(); s.Lesson != 0 || s.Done {
		t.Fatalf("a failed step completed the lesson: %+v", s)
	}
	f.mu.Lock()
	f.stepErr = nil
	f.mu.Unlock()
	m = step(t, m, ev, "enter")
	if s := m.TourStatus(); !s.Done || !strings.Contains(m.status, "lesson 1 done") {
		t.Fatalf("lesson 1 not done after three agents: %+v, status %q", s, m.status)
	}
	m = step(t, m, ev, "n")
	if s := m.TourStatus(); s.Lesson != 1 || s.Done {
		t.Fatalf("n after a done lesson: %+v", s)
	}
	if m.tp.sel != 0 || m.detail != detailNone || m.mode != modeMain {
		t.Errorf("lesson 2 does not start from the first tenant on the main screen: sel %d detail %d mode %d", m.tp.sel, m.detail, m.mode)
	}
	// Events of the previous lesson do not count for this one.
	if s := m.TourStatus(); s.Results[1].Met {
		t.Errorf("lesson 2's decision met before anything happened: %+v", s.Results[1])
	}
	m = step(t, m, ev, "o")
	if s := m.TourStatus(); !s.Done {
		t.Fatalf("lesson 2 after o: %+v", s.Results)
	}
}

func TestTourSkipAndFinish(t *testing.T) {
	ls := builtinLessons(t)[:2]
	m, _, _ := newTourModel(t, 100, 30, ls, nil)
	m = update(t, m, TourSkipMsg{})
	m = update(t, m, TourSkipMsg{})
	if s := m.TourStatus(); !s.Finished {
		t.Fatalf("not finished after skipping both lessons: %+v", s)
	}
	m, _ = press(t, m, "n")
	if !strings.Contains(m.status, "the tour is over") {
		t.Errorf("n after the last lesson: %q", m.status)
	}
	if !strings.Contains(plain(m), "Tour complete") {
		t.Errorf("no 'Tour complete' on screen:\n%s", plain(m))
	}
}

func TestTourSetup(t *testing.T) {
	ls := builtinLessons(t)
	tc := &fakeTourCtl{}
	m, _, ev := newTourModel(t, 100, 30, ls, tc)
	// Lesson 1 says fresh: Init reset the pipeline with the default TTL.
	if len(tc.resets) != 1 || tc.resets[0] != 5*time.Minute {
		t.Fatalf("resets after Init: %v", tc.resets)
	}
	if s := m.TourStatus(); !s.Idle || s.Lesson != 0 || len(s.Results) != 3 {
		t.Fatalf("after setup: %+v", s)
	}
	// Lessons 2–5 continue; lesson 6 asks for ttl 5; lesson 7 goes back to
	// the default TTL, so it starts fresh too.
	for range 5 {
		nm, cmd := m.Update(TourSkipMsg{})
		m, _ = settle(t, nm.(Model), cmd)
	}
	if s := m.TourStatus(); s.Lesson != 5 {
		t.Fatalf("at lesson %d, want 6", s.Lesson+1)
	}
	// While a reset is in flight, keys (but quit) are held back.
	nm, cmd := m.Update(TourSkipMsg{})
	m = nm.(Model)
	if s := m.TourStatus(); s.Idle {
		t.Fatal("the reset of lesson 7 is not in flight")
	}
	m2, c2 := m.Update(keyPress("enter"))
	if c2 != nil || !strings.Contains(m2.(Model).status, "being set up") {
		t.Errorf("enter during the setup: cmd %v, status %q", c2 != nil, m2.(Model).status)
	}
	m, _ = settle(t, m, cmd)
	m = feed(t, m, ev)
	if got := fmt.Sprint(tc.resets); got != "[5m0s 5s 5m0s]" {
		t.Errorf("resets %s, want [5m0s 5s 5m0s]", got)
	}
	if m.ttl != 5*time.Minute {
		t.Errorf("console ttl %s after lesson 7's setup", m.ttl)
	}

	// A failed reset blocks the lesson; n retries it.
	tc.mu.Lock()
	tc.err = errors.New("broker unreachable")
	tc.mu.Unlock()
	m2s, _, ev2 := newTourModel(t, 100, 30, ls, tc)
	if s := m2s.TourStatus(); s.SetupErr != "broker unreachable" || !strings.Contains(m2s.status, "n retries") {
		t.Fatalf("failed setup: %+v, status %q", s, m2s.status)
	}
	tc.mu.Lock()
	tc.err = nil
	tc.mu.Unlock()
	m2s = step(t, m2s, ev2, "n")
	if s := m2s.TourStatus(); s.SetupErr != "" || s.Lesson != 0 || len(s.Results) != 3 {
		t.Errorf("after the retry: %+v", s)
	}
}

func TestKeyPresses(t *testing.T) {
	cases := []struct {
		k    tour.Key
		want string
	}{
		{tour.Key{Cmd: tour.KeyType, Text: "xA"}, "x A"},
		{tour.Key{Cmd: tour.KeyEnter, Count: 1}, "enter"},
		{tour.Key{Cmd: tour.KeyDown, Count: 2}, "down down"},
		{tour.Key{Cmd: tour.KeyEscape}, "esc"},
		{tour.Key{Cmd: tour.KeySpace, Count: 1}, "space"},
		{tour.Key{Cmd: tour.KeyTab, Count: 1}, "tab"},
		{tour.Key{Cmd: tour.KeyUp, Count: 1}, "up"},
		{tour.Key{Cmd: tour.KeyLeft, Count: 1}, "left"},
		{tour.Key{Cmd: tour.KeyRight, Count: 1}, "right"},
		{tour.Key{Cmd: tour.KeyBackspace, Count: 1}, "backspace"},
		{tour.Key{Cmd: tour.KeySleep, Sleep: time.Second}, ""},
	}
	for _, c := range cases {
		var got []string
		for _, k := range KeyPresses(c.k) {
			got = append(got, k.String())
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("%v: %q, want %q", c.k, s, c.want)
		}
	}
}

func TestWrapMarkdown(t *testing.T) {
	st := NewStyles(true)
	md := "Press **enter** to run `read:analytics:*` and *see* it.\n\n- one item\n- two\n\n## Head"
	lines := wrapMarkdown(st, md, 24)
	var plainLines []string
	for _, l := range lines {
		if w := ansi.StringWidth(l); w > 24 {
			t.Errorf("line %q is %d cells wide", l, w)
		}
		plainLines = append(plainLines, ansi.Strip(l))
	}
	want := "Press enter to run\nread:analytics:* and see\nit.\n\n• one item\n• two\n\nHead"
	if got := strings.Join(plainLines, "\n"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(strings.Join(lines, ""), st.MdStrong.Render("enter")) ||
		!strings.Contains(strings.Join(lines, ""), st.MdCode.Render("read:analytics:*")) {
		t.Error("bold or code spans are not styled")
	}
}

// TestTourGoldens goldens the whole tour screen — the lesson pane beside
// the console — at 80×24 and 120×36: a lesson to do, and a lesson done with
// its evidence.
func TestTourGoldens(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 36}} {
		w, h := size[0], size[1]
		for _, c := range []struct {
			name string
			keys []string
		}{
			{"lesson1_todo", nil},
			{"lesson1_done", []string{"enter", "down", "enter", "down", "enter"}},
			{"lesson4_done", []string{"enter", "down", "enter", "down", "enter", "n", "o", "n", "enter", "enter", "enter", "enter", "n", "x", "enter", "i"}},
		} {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, w, h), func(t *testing.T) {
				m, _, ev := newTourModel(t, w, h, builtinLessons(t), nil)
				m = step(t, m, ev, c.keys...)
				got := m.View().Content
				for i, l := range strings.Split(got, "\n") {
					if lw := ansi.StringWidth(l); lw != w {
						t.Errorf("line %d is %d cells wide, want %d", i+1, lw, w)
					}
				}
				if n := strings.Count(got, "\n") + 1; n != h {
					t.Errorf("%d lines, want %d", n, h)
				}
				requireGolden(t, got)
			})
		}
	}
}
