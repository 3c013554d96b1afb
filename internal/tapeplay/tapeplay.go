package tapeplay

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantui/tenantui/internal/fakeclock"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/vhs/lexer"
	"github.com/charmbracelet/vhs/parser"
	"github.com/charmbracelet/vhs/token"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"
)

// Defaults of [Options].
const (
	DefaultMaxSleep    = 10 * time.Millisecond
	DefaultMaxWait     = 5 * time.Second
	DefaultQuitTimeout = 5 * time.Second
)

// Clock is the virtual clock of a replay: share it with everything the
// program reads time from, and each Sleep of the tape advances it.
type Clock = fakeclock.Clock

// NewClock returns a clock that reads start until advanced.
func NewClock(start time.Time) *Clock { return fakeclock.New(start) }

// Options configures [Play].
type Options struct {
	// Output, when set, is the file the tape must record to (its Output
	// command), e.g. "demo.gif".
	Output string
	// Program is a word of the typed shell command that starts the program,
	// e.g. "tenantui": typing a line that contains it, then Enter, starts
	// the model. Empty: the first typed line starts it. Any other typing or
	// key before the start fails the replay.
	Program string
	// Start, when set, is called with the typed command line (e.g.
	// "go run ./cmd/tenantui --ttl 8") when the tape presses Enter after it,
	// on the test's goroutine. The model it returns is the one run; the model
	// passed to Play is then ignored and may be nil.
	Start func(cmdline string) (tea.Model, error)
	// Expectations maps every Screenshot's file name to the regexps the
	// screen must match when it is taken. A Screenshot without an entry, or
	// an entry the tape never takes, fails the replay.
	Expectations map[string][]string
	// MinCols and MinRows are the least terminal size the tape may ask for
	// (estimated from its Set FontSize/Width/Height/Padding/LineHeight).
	MinCols, MinRows int
	// Clock, when set, is advanced by every Sleep.
	Clock *Clock
	// MaxSleep bounds the real time a Sleep takes (default DefaultMaxSleep).
	MaxSleep time.Duration
	// MaxWait bounds the real time a Wait, or a Screenshot's check, may take
	// (default DefaultMaxWait), whatever the tape's timeout.
	MaxWait time.Duration
	// QuitTimeout bounds how long the program may take to exit once the tape
	// has ended (default DefaultQuitTimeout). Every tape must quit.
	QuitTimeout time.Duration
}

// Result is what a replay ends with.
type Result struct {
	// Model is the program's final model.
	Model tea.Model
	// Cmdline is the typed command line that started the program.
	Cmdline string
	// Cols and Rows are the terminal size the tape was played at.
	Cols, Rows int
}

// term is a vt emulator shared by the program (input and output) and the
// player (keys and screen), serialised by a mutex. It is never closed:
// closing it would end the program's input.
type term struct {
	mu    sync.Mutex
	e     *vt.Emulator
	reads atomic.Int64 // Read calls that returned: the program took input
}

func (t *term) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.e.Write(p)
}

// Read is the program's input: the key sequences SendKey and SendText
// produce, and the emulator's replies to queries.
func (t *term) Read(p []byte) (int, error) {
	n, err := t.e.Read(p)
	t.reads.Add(1)
	return n, err
}

func (t *term) screen() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.e.String()
}

func (t *term) key(k vt.KeyPressEvent) {
	before := t.reads.Load()
	t.mu.Lock()
	t.e.SendKey(k)
	t.mu.Unlock()
	if k.Code != vt.KeyEscape {
		return
	}
	// A lone ESC followed closely by another key reads as alt+<key>, in a
	// real terminal too. Let the program take the ESC on its own, then wait
	// out the input parser's escape timeout before the next key.
	deadline := time.Now().Add(time.Second)
	for t.reads.Load() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(escapeGap)
}

// escapeGap is how long the replay leaves the input alone after an ESC.
const escapeGap = 150 * time.Millisecond

func (t *term) text(s string) {
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

// Play replays the tape at tapePath against m (or the model Options.Start
// builds) and fails t on the first divergence: a command the replay does not
// support, a Wait whose regexp never matches, a Screenshot whose
// expectations do not, or a program that does not quit when the tape ends.
// It returns the final model.
func Play(t testing.TB, tapePath string, m tea.Model, opts Options) Result {
	t.Helper()
	if opts.MaxSleep <= 0 {
		opts.MaxSleep = DefaultMaxSleep
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.QuitTimeout <= 0 {
		opts.QuitTimeout = DefaultQuitTimeout
	}
	name := tapePath
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}

	src, err := os.ReadFile(tapePath)
	if err != nil {
		t.Fatal(err)
	}
	p := parser.New(lexer.New(string(src)))
	cmds := p.Parse()
	if errs := p.Errors(); len(errs) > 0 {
		t.Fatalf("%s does not parse: %v", name, errs)
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
	if opts.Output != "" && output != opts.Output {
		t.Fatalf("%s: Output = %q, want %q", name, output, opts.Output)
	}
	cols, rows, err := tapeSize(settings)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if cols < opts.MinCols || rows < opts.MinRows {
		t.Fatalf("%s: the tape's terminal is about %d×%d; it needs at least %d×%d", name, cols, rows, opts.MinCols, opts.MinRows)
	}
	t.Logf("replaying %s at %d×%d", name, cols, rows)

	tm := &term{e: vt.NewEmulator(cols, rows)}
	// No TTY, so no ONLCR: the emulator maps LF to CR LF itself.
	_, _ = tm.Write([]byte(ansi.SetModeLineFeedNewLine))
	var prog *tea.Program
	done := make(chan runResult, 1)
	running := false
	t.Cleanup(func() {
		if running { // the replay failed before the tape quit: stop the program
			prog.Kill()
			select {
			case <-done:
			case <-time.After(opts.QuitTimeout):
			}
		}
	})

	waitScreen := func(what string, res []*regexp.Regexp, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(min(timeout, opts.MaxWait))
		for {
			s := tm.screen()
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

	res := Result{Cols: cols, Rows: rows}
	started, startTyped := false, false
	screenshots := map[string]bool{}
	defaultWait := 15 * time.Second
	for i, c := range cmds {
		where := fmt.Sprintf("%s command %d (%s %s)", name, i+1, c.Type, c.Args)
		switch c.Type {
		case token.SET, token.OUTPUT, token.REQUIRE, token.HIDE, token.SHOW:
			if c.Type == token.SET && c.Options == "WaitTimeout" {
				if d, err := time.ParseDuration(c.Args); err == nil {
					defaultWait = d
				}
			}
		case token.TYPE:
			if !started && !startTyped && (opts.Program == "" || strings.Contains(c.Args, opts.Program)) {
				startTyped = true // the shell part: Enter starts the program below
				res.Cmdline = c.Args
				continue
			}
			if !started {
				t.Fatalf("%s: typed before the program started", where)
			}
			for _, r := range c.Args {
				tm.text(string(r))
			}
		case token.ENTER, token.SPACE, token.UP, token.DOWN, token.LEFT, token.RIGHT, token.ESCAPE, token.TAB,
			token.BACKSPACE, token.PAGE_UP, token.PAGE_DOWN:
			if c.Type == token.ENTER && startTyped && !started {
				if opts.Start != nil {
					if m, err = opts.Start(res.Cmdline); err != nil {
						t.Fatalf("%s: start %q: %v", where, res.Cmdline, err)
					}
				}
				if m == nil {
					t.Fatalf("%s: no model to run", where)
				}
				prog = tea.NewProgram(m,
					tea.WithInput(tm),
					tea.WithOutput(struct{ io.Writer }{tm}),
					tea.WithWindowSize(cols, rows),
					tea.WithEnvironment([]string{"TERM=xterm-256color"}),
					tea.WithColorProfile(colorprofile.ANSI256),
					tea.WithoutSignalHandler(),
				)
				started, running = true, true
				go func() {
					m, err := prog.Run()
					done <- runResult{m, err}
				}()
				continue
			}
			if !started {
				t.Fatalf("%s: key before the program started", where)
			}
			n, _ := strconv.Atoi(c.Args)
			for range max(n, 1) {
				tm.key(keyFor[c.Type])
			}
		case token.CTRL:
			if c.Args != "C" && c.Args != "c" {
				t.Fatalf("%s: only Ctrl+C is replayed", where)
			}
			if !started {
				t.Fatalf("%s: key before the program started", where)
			}
			tm.key(vt.KeyPressEvent{Code: 'c', Mod: vt.ModCtrl})
		case token.SLEEP:
			d, err := time.ParseDuration(c.Args)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if opts.Clock != nil {
				opts.Clock.Advance(d)
			}
			time.Sleep(min(d, opts.MaxSleep)) // the tape's pacing, scaled down
			if started {
				prog.Send(struct{}{}) // redraw: the virtual clock moved
			}
		case token.WAIT:
			scope, rx, _ := strings.Cut(c.Args, " ")
			if scope != "Screen" || rx == "" {
				t.Fatalf("%s: use Wait+Screen /regexp/ (a plain Wait only matches the cursor line)", where)
			}
			if !started {
				t.Fatalf("%s: Wait before the program started", where)
			}
			timeout := defaultWait
			if c.Options != "" {
				if timeout, err = time.ParseDuration(c.Options); err != nil {
					t.Fatalf("%s: %v", where, err)
				}
			}
			waitScreen(where, []*regexp.Regexp{regexp.MustCompile(rx)}, timeout)
		case token.SCREENSHOT:
			want, ok := opts.Expectations[c.Args]
			if !ok {
				t.Fatalf("%s: no expectations for this screenshot", where)
			}
			if !started {
				t.Fatalf("%s: Screenshot before the program started", where)
			}
			var pats []*regexp.Regexp
			for _, w := range want {
				re, err := regexp.Compile(w)
				if err != nil {
					t.Fatalf("%s: expectation: %v", where, err)
				}
				pats = append(pats, re)
			}
			// VHS captures the next frame: give the program a moment to draw it.
			waitScreen(where, pats, opts.MaxWait)
			screenshots[c.Args] = true
		default:
			t.Fatalf("%s: the replay does not support %s", where, c.Type)
		}
	}
	for shot := range opts.Expectations {
		if !screenshots[shot] {
			t.Errorf("%s: there are expectations for %s but the tape never takes it", name, shot)
		}
	}
	if !started {
		t.Fatalf("%s: the tape never starts the program (Type the command, then Enter)", name)
	}

	var rr runResult
	select {
	case rr = <-done:
		running = false
	case <-time.After(opts.QuitTimeout):
		t.Fatalf("%s: the program did not quit at the end of the tape:\n%s", name, tm.screen())
	}
	if rr.err != nil {
		t.Fatalf("%s: program: %v", name, rr.err)
	}
	res.Model = rr.m
	return res
}
