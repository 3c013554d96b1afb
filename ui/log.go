package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// The decision log: every decision and lifecycle event, timestamped, newest
// last. ALLOW, DENY and ERROR are words as well as colours.

// maxLog bounds the log; older entries are dropped.
const maxLog = 5000

type logTag int

const (
	tagNote logTag = iota
	tagAllow
	tagDeny
	tagError
)

type logEntry struct {
	at    time.Time
	tag   logTag
	label string // layer for decisions, event kind otherwise
	text  string
}

// logPane is the log and how far it is scrolled back from the newest line.
type logPane struct {
	entries []logEntry
	back    int // entries hidden below the window; 0 follows the newest
	total   int // entries ever added, the dropped ones included
}

func (l *logPane) add(e logEntry) {
	e.text = oneLine(e.text)
	l.total++
	if len(l.entries) >= 2*maxLog {
		l.entries = append(l.entries[:0:0], l.entries[len(l.entries)-maxLog:]...)
	}
	l.entries = append(l.entries, e)
	if l.back > 0 {
		l.back++ // keep the lines the reader is looking at in place
	}
}

func (l *logPane) visible() []logEntry {
	if len(l.entries) > maxLog {
		return l.entries[len(l.entries)-maxLog:]
	}
	return l.entries
}

// scroll moves the window by delta entries (negative = older).
func (l *logPane) scroll(delta, rows int) {
	n := len(l.visible())
	l.back = min(max(l.back-delta, 0), max(n-rows, 0))
}

// kindLabels are the log's short labels for lifecycle events (decisions are
// labelled with their layer).
var kindLabels = map[pipeline.EventKind]string{
	pipeline.EventAgentCreated:  "agent",
	pipeline.EventStageFinished: "stage",
	pipeline.EventReportWritten: "report",
	pipeline.EventReleased:      "release",
	pipeline.EventRenewed:       "renew",
	pipeline.EventRevoked:       "revoke",
	pipeline.EventExpired:       "expiry",
	pipeline.EventDelegated:     "deleg",
	pipeline.EventInfo:          "info",
}

// entryFor turns a pipeline event into a log entry (ok=false to skip it).
func entryFor(ev pipeline.Event) (logEntry, bool) {
	e := logEntry{at: ev.Time, label: ev.Kind.String(), text: ev.Message}
	switch ev.Kind {
	case pipeline.EventStageStarted:
		return e, false // the stepper shows what runs; the log keeps outcomes
	case pipeline.EventDecision:
		a := ev.Access
		if a == nil {
			break
		}
		e.tag, e.label = tagDeny, string(a.Layer)
		if a.Allowed {
			e.tag = tagAllow
		}
		if e.at.IsZero() {
			e.at = a.Time
		}
		e.text = fmt.Sprintf("%s → %s %s: %s", a.Actor, a.Target, a.Op.Label(), reasonText(*a))
		if a.Layer == pipeline.LayerBroker { // delegation, creation, renewal: no store operation
			e.text = fmt.Sprintf("%s → %s [%s]: %s", a.Actor, a.Target, strings.Join(a.Required, " "), reasonText(*a))
		}
		if !a.Allowed && a.Code != "" {
			e.text += " [" + a.Code + "]"
		}
	case pipeline.EventError:
		e.tag = tagError
		if e.text == "" {
			e.text = ev.Tenant + ": " + ev.Err
		}
	}
	if e.text == "" {
		e.text = strings.TrimSpace(ev.Tenant + " " + ev.Kind.String())
	}
	if l, ok := kindLabels[ev.Kind]; ok {
		e.label = l
	}
	return e, true
}

func (e logEntry) render(st Styles, inner int) string {
	var tag string
	switch e.tag {
	case tagAllow:
		tag = st.Allow.Render("ALLOW")
	case tagDeny:
		tag = st.Deny.Render("DENY ")
	case tagError:
		tag = st.Error.Render("ERROR")
	default:
		tag = st.Muted.Render("  ·  ")
	}
	label := e.label
	if len(label) > 7 {
		label = label[:7]
	}
	line := st.LogTime.Render(hms(e.at)) + " " + tag + " " + st.Muted.Render(pad(label, 7)) + " "
	text := e.text
	if e.tag == tagError {
		return line + st.Error.Render(ansiTrunc(text, inner-23))
	}
	return line + st.LogText.Render(ansiTrunc(text, inner-23))
}

// view renders the log as a box of w×h.
func (l *logPane) view(w, h int, st Styles) []string {
	inner := w - 4
	rows := max(h-2, 0)
	es := l.visible()
	end := len(es) - l.back
	start := max(end-rows, 0)
	lines := make([]string, 0, rows)
	for _, e := range es[start:end] {
		lines = append(lines, e.render(st, inner))
	}
	if len(es) == 0 {
		lines = append(lines, st.Muted.Render("no events yet: press enter to run the first stage"))
	}
	note := st.Muted.Render(l.countNote())
	if l.back > 0 {
		note = st.Warn.Render(fmt.Sprintf("↓ %d newer", l.back)) + st.Muted.Render(" · pgdn")
	}
	return box(st, "Decision log", note, lines, w, h)
}

// countNote is the log's size: "12 events", or, once older entries have
// been dropped, "last 5,000 of 12,345" (--log keeps them all).
func (l *logPane) countNote() string {
	n := len(l.visible())
	if l.total > n {
		return "last " + thousands(n) + " of " + thousands(l.total)
	}
	return thousands(n) + " events"
}

// thousands formats n with comma separators: 12345 → "12,345".
func thousands(n int) string { return pipeline.GroupThousands(int64(n)) }
