package ui

import (
	"fmt"
	"math"
	"time"

	"charm.land/bubbles/v2/progress"
	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/pipeline"
)

// Run-all progress: how many tenants have finished (released after their
// load, or failed), how many failed, the rate and the time left, with a
// bubbles progress bar in the status line; at the end, a completion line
// such as "1,000/1,000 done in 2.1 s, 0 failed". Counted from events in
// Update; View only formats (the rate and ETA use m.now()).

// runProgress is the state of the latest run-all.
type runProgress struct {
	active   bool
	total    int
	done     int // finished tenants, failed ones included
	failed   int
	started  time.Time
	finished time.Time
	seen     []bool // by tenant index: counted already
}

// start begins counting a run-all over n tenants.
func (p *runProgress) start(n int, now time.Time) {
	*p = runProgress{active: true, total: n, started: now, seen: make([]bool, n)}
}

// apply counts tenant i's event: a finished release or an error ends it.
// Each tenant counts once.
func (p *runProgress) apply(ev pipeline.Event, i int) bool {
	if !p.active || i < 0 || i >= len(p.seen) || p.seen[i] {
		return false
	}
	switch {
	case ev.Kind == pipeline.EventStageFinished && ev.Stage == pipeline.StageRelease:
	case ev.Kind == pipeline.EventError:
		p.failed++
	default:
		return false
	}
	p.seen[i] = true
	p.done++
	return true
}

// finish ends the run at now. The run's own answer may overtake its last
// events, so the counts are settled from the final states: a tenant is done
// when it went through release or stopped on an error (a run cut short
// leaves some neither).
func (p *runProgress) finish(now time.Time, states []pipeline.TenantState) {
	if !p.active {
		return
	}
	p.active = false
	p.finished = now
	if len(states) == p.total {
		done, failed := 0, 0
		for _, s := range states {
			switch {
			case s.Err != "":
				done++
				failed++
			case s.Stage == pipeline.StageRelease:
				done++
			}
		}
		p.done, p.failed = max(p.done, done), max(p.failed, failed)
	}
	p.seen = nil
}

// completion is the line shown when the run has finished.
func (p *runProgress) completion() string {
	return fmt.Sprintf("%s/%s done in %s, %d failed", thousands(p.done), thousands(p.total),
		seconds(p.finished.Sub(p.started)), p.failed)
}

// line renders the progress for the status line, w cells at most.
func (p *runProgress) line(st Styles, now time.Time, w int) string {
	frac := 0.0
	if p.total > 0 {
		frac = float64(p.done) / float64(p.total)
	}
	bar := progress.New(progress.WithWidth(clamp(w/5, 10, 30)), progress.WithoutPercentage(),
		progress.WithFillCharacters('█', '░'), progress.WithColors(st.Pass.GetForeground()))
	bar.EmptyColor = st.Muted.GetForeground()
	text := fmt.Sprintf(" %s/%s", thousands(p.done), thousands(p.total))
	fail := st.Muted.Render(fmt.Sprintf(" · %d failed", p.failed))
	if p.failed > 0 {
		fail = st.Muted.Render(" · ") + st.Error.Render(fmt.Sprintf("%d failed", p.failed))
	}
	rest := ""
	if el := now.Sub(p.started).Seconds(); el > 0 && p.done > 0 {
		rate := float64(p.done) / el
		rest = fmt.Sprintf(" · %s/s · ETA %s", thousands(int(math.Round(rate))),
			seconds(time.Duration(float64(p.total-p.done)/rate*float64(time.Second))))
	}
	return bar.ViewAs(frac) + st.Status.Render(text) + fail + st.Muted.Render(rest)
}

// seconds formats d as "2.1 s" (under a minute) or "3m05s".
func seconds(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// staleSet is the panes whose redraw waits for the next spinner frame.
type staleSet uint8

const (
	paneTenants staleSet = 1 << iota
	paneLog
	snapshotDue // a snapshot was asked for (refreshBusy)
)

// touchBusy marks a pane's state as changed. While run-all runs, a thousand
// tenants send events by the thousand a second, and redrawing the tenants
// table and the log for every batch cost the console a third of its CPU: the
// redraw then waits for the next spinner frame (about 12 a second; the
// progress line itself is drawn every time).
func (m *Model) touchBusy(p staleSet) {
	if m.runAll {
		m.stale |= p
		return
	}
	m.touchPane(p)
}

// refreshBusy asks for a snapshot, or, while run-all runs, at the next
// spinner frame: copying a thousand tenants' states for every event batch
// cost as much as drawing them.
func (m *Model) refreshBusy() tea.Cmd {
	if m.runAll {
		m.stale |= snapshotDue
		return nil
	}
	return m.requestRefresh()
}

// flushStale redraws the panes touchBusy deferred and returns the snapshot
// request refreshBusy deferred, if any (the end of run-all brings its own
// snapshot, so it may drop it).
func (m *Model) flushStale() tea.Cmd {
	st := m.stale
	m.stale = 0
	m.touchPane(st)
	if st&snapshotDue != 0 {
		return m.requestRefresh()
	}
	return nil
}

func (m *Model) touchPane(p staleSet) {
	if p&paneTenants != 0 {
		m.touch(&m.ver.tenants)
	}
	if p&paneLog != 0 {
		m.touch(&m.ver.log)
	}
}
