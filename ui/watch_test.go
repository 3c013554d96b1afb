package ui

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/tenantui/tenantui/watch"
)

// The watch view's tests fold the trail recorded from a real broker
// (../watch/testdata) into stories and feed them as the watcher would.

// watchT0 is the watch tests' clock: 30 s after the trail's last event.
var watchT0 = time.Date(2026, 12, 1, 23, 40, 41, 0, time.UTC)

func trailUpdate(t testing.TB) watch.Update {
	t.Helper()
	b, err := os.ReadFile("../watch/testdata/real-broker-trail.json")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := watch.DecodeTrail(b)
	if err != nil {
		t.Fatal(err)
	}
	book := watch.NewBook()
	changes := book.Apply(evs)
	return watch.Update{
		Status: watch.Status{Broker: "http://127.0.0.1:8080", Healthy: true, Version: "2.0.0", BrokerEvents: len(evs),
			Events: book.Events(), Agents: book.Len(), Chain: fmt.Sprintf("chain verified, %d events", len(evs)),
			LastPoll: watchT0.Add(-400 * time.Millisecond)},
		Agents:  book.Agents(),
		Changes: changes,
	}
}

// fakeRevoker records revocations.
type fakeRevoker struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeRevoker) Revoke(_ context.Context, level, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, level+" "+target)
	return f.err
}

func newWatchModel(t testing.TB, w, h int, ctl WatchController) WatchModel {
	t.Helper()
	m := NewWatch(WatchOptions{Control: ctl, Now: func() time.Time { return watchT0 }, Broker: "http://127.0.0.1:8080"})
	m = wupdate(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	return wupdate(t, m, watchUpdateMsg{updates: []watch.Update{trailUpdate(t)}})
}

func wupdate(t testing.TB, m WatchModel, msg tea.Msg) WatchModel {
	t.Helper()
	nm, _ := m.Update(msg)
	return nm.(WatchModel)
}

func wpress(t testing.TB, m WatchModel, keys ...string) (WatchModel, tea.Cmd) {
	t.Helper()
	var cmd tea.Cmd
	for _, k := range keys {
		var nm tea.Model
		nm, cmd = m.Update(keyPress(k))
		m = nm.(WatchModel)
	}
	return m, cmd
}

func wplain(m WatchModel) string { return ansi.Strip(m.View().Content) }

func TestWatchTableGroupsByTenant(t *testing.T) {
	m := newWatchModel(t, 80, 24, nil)
	got := wplain(m)
	for _, want := range []string{
		"● healthy v2.0.0", "46 events · 11 agents · ✓ chain verified, 46 events · polled 23:40:40",
		"▾ bank  2 agents · 0 active", "▾ hospital  5 agents · 3 active", "▾ retail  4 agents · 0 active",
		"RELEASED", "REVOKED", "EXPIRED", "ACTIVE       4:29", "deleg-mid/9e46949b93…",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("screen lacks %q:\n%s", want, got)
		}
	}
	if i, j := strings.Index(got, "▾ bank"), strings.Index(got, "▾ retail"); i < 0 || j < i {
		t.Errorf("tenants not in name order")
	}
	for i, l := range strings.Split(m.View().Content, "\n") {
		if w := ansi.StringWidth(l); w != 80 {
			t.Errorf("line %d is %d cells wide", i, w)
		}
	}
}

func TestWatchCountdownTicks(t *testing.T) {
	now := watchT0
	m := NewWatch(WatchOptions{Now: func() time.Time { return now }})
	m = wupdate(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m = wupdate(t, m, watchUpdateMsg{updates: []watch.Update{trailUpdate(t)}})
	if !strings.Contains(wplain(m), "ACTIVE       4:29 deleg-root") {
		t.Fatalf("no 4:29 countdown:\n%s", wplain(m))
	}
	now = now.Add(271 * time.Second) // past exp's second: the broker refuses it
	nm, cmd := m.Update(watchTickMsg{gen: m.gen})
	m = nm.(WatchModel)
	if cmd == nil {
		t.Error("tick not re-armed")
	}
	got := wplain(m)
	if !strings.Contains(got, "EXPIRED      0:00 deleg-root") || !strings.Contains(got, "▾ hospital  5 agents · 0 active") {
		t.Fatalf("after expiry:\n%s", got)
	}
	if _, cmd := m.Update(watchTickMsg{gen: m.gen + 1}); cmd != nil {
		t.Error("a stale tick was re-armed")
	}
}

func TestWatchFilter(t *testing.T) {
	m := newWatchModel(t, 80, 24, nil)
	m, _ = wpress(t, m, "/", "r", "e", "t", "a", "i", "l")
	got := wplain(m)
	if !strings.Contains(got, "4 of 11 agents") || strings.Contains(got, "▾ bank") || !strings.Contains(got, "▾ retail") {
		t.Fatalf("filter retail:\n%s", got)
	}
	m, _ = wpress(t, m, "enter")
	if m.screen != watchTable || !strings.Contains(wplain(m), `filter "retail": 4 of 11 agents`) {
		t.Fatalf("applied filter:\n%s", wplain(m))
	}
	m, _ = wpress(t, m, "/", "esc")
	if m.filter != "" || !strings.Contains(wplain(m), "▾ bank") {
		t.Fatalf("cleared filter:\n%s", wplain(m))
	}
	m, _ = wpress(t, m, "/", "z", "z", "z")
	if !strings.Contains(wplain(m), `no agent matches "zzz"`) || m.selected() != "" {
		t.Fatalf("empty filter:\n%s", wplain(m))
	}
}

func TestWatchDetailShowsEventsWithHashes(t *testing.T) {
	m := newWatchModel(t, 80, 24, nil)
	m, _ = wpress(t, m, "down", "down", "down", "down", "down")
	if !strings.Contains(m.selected(), "/deleg-mid/") {
		t.Fatalf("selected %q", m.selected())
	}
	m, _ = wpress(t, m, "enter")
	got := wplain(m)
	for _, want := range []string{"Agent watch-test/deleg-mid/9e46949b93361f58", "tenant hospital", "renewals 0",
		"ACTIVE    expires in 4:29", "REVOKED (chain) from deleg-root/80bacf… [read:analytics:hospital]", "chain   deleg-root/80bacf… → deleg-mid/9e4694…", "Events (5), hashes included",
		"evt-000039 23:40:10.564 agent_registered success", "hash 05f5fc13916c17d0e8546a9dddaa6411184d16618179d55ad1732fc6d94b085c"} {
		if !strings.Contains(got, want) {
			t.Errorf("detail lacks %q:\n%s", want, got)
		}
	}
	m, _ = wpress(t, m, "pgdown", "pgdown")
	if !strings.Contains(wplain(m), "evt-000046") {
		t.Errorf("scrolled detail lacks the chain revocation evt-000046:\n%s", wplain(m))
	}
	m, _ = wpress(t, m, "esc")
	if m.screen != watchTable {
		t.Fatal("esc did not close the detail")
	}
}

func TestWatchRevokeAfterConfirmation(t *testing.T) {
	f := &fakeRevoker{}
	m := newWatchModel(t, 80, 24, f)
	m, _ = wpress(t, m, "down", "down", "down", "down", "down") // deleg-mid
	id := m.selected()
	m, cmd := wpress(t, m, "v")
	if m.screen != watchMenu || cmd != nil || !strings.Contains(wplain(m), "▶ agent  every token of this agent") {
		t.Fatalf("menu:\n%s", wplain(m))
	}
	m, _ = wpress(t, m, "up") // token level
	m, _ = wpress(t, m, "enter")
	if m.screen != watchConfirm || !strings.Contains(wplain(m), "Revoke at level token?") ||
		!strings.Contains(wplain(m), "│ a566c866f35de5e66ec349d5258a82bb") {
		t.Fatalf("confirm:\n%s", wplain(m))
	}
	// Anything but y cancels, and nothing is sent.
	m, cmd = wpress(t, m, "n")
	if cmd != nil || len(f.calls) != 0 || !strings.Contains(wplain(m), "revocation cancelled") {
		t.Fatalf("cancel sent %v", f.calls)
	}
	m, _ = wpress(t, m, "v", "down", "down", "enter") // chain level
	m, cmd = wpress(t, m, "y")
	if cmd == nil {
		t.Fatal("no revoke command")
	}
	m = wupdate(t, m, cmd())
	if len(f.calls) != 1 || f.calls[0] != "chain "+id {
		t.Fatalf("calls %v, want chain %s", f.calls, id)
	}
	if !strings.Contains(wplain(m), "revoke accepted: level chain") {
		t.Errorf("flash:\n%s", wplain(m))
	}
	// Truth over optimism: the row is unchanged until the trail says so.
	if !strings.Contains(wplain(m), "▶ ACTIVE") {
		t.Errorf("row changed before the trail did:\n%s", wplain(m))
	}
	f.err = fmt.Errorf("401 unauthorized: token verification failed")
	m, _ = wpress(t, m, "v", "enter")
	_, cmd = wpress(t, m, "y")
	m = wupdate(t, m, cmd())
	if !strings.Contains(wplain(m), "revoke failed: 401 unauthorized") {
		t.Errorf("error flash:\n%s", wplain(m))
	}
}

func TestWatchFaultAndResume(t *testing.T) {
	m := newWatchModel(t, 80, 24, nil)
	u := trailUpdate(t)
	u.Agents = nil
	u.Status.Healthy = false
	u.Status.Fault = &watch.Fault{Kind: watch.FaultRateLimited, Message: "429 rate_limited: rate limit exceeded, try again later",
		Since: watchT0.Add(-2 * time.Second), RetryAt: watchT0.Add(58 * time.Second)}
	m = wupdate(t, m, watchUpdateMsg{updates: []watch.Update{u}})
	if wide := ansi.Strip(wupdate(t, m, tea.WindowSizeMsg{Width: 120, Height: 36}).View().Content); !strings.Contains(wide,
		"⚠ RATE LIMITED 429 rate_limited: rate limit exceeded, try again later · retry in 0:58 · since 23:40:39") {
		t.Errorf("fault line at 120 columns:\n%s", wide)
	}
	got := wplain(m)
	if !strings.Contains(got, "⚠ RATE LIMITED 429 rate_limited: rate limit exceeded, try again later · retry …") {
		t.Fatalf("fault line:\n%s", got)
	}
	u.Status.Fault, u.Status.Healthy = nil, true
	m = wupdate(t, m, watchUpdateMsg{updates: []watch.Update{u}})
	if strings.Contains(wplain(m), "RATE LIMITED") || !strings.Contains(wplain(m), "● healthy") {
		t.Fatalf("after resume:\n%s", wplain(m))
	}
}

func TestWatchTrailRestartForgetsAgents(t *testing.T) {
	m := newWatchModel(t, 80, 24, nil)
	u := trailUpdate(t)
	keep := u.Agents[0]
	u.Reset, u.Agents = true, u.Agents[:1]
	u.Status.Events, u.Status.Agents, u.Status.Restarted = 7, 1, watchT0.Add(-time.Second)
	m = wupdate(t, m, watchUpdateMsg{updates: []watch.Update{u}})
	got := wplain(m)
	if len(m.agents) != 1 || m.selected() != keep.ID || !strings.Contains(got, "audit trail restarted at 23:40:40") {
		t.Fatalf("after a reset: %d agents, selected %q:\n%s", len(m.agents), m.selected(), got)
	}
}

func TestWatchTooSmall(t *testing.T) {
	m := newWatchModel(t, 79, 24, nil)
	if !strings.Contains(wplain(m), "terminal too small: need 80×24, have 79×24") {
		t.Fatal(wplain(m))
	}
}

// TestWatchGolden runs the watch view in a teatest program at 80×24 and
// 120×36 with a fixed clock and a pinned profile, fed through a channel the
// test owns, and goldens the final screen.
func TestWatchGolden(t *testing.T) {
	fault := func(u watch.Update) watch.Update {
		u.Agents = nil
		u.Status.Fault = &watch.Fault{Kind: watch.FaultUnreachable, Message: "broker unreachable: connection refused",
			Since: watchT0.Add(-3 * time.Second), RetryAt: watchT0.Add(time.Second)}
		u.Status.Healthy = false
		return u
	}
	cases := []struct {
		name  string
		keys  []string
		extra func(watch.Update) watch.Update
		wait  string
	}{
		{"table", nil, nil, "▾ retail"},
		{"detail", []string{"down", "down", "down", "down", "down", "enter"}, nil, "hashes included"},
		{"revoke_menu", []string{"down", "v"}, nil, "enter choose"},
		{"revoke_confirm", []string{"down", "v", "enter"}, nil, "any other key cancels"},
		{"filter", []string{"/", "t", "a", "s", "k"}, nil, "3 of 11 agents"},
		{"unreachable", nil, fault, "UNREACHABLE"},
	}
	for _, size := range [][2]int{{80, 24}, {120, 36}} {
		w, h := size[0], size[1]
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, w, h), func(t *testing.T) {
				updates := make(chan watch.Update, 4)
				u := trailUpdate(t)
				updates <- u
				m := NewWatch(WatchOptions{Updates: updates, Control: &fakeRevoker{}, Now: func() time.Time { return watchT0 },
					Broker: "http://127.0.0.1:8080"})
				tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h),
					teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
				scr := newScreen(t, w, h)
				teatest.WaitFor(t, tm.Output(), scr.shows("▾ hospital"),
					teatest.WithDuration(3*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
				if c.extra != nil {
					updates <- c.extra(u)
				}
				for _, k := range c.keys {
					tm.Send(keyPress(k))
				}
				teatest.WaitFor(t, tm.Output(), scr.shows(c.wait),
					teatest.WithDuration(3*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
				if err := tm.Quit(); err != nil {
					t.Fatal(err)
				}
				fm := tm.FinalModel(t, teatest.WithFinalTimeout(3*time.Second)).(WatchModel)
				requireGolden(t, fm.View().Content)
			})
		}
	}
}

// BenchmarkWatchUpdate1000Agents: taking an update in which 1,000 agents
// changed (across 300 tenants) and drawing the screen must stay well inside a
// frame, so the view stays responsive while the watcher catches up.
//
//	go test ./ui/ -run '^$' -bench WatchUpdate
func BenchmarkWatchUpdate1000Agents(b *testing.B) {
	u := trailUpdate(b)
	base := u.Agents
	u.Agents = nil
	for i := range 1000 {
		a := base[i%len(base)]
		a.ID = fmt.Sprintf("%s-%d", a.ID, i)
		a.Tenant = fmt.Sprintf("tenant-%03d", i%300)
		u.Agents = append(u.Agents, a)
	}
	m := NewWatch(WatchOptions{Now: func() time.Time { return watchT0 }})
	m = wupdate(b, m, tea.WindowSizeMsg{Width: 120, Height: 36})
	for b.Loop() {
		nm, _ := m.Update(watchUpdateMsg{updates: []watch.Update{u}})
		_ = nm.(WatchModel).View()
	}
}
