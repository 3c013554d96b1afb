package tapeplay

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// toy counts key presses and shows how long it has run on an injected clock.
type toy struct {
	count int
	start time.Time
	now   func() time.Time
}

func (m toy) Init() tea.Cmd { return nil }

func (m toy) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch k.String() {
		case "+":
			m.count++
		case "down":
			m.count++
		case "q":
			return m, tea.Quit
		}
	}
	return m, nil
}

func (m toy) View() tea.View {
	return tea.NewView(fmt.Sprintf("count %d\nelapsed %s\n", m.count, m.now().Sub(m.start)))
}

func TestPlay(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := NewClock(t0)
	begin := time.Now()
	res := Play(t, "testdata/toy.tape", nil, Options{
		Output:  "toy.gif",
		Program: "toy",
		Clock:   clk,
		MinCols: 70, MinRows: 10,
		Start: func(cmdline string) (tea.Model, error) {
			f := strings.Fields(cmdline)
			n, err := strconv.Atoi(f[len(f)-1])
			return toy{count: n, start: clk.Now(), now: clk.Now}, err
		},
		Expectations: map[string][]string{"toy-1.png": {`count 6`, `elapsed 1m30s`}},
	})
	if res.Cmdline != "./toy --start 3" {
		t.Errorf("Cmdline = %q", res.Cmdline)
	}
	if m := res.Model.(toy); m.count != 6 {
		t.Errorf("final count = %d, want 6", m.count)
	}
	if res.Cols != 80 || res.Rows != 18 {
		t.Errorf("size = %d×%d, want 80×18", res.Cols, res.Rows)
	}
	if got := clk.Now().Sub(t0); got != 91*time.Second+200*time.Millisecond {
		t.Errorf("virtual time = %s, want 1m31.2s", got)
	}
	if real := time.Since(begin); real > 10*time.Second {
		t.Errorf("the replay took %s of real time", real)
	}
}

func TestTapeSize(t *testing.T) {
	for _, tc := range []struct {
		name       string
		settings   map[string]string
		cols, rows int
	}{
		{"defaults", map[string]string{}, 81, 17},
		{"demo.tape", map[string]string{"FontSize": "16", "Width": "1400", "Height": "860", "Padding": "16"}, 142, 41},
	} {
		c, r, err := tapeSize(tc.settings)
		if err != nil || c != tc.cols || r != tc.rows {
			t.Errorf("%s: tapeSize = %d×%d, %v; want %d×%d", tc.name, c, r, err, tc.cols, tc.rows)
		}
	}
	if _, _, err := tapeSize(map[string]string{"Width": "wide"}); err == nil {
		t.Error(`tapeSize(Width "wide"): no error`)
	}
}
