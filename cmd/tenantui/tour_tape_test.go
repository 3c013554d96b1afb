package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tenantui/tenantui/internal/tapeplay"
	"github.com/tenantui/tenantui/pipeline"
	"github.com/tenantui/tenantui/ui"
)

// TestTourTape replays tour.tape against the real tour: the embedded broker,
// the client, the pipeline runner behind the tour's controller and the
// console with its lesson pane, wired as cmdTour wires them, on one virtual
// clock. It asserts what the screen shows at each Screenshot and that the
// lessons the tape takes were really done.
func TestTourTape(t *testing.T) {
	clearEnv(t)
	t0 := time.Now().Truncate(time.Second).Add(time.Second) // see replayTape
	clk := tapeplay.NewClock(t0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running, creds, adminSecret := replayBroker(t, ctx, clk)

	var tc *tourControl
	uctx, ucancel := context.WithCancel(ctx)
	t.Cleanup(func() {
		ucancel()
		if tc != nil {
			tc.Close()
		}
	})
	start := func(cmdline string) (tea.Model, error) {
		c, dir, err := tourFlags(cmdline, t.TempDir())
		if err != nil {
			return nil, err
		}
		tenants, err := c.tenants()
		if err != nil {
			return nil, err
		}
		lessons, err := loadLessons(dir, tenants)
		if err != nil {
			return nil, err
		}
		sess, err := replaySession(ctx, running.URL, creds, adminSecret)
		if err != nil {
			return nil, err
		}
		events := make(chan pipeline.Event, 4096)
		if tc, err = newTourControl(uctx, c, tenants, sess, clk.Now, events); err != nil {
			return nil, err
		}
		o := tc.options(sess, lessons)
		o.Events, o.Now = events, clk.Now
		return ui.New(o), nil
	}
	res := tapeplay.Play(t, filepath.Join("..", "..", "tour.tape"), nil, tapeplay.Options{
		Output:  "tour.gif",
		Program: "tenantui",
		Start:   start,
		Expectations: map[string][]string{
			"tour-01-lesson1.png": {`Lesson 1/9 · One app, many agents`, `to do`, `☐ hospital agent is active`,
				`keys: enter ↓ enter ↓ enter`, `0 agents live`},
			"tour-02-not-done.png": {`lesson 1 is not done — not yet: hospital agent is active \(it is none\)`, `Lesson 1/9`},
			"tour-03-lesson1-done.png": {`Lesson 1/9 .*✓ done`, `✓ hospital agent …/\w+ is active, until`,
				`✓ retail agent …/\w+ is active`, `n next lesson`, `3 agents live`},
			"tour-04-lesson2-done.png": {`Lesson 2/9 · Tenant-only scopes`, `✓ DENY at the broker: required`, `read:billing:hospital`,
				`Over-ceiling creation · hospital`},
			"tour-05-lesson4-done.png": {`Lesson 4/9 · A cross-tenant read`, `✓ DENY at the local: required`,
				`required read:analytics:bank, held read:analytics:hospital`, `identifier "bank" ≠ "hospital"`,
				`✓ isolation verified: 4 of 4 checks as expected`, `Cross-tenant isolation verified\.`},
		},
		MinCols: 100, MinRows: 30,
		Clock:   clk,
		MaxWait: 20 * time.Second,
	})
	ucancel()
	fm := res.Model.(ui.Model)
	if s := fm.TourStatus(); s.Lesson != 3 || !s.Done {
		t.Errorf("the tape ends at lesson %d (done %v), want lesson 4 done", s.Lesson+1, s.Done)
	}
	if !fm.Quitting() || tc.LiveAgents() != 0 {
		t.Errorf("quit: quitting=%v, %d agents still live", fm.Quitting(), tc.LiveAgents())
	}
}

// tourFlags parses the tour's flags out of a typed command line such as
// "go run ./cmd/tenantui tour --seed 42", with the data and reports
// directories moved under dir; it returns the --lessons directory too.
func tourFlags(cmdline, dir string) (common, string, error) {
	fields := strings.Fields(cmdline)
	i := 0
	for i < len(fields) && path.Base(fields[i]) != "tenantui" {
		i++
	}
	if i+1 >= len(fields) || fields[i+1] != "tour" {
		return common{}, "", fmt.Errorf("%q does not start the tour", cmdline)
	}
	args := append(fields[i+2:], "--data", filepath.Join(dir, "data"), "--reports", filepath.Join(dir, "reports"))
	var lessons string
	var solve bool
	c, _, err := parseCommon("tour", args, io.Discard, func(fs *flag.FlagSet) {
		fs.StringVar(&lessons, "lessons", "", "")
		fs.BoolVar(&solve, "solve", false, "")
	})
	if solve {
		return c, "", fmt.Errorf("%q checks lessons; the tape needs the interactive tour", cmdline)
	}
	return c, lessons, err
}
