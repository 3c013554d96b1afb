package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/pipeline"
	"github.com/tenantui/tenantui/tour"
	"github.com/tenantui/tenantui/ui"
)

// Limits of a solution's replay (real time).
const (
	settleTimeout = 2 * time.Minute // one key's effect (stores are generated on first use)
	settlePoll    = 5 * time.Millisecond
	settleQuiet   = 2 // consecutive idle polls that make a settled console
)

// skewClock is real time plus an offset that Sleep advances: a lesson's
// "Sleep 6s" expires a 5-second token at once, while everything else keeps
// real time's pace.
type skewClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *skewClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *skewClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// observed wraps the console and publishes its tour status after every
// message, so the solver can tell when a key's effect is over.
type observed struct {
	m      ui.Model
	status *atomic.Pointer[ui.TourStatus]
}

func (o observed) Init() tea.Cmd { return o.m.Init() }

func (o observed) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	nm, cmd := o.m.Update(msg)
	o.m = nm.(ui.Model)
	st := o.m.TourStatus()
	o.status.Store(&st)
	return o, cmd
}

func (o observed) View() tea.View { return o.m.View() }

// solveTour replays every lesson's solution, in order, against the console
// on the real runner and broker (the embedded one on a virtual clock unless
// --broker is given), and prints one line per lesson: ✓, or ✗ with the first
// unmet condition. It fails (exit 1) when any lesson fails.
func solveTour(ctx context.Context, c common, tenants []pipeline.Tenant, lessons []tour.Lesson, stdout, stderr io.Writer) error {
	external := c.broker != "" || os.Getenv("AGENTWRIT_BROKER_URL") != ""
	clk := &skewClock{}
	var now func() time.Time
	if !external {
		now = clk.Now
	}
	sess, err := connectClock(ctx, c.broker, c.tls, func(msg string) { fmt.Fprintln(stderr, "tenantui: "+msg) }, now)
	if err != nil {
		return err
	}
	defer sess.Close()
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan pipeline.Event, 4096)
	tc, err := newTourControl(uctx, c, tenants, sess, now, events)
	if err != nil {
		return usageErr("%v", err)
	}
	defer tc.Close()
	opts := tc.options(sess, lessons)
	opts.Events, opts.Now = events, now

	var status atomic.Pointer[ui.TourStatus]
	status.Store(&ui.TourStatus{})
	p := tea.NewProgram(observed{m: ui.New(opts), status: &status},
		tea.WithContext(uctx), tea.WithInput(nil), tea.WithOutput(io.Discard), tea.WithoutRenderer(),
		tea.WithoutSignalHandler(), tea.WithWindowSize(100, 30))
	done := make(chan error, 1)
	go func() {
		_, err := p.Run()
		done <- err
	}()
	stop := func() {
		p.Kill()
		<-done
	}

	sent := 0
	// settle waits until the console has handled every key sent and seen
	// every event emitted, and has nothing in flight, for a few polls in a
	// row.
	settle := func(ok func(ui.TourStatus) bool) (ui.TourStatus, error) {
		deadline := time.Now().Add(settleTimeout)
		quiet := 0
		for {
			st := *status.Load()
			if st.Keys >= sent && st.Events == tc.emitted.Load() && st.Idle && (ok == nil || ok(st)) {
				if quiet++; quiet >= settleQuiet {
					return st, nil
				}
			} else {
				quiet = 0
			}
			if time.Now().After(deadline) {
				return st, fmt.Errorf("the console did not settle within %s", settleTimeout)
			}
			select {
			case err := <-done:
				done <- err
				return st, fmt.Errorf("the console stopped: %v", err)
			case <-ctx.Done():
				return st, ctx.Err()
			case <-time.After(settlePoll):
			}
		}
	}

	passed := 0
	for i, l := range lessons {
		name := fmt.Sprintf("%d/%d %s", i+1, len(lessons), l.File)
		st, err := settle(func(st ui.TourStatus) bool { return st.Lesson == i || st.SetupErr != "" })
		if err == nil && st.SetupErr != "" {
			err = fmt.Errorf("setup: %s", st.SetupErr)
		}
		for _, k := range l.Keys {
			if err != nil {
				break
			}
			if k.Cmd == tour.KeySleep {
				if external {
					time.Sleep(k.Sleep)
				} else {
					clk.Advance(k.Sleep)
				}
				p.Send(clockMoved{})
			}
			for _, press := range ui.KeyPresses(k) {
				p.Send(press)
				sent++
				if _, err = settle(nil); err != nil {
					err = fmt.Errorf("line %d (%s): %w", k.Line, k, err)
					break
				}
			}
		}
		if err == nil {
			st, err = settle(nil)
		}
		switch r, unmet := tour.FirstUnmet(st.Results); {
		case err != nil:
			fmt.Fprintf(stdout, "✗ %s  %s: %s\n", name, l.Title, oneLine(err.Error()))
		case !st.Done && unmet:
			fmt.Fprintf(stdout, "✗ %s  %s: line %d: %s — %s\n", name, l.Title, r.Cond.Line, r.Cond, r.Missing)
		case !st.Done:
			fmt.Fprintf(stdout, "✗ %s  %s: not done\n", name, l.Title)
		default:
			passed++
			fmt.Fprintf(stdout, "✓ %s  %s\n", name, l.Title)
		}
		if err != nil && st.Lesson != i {
			break // the console is lost: the remaining lessons cannot be checked
		}
		if st.Done {
			p.Send(tea.KeyPressMsg{Code: 'n', Text: "n"}) // as a trainee moves on
			sent++
		} else {
			p.Send(ui.TourSkipMsg{})
		}
	}
	if _, err := settle(func(st ui.TourStatus) bool { return st.Finished }); err != nil {
		stop()
		return failErr("after the last lesson: %v", err)
	}
	// Quit as a trainee does: the console releases every live agent.
	p.Send(tea.KeyPressMsg{Code: 'q', Text: "q"})
	select {
	case <-done:
	case <-time.After(settleTimeout):
		stop()
	}
	cancel()
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer rcancel()
	if res := tc.Shutdown(rctx); !res.OK() {
		fmt.Fprintf(stderr, "tenantui: %s\n", res.Summary())
	}
	fmt.Fprintf(stdout, "%d lessons: %d passed\n", len(lessons), passed)
	if passed != len(lessons) {
		return failErr("")
	}
	return nil
}

// clockMoved makes the console look at the clock again after a Sleep moved it.
type clockMoved struct{}
