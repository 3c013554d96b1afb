package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tenantui/tenantui/pipeline"
)

// The console's lifecycle and its truth: the way out (every credential
// released, visibly, and bounded), the broker's live health in the header,
// and the last error, cause first, one key away in full.

// Timeouts of the lifecycle calls.
const (
	// shutdownTimeout bounds the way out: settle registrations, release.
	shutdownTimeout = 6 * time.Second
	// healthEvery is how often the header asks the broker's health.
	healthEvery = 5 * time.Second
)

// interruptMsg is a signal (SIGINT, SIGTERM, SIGHUP) delivered by the
// program's owner: the first quits as q does, a second exits at once.
type interruptMsg struct{}

// Interrupt is the message the program's owner sends (with Program.Send)
// when the process receives SIGINT, SIGTERM or SIGHUP.
func Interrupt() tea.Msg { return interruptMsg{} }

// shutdownDoneMsg is the end of Controller.Shutdown, on the way out.
type shutdownDoneMsg struct{ res pipeline.ShutdownResult }

// healthTickMsg asks for the next health check of chain gen.
type healthTickMsg struct{ gen int }

// healthDoneMsg is the end of Controller.Health.
type healthDoneMsg struct {
	h   pipeline.Health
	err error
}

// healthState is the broker's health as last confirmed by the broker itself.
type healthState struct {
	known    bool // a check has answered (before that, BrokerInfo.Healthy)
	ok       bool
	since    time.Time // when it became unreachable
	cause    string
	at       time.Time // last check
	inflight bool
	gen      int
}

// Shutdown returns what the way out did, and whether it finished: false
// when the user exited at once with a second ctrl+c (or the program ended
// otherwise), and the owner must release what is left.
func (m Model) Shutdown() (pipeline.ShutdownResult, bool) {
	if m.shut == nil {
		return pipeline.ShutdownResult{}, false
	}
	return *m.shut, true
}

// Abandoned reports whether the user asked to exit at once, without waiting
// for the release (a second ctrl+c or signal while releasing).
func (m Model) Abandoned() bool { return m.abandoned }

// quit starts the way out: the Controller cancels the work in flight, lets
// registrations settle and releases every credential, while the status line
// counts the releases.
func (m Model) quit() (Model, tea.Cmd) {
	m.quitting = true
	if m.ctrl == nil {
		m.shut = &pipeline.ShutdownResult{}
		return m, tea.Quit
	}
	m.tp.recount(m.now())
	m.setStatus("", false)
	return m, m.call(fmt.Sprintf("releasing every credential (%s live)… ctrl+c again exits at once", plural(m.tp.live, "agent")), shutdownCmd(m.ctrl))
}

// abandon exits at once, leaving the release to the program's owner, which
// says what stays live.
func (m Model) abandon() (Model, tea.Cmd) {
	m.abandoned = true
	return m, tea.Quit
}

// onInterrupt handles a signal like q, and a second one like a second ctrl+c.
func (m Model) onInterrupt() (Model, tea.Cmd) {
	if m.quitting {
		return m.abandon()
	}
	return m.quit()
}

func shutdownCmd(c Controller) tea.Cmd {
	return guarded("shutdown", func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		return shutdownDoneMsg{res: c.Shutdown(ctx)}
	}, func(err error) tea.Msg { return shutdownDoneMsg{res: pipeline.ShutdownResult{Unsettled: 1}} })
}

func (m *Model) onShutdown(res pipeline.ShutdownResult) tea.Cmd {
	m.busy = max(m.busy-1, 0)
	m.shut = &res
	m.released = res.Released
	m.setStatus(res.Summary(), !res.OK())
	return tea.Quit
}

// healthTick schedules the next health check of chain gen.
func healthTick(gen int) tea.Cmd {
	return tea.Tick(healthEvery, func(time.Time) tea.Msg { return healthTickMsg{gen: gen} })
}

func healthCmd(c Controller) tea.Cmd {
	return guarded("health", func() tea.Msg {
		h, err := c.Health(context.Background())
		return healthDoneMsg{h: h, err: err}
	}, func(err error) tea.Msg { return healthDoneMsg{err: err} })
}

// checkHealth asks for the broker's health now, unless a check is under way.
func (m *Model) checkHealth() tea.Cmd {
	if m.ctrl == nil || m.health.inflight || m.quitting {
		return nil
	}
	m.health.inflight = true
	return healthCmd(m.ctrl)
}

// onHealth records the broker's answer (or silence) in the header.
func (m *Model) onHealth(msg healthDoneMsg) {
	h := &m.health
	h.inflight = false
	was := h.known && h.ok || !h.known && m.broker.Healthy
	h.known, h.at = true, m.now()
	switch {
	case msg.err != nil:
		if was || h.since.IsZero() {
			h.since = h.at
		}
		h.ok, h.cause = false, pipeline.Cause(msg.err)
		if was {
			m.log.add(logEntry{at: h.at, tag: tagError, label: "broker", text: "unreachable: " + h.cause})
			m.touch(&m.ver.log)
		}
	case msg.h.Status != "ok":
		if was || h.since.IsZero() {
			h.since = h.at
		}
		h.ok, h.cause = false, "status "+fmt.Sprintf("%q", msg.h.Status)
	default:
		if !was {
			m.log.add(logEntry{at: h.at, tag: tagNote, label: "broker", text: "reachable again (" + msg.h.Status + ")"})
			m.touch(&m.ver.log)
		}
		h.ok, h.cause, h.since = true, "", time.Time{}
		if msg.h.Version != "" {
			m.broker.Version = msg.h.Version
		}
	}
	m.touch(&m.ver.chrome)
}

// tooSmall reports whether the terminal is below the console's minimum:
// the screen then only says so, and only quit (and resizing) act.
func (m Model) tooSmall() bool {
	return m.width > 0 && m.height > 0 && (m.width < minWidth || m.height < minHeight)
}

// healthBadge is the header's health: what the broker last confirmed.
func (m Model) healthBadge() (text string, ok bool) {
	h := m.health
	if !h.known {
		if m.broker.Healthy {
			return " ● healthy", true
		}
		return " ✗ unhealthy", false
	}
	if h.ok {
		return " ● healthy", true
	}
	return fmt.Sprintf(" ✗ unreachable since %s (%s)", h.since.Format("15:04:05"), shortCause(h.cause)), false
}

// shortCause is the gist of a broker failure for the header ("timeout",
// "connection refused"); the log keeps the whole cause.
func shortCause(cause string) string {
	switch {
	case strings.Contains(cause, "(timeout)"):
		return "timeout"
	case strings.HasSuffix(cause, "connection refused"):
		return "refused"
	case strings.Contains(cause, ": "):
		return cause[strings.LastIndex(cause, ": ")+2:]
	}
	return cause
}

// fail reports a failed Controller call: the status line leads with the
// cause, the log keeps it, and the whole text stays one key away (e).
func (m *Model) fail(op string, err error) {
	full := op + ": " + oneLine(err.Error())
	cause := pipeline.Cause(err)
	text := cause + " — " + op
	m.lastErr = full
	m.setStatus(text, true)
	if pipeline.IsUnreachable(err) {
		m.recheckHealth = true
	}
	m.touch(&m.ver.detail)
	// A store's refusal is a decision, already in the log as DENY: not an
	// error of the console's.
	if isDenied(err) {
		return
	}
	if !m.recentError(cause) {
		m.log.add(logEntry{at: m.now(), tag: tagError, label: "console", text: text})
		m.touch(&m.ver.log)
	}
}

func isDenied(err error) bool {
	var denied *pipeline.DeniedError
	return errors.As(err, &denied)
}

// errorLines is the last error in full, wrapped to inner.
func (m Model) errorLines(inner int) []string {
	if m.lastErr == "" {
		return []string{m.st.Muted.Render("no error so far")}
	}
	return wrapStyled(m.st.Error, ansi.Strip(m.lastErr), inner)
}
