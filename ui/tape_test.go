package ui

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/vhs/lexer"
	"github.com/charmbracelet/vhs/parser"
	"github.com/charmbracelet/vhs/token"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"

	"github.com/tenantui/tenantui/pipeline"
)

// TestDemoTape replays ../demo.tape against the console: the tape's keys go
// into a vt emulator that is the program's input, the program's output goes
// into the same emulator, and at every Screenshot the test asserts what the
// screen shows. The shell part (typing `go run ./cmd/tenantui …` and Enter)
// starts the model directly, on a fake controller that behaves like the
// pipeline runner.
//
// Time: each Sleep advances a virtual clock (the console's and the fake's) by
// the tape's duration but waits at most 50 ms of real time, so countdowns
// read as they would in the recording. Wait+Screen polls the emulator.

// screenshotExpectations says what each Screenshot of the tape must show
// (every entry is a regexp). Every Screenshot in the tape needs one.
var screenshotExpectations = map[string][]string{
	"demo-01-start.png":           {`Tenants \(3\)`, `NO AGENT`, `Decision log`, `0 agents live`, `enter next stage`},
	"demo-02-hospital-loaded.png": {`hospital .*✓ ✓ ✓ ✓ ·`, `ACTIVE`, `load +write:reports:hospital +ALLOW`, `report written to reports/hospital`},
	"demo-03-countdown.png":       {`ACTIVE`, `expires in 4:5\d`},
	"demo-04-deny-read.png":       {`LOCAL CHECK`, `STORE CHECK`, `DENY`, `identifier "bank" ≠ "hospital"`, `BLOCKED by both layers`},
	"demo-05-allow-own.png":       {`hospital agent → hospital data`, `ALLOWED`, `reason +covered by`},
	"demo-06-isolation.png":       {`Cross-tenant isolation verified\.`, `✓ BLOCKED +hospital agent cannot read bank data`, `✓ ALLOWED +hospital agent can read its own data`},
	"demo-07-countdown.png":       {`Agent · hospital .*ACTIVE`, `expires in 4:[0-5]\d`},
}

const (
	maxTapeSleep = 50 * time.Millisecond // real time per Sleep
	maxTapeWait  = 5 * time.Second       // real time per Wait
)

// virtualClock is the console's and the fake's clock during the replay.
type virtualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *virtualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *virtualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tapeTerm is a vt emulator shared by the program (input and output) and the
// test (keys and screen), serialised by a mutex. It is never closed: closing
// it would end the program's input.
type tapeTerm struct {
	mu sync.Mutex
	e  *vt.Emulator
}

func (t *tapeTerm) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.e.Write(p)
}

// Read is the program's input: the key sequences SendKey and SendText
// produce, and the emulator's replies to queries.
func (t *tapeTerm) Read(p []byte) (int, error) { return t.e.Read(p) }

func (t *tapeTerm) screen() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.e.String()
}

func (t *tapeTerm) key(k vt.KeyPressEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.e.SendKey(k)
}

func (t *tapeTerm) text(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.e.SendText(s)
}

// tapeSize estimates the terminal VHS would open: xterm.js cells are about
// 0.6 em wide and 1.25 em tall (at LineHeight 1) in VHS's default fonts.
func tapeSize(settings map[string]string) (cols, rows int, err error) {
	num := func(name string, def float64) (float64, error) {
		v, ok := settings[name]
		if !ok {
			return def, nil
		}
		return strconv.ParseFloat(v, 64)
	}
	var fs, w, h, padding, lh float64
	for _, s := range []struct {
		name string
		def  float64
		dst  *float64
	}{{"FontSize", 22, &fs}, {"Width", 1200, &w}, {"Height", 600, &h}, {"Padding", 60, &padding}, {"LineHeight", 1, &lh}} {
		if *s.dst, err = num(s.name, s.def); err != nil {
			return 0, 0, fmt.Errorf("Set %s: %w", s.name, err)
		}
	}
	return int((w - 2*padding) / (0.6 * fs)), int((h - 2*padding) / (1.25 * fs * lh)), nil
}

// keyFor maps a tape key command to the key the emulator sends.
var keyFor = map[parser.CommandType]vt.KeyPressEvent{
	token.ENTER:     {Code: vt.KeyEnter},
	token.SPACE:     {Code: vt.KeySpace, Text: " "},
	token.UP:        {Code: vt.KeyUp},
	token.DOWN:      {Code: vt.KeyDown},
	token.LEFT:      {Code: vt.KeyLeft},
	token.RIGHT:     {Code: vt.KeyRight},
	token.ESCAPE:    {Code: vt.KeyEscape},
	token.TAB:       {Code: vt.KeyTab},
	token.BACKSPACE: {Code: vt.KeyBackspace},
	token.PAGE_UP:   {Code: vt.KeyPgUp},
	token.PAGE_DOWN: {Code: vt.KeyPgDown},
}

type runResult struct {
	m   tea.Model
	err error
}

func TestDemoTape(t *testing.T) {
	src, err := os.ReadFile("../demo.tape")
	if err != nil {
		t.Fatal(err)
	}
	p := parser.New(lexer.New(string(src)))
	cmds := p.Parse()
	if errs := p.Errors(); len(errs) > 0 {
		t.Fatalf("demo.tape does not parse: %v", errs)
	}

	settings := map[string]string{}
	output := ""
	for _, c := range cmds {
		switch c.Type {
		case token.SET:
			settings[c.Options] = c.Args
		case token.OUTPUT:
			output = c.Args
		}
	}
	if output != "demo.gif" {
		t.Fatalf("Output = %q, want demo.gif", output)
	}
	cols, rows, err := tapeSize(settings)
	if err != nil {
		t.Fatal(err)
	}
	if cols < 100 || rows < 30 {
		t.Fatalf("the tape's terminal is about %d×%d; the walkthrough needs at least 100×30", cols, rows)
	}
	t.Logf("replaying demo.tape at %d×%d", cols, rows)

	clk := &virtualClock{t: t0}
	events := make(chan pipeline.Event, 4096)
	fake := newFake(pipeline.DefaultTenants(), clk.now, events)
	fake.delay = 10 * time.Millisecond
	model := New(Options{Events: events, Control: fake, Tenants: pipeline.DefaultTenants(), Broker: testBroker,
		TTL: 5 * time.Minute, Now: clk.now})

	term := &tapeTerm{e: vt.NewEmulator(cols, rows)}
	// No TTY, so no ONLCR: the emulator maps LF to CR LF itself.
	_, _ = term.Write([]byte(ansi.SetModeLineFeedNewLine))
	prog := tea.NewProgram(model,
		tea.WithInput(term),
		tea.WithOutput(struct{ io.Writer }{term}),
		tea.WithWindowSize(cols, rows),
		tea.WithEnvironment([]string{"TERM=xterm-256color"}),
		tea.WithColorProfile(colorprofile.ANSI256),
		tea.WithoutSignalHandler(),
	)
	done := make(chan runResult, 1)
	running := false
	t.Cleanup(func() {
		if running { // the test failed before the tape quit: stop the program
			prog.Kill()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
		}
	})

	waitScreen := func(what string, res []*regexp.Regexp, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(min(timeout, maxTapeWait))
		for {
			s := term.screen()
			missing := ""
			for _, re := range res {
				if !re.MatchString(s) {
					missing = re.String()
					break
				}
			}
			if missing == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the screen never matched /%s/:\n%s", what, missing, s)
			}
			time.Sleep(10 * time.Millisecond) // polling the emulator, not pacing the program
		}
	}

	started, startTyped := false, false
	screenshots := map[string]bool{}
	defaultWait := 15 * time.Second
	for i, c := range cmds {
		where := fmt.Sprintf("demo.tape command %d (%s %s)", i+1, c.Type, c.Args)
		switch c.Type {
		case token.SET, token.OUTPUT, token.REQUIRE, token.HIDE, token.SHOW:
			if c.Type == token.SET && c.Options == "WaitTimeout" {
				if d, err := time.ParseDuration(c.Args); err == nil {
					defaultWait = d
				}
			}
		case token.TYPE:
			if !started && strings.Contains(c.Args, "tenantui") {
				startTyped = true // the shell part: Enter starts the program below
				continue
			}
			if !started {
				t.Fatalf("%s: typed before the console started", where)
			}
			for _, r := range c.Args {
				term.text(string(r))
			}
		case token.ENTER, token.SPACE, token.UP, token.DOWN, token.LEFT, token.RIGHT, token.ESCAPE, token.TAB,
			token.BACKSPACE, token.PAGE_UP, token.PAGE_DOWN:
			if c.Type == token.ENTER && startTyped && !started {
				started, running = true, true
				go func() {
					m, err := prog.Run()
					done <- runResult{m, err}
				}()
				continue
			}
			if !started {
				t.Fatalf("%s: key before the console started", where)
			}
			n, _ := strconv.Atoi(c.Args)
			for range max(n, 1) {
				term.key(keyFor[c.Type])
			}
		case token.CTRL:
			if c.Args != "C" && c.Args != "c" {
				t.Fatalf("%s: only Ctrl+C is replayed", where)
			}
			term.key(vt.KeyPressEvent{Code: 'c', Mod: vt.ModCtrl})
		case token.SLEEP:
			d, err := time.ParseDuration(c.Args)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			clk.advance(d)
			time.Sleep(min(d, maxTapeSleep)) // the tape's pacing, scaled down
			if started {
				prog.Send(struct{}{}) // redraw: the virtual clock moved
			}
		case token.WAIT:
			scope, rx, _ := strings.Cut(c.Args, " ")
			if scope != "Screen" || rx == "" {
				t.Fatalf("%s: use Wait+Screen /regexp/ (a plain Wait only matches the cursor line)", where)
			}
			timeout := defaultWait
			if c.Options != "" {
				if timeout, err = time.ParseDuration(c.Options); err != nil {
					t.Fatalf("%s: %v", where, err)
				}
			}
			waitScreen(where, []*regexp.Regexp{regexp.MustCompile(rx)}, timeout)
		case token.SCREENSHOT:
			want, ok := screenshotExpectations[c.Args]
			if !ok {
				t.Fatalf("%s: no expectations for this screenshot in screenshotExpectations", where)
			}
			var res []*regexp.Regexp
			for _, w := range want {
				res = append(res, regexp.MustCompile(w))
			}
			// VHS captures the next frame: give the program a moment to draw it.
			waitScreen(where, res, time.Second)
			screenshots[c.Args] = true
		default:
			t.Fatalf("%s: the replay does not support %s", where, c.Type)
		}
	}
	for name := range screenshotExpectations {
		if !screenshots[name] {
			t.Errorf("screenshotExpectations has %s but the tape never takes it", name)
		}
	}
	if !started {
		t.Fatal("the tape never starts the console (Type \"go run ./cmd/tenantui …\" then Enter)")
	}

	// The tape ends by quitting: the console releases its agents, then exits.
	var res runResult
	select {
	case res = <-done:
		running = false
	case <-time.After(5 * time.Second):
		t.Fatalf("the console did not quit at the end of the tape:\n%s", term.screen())
	}
	if res.err != nil {
		t.Fatalf("program: %v", res.err)
	}
	fm := res.m.(Model)
	if !fm.Quitting() || fm.Released() < 1 {
		t.Fatalf("final model: quitting=%v released=%d", fm.Quitting(), fm.Released())
	}
	calls := fake.Calls()
	if calls[len(calls)-1] != "ReleaseAll" {
		t.Fatalf("the last controller call was %q, want ReleaseAll; calls: %q", calls[len(calls)-1], calls)
	}
	for _, want := range []string{"Step hospital", "RunAll", "Probe hospital bank read", "Probe hospital retail write",
		"Probe hospital hospital read", "IsolationCheck"} {
		if !strings.Contains(strings.Join(calls, "\n"), want) {
			t.Errorf("the tape never made the controller call %q; calls: %q", want, calls)
		}
	}
}
