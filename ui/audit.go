package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// The audit screen: the broker's hash-chained audit trail, filterable by
// tenant, agent and event type, newest last, with the chain verification.

var auditFilterNames = [3]string{"tenant", "agent", "type"}

// auditPane is the audit screen's state. Filter choices come from the
// unfiltered trail; the filtered listing comes from Controller.Audit.
type auditPane struct {
	focus   int         // which filter ←/→ changes
	opts    [3][]string // choices per filter; "" (all) first
	idx     [3]int
	res     *pipeline.AuditResult
	rows    []auditRow // res.Entries, formatted in Update
	err     string
	loading bool
	back    int // rows hidden below the window; 0 follows the newest

	typing  bool      // "/": typing the focused filter's value
	query   string    // what was typed
	prevIdx int       // the focused filter's choice before typing (esc)
	fetched time.Time // when the listing was last asked for (auto-refresh)
}

type auditRow struct {
	at, typ, tenant, agent, outcome, detail string
	denied                                  bool
}

func (a *auditPane) filter() pipeline.AuditFilter {
	v := func(k int) string {
		if a.idx[k] < len(a.opts[k]) {
			return a.opts[k][a.idx[k]]
		}
		return ""
	}
	return pipeline.AuditFilter{Tenant: v(0), AgentID: v(1), EventType: v(2)}
}

// setResult stores a listing for filter f and, for the unfiltered trail,
// derives the filter choices (sorted, so done here and not in View).
func (a *auditPane) setResult(f pipeline.AuditFilter, res pipeline.AuditResult) {
	if f == (pipeline.AuditFilter{}) {
		var sets [3]map[string]bool
		for k := range sets {
			sets[k] = map[string]bool{}
		}
		for _, e := range res.Entries {
			for k, v := range []string{e.Tenant, e.AgentID, e.Type} {
				if v != "" {
					sets[k][v] = true
				}
			}
		}
		cur := a.filter()
		for k := range sets {
			vals := make([]string, 0, len(sets[k]))
			for v := range sets[k] {
				vals = append(vals, v)
			}
			slices.Sort(vals)
			a.opts[k] = append([]string{""}, vals...)
		}
		// keep the current choices where they still exist
		for k, v := range []string{cur.Tenant, cur.AgentID, cur.EventType} {
			a.idx[k] = max(slices.Index(a.opts[k], v), 0)
		}
	}
	a.res = &res
	a.err = ""
	a.rows = a.rows[:0]
	for _, e := range res.Entries {
		a.rows = append(a.rows, auditRow{
			at: auditTime(e.Timestamp), typ: e.Type, tenant: e.Tenant, agent: shortAgent(e.AgentID),
			outcome: e.Outcome, detail: oneLine(e.Detail), denied: e.Outcome == "denied",
		})
	}
	a.back = 0
}

func auditTime(ts string) string {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return ts
	}
	return t.Format("15:04:05")
}

// change moves the focused filter's choice by d.
func (a *auditPane) change(d int) {
	n := len(a.opts[a.focus])
	if n == 0 {
		return
	}
	a.idx[a.focus] = ((a.idx[a.focus]+d)%n + n) % n
}

func (a *auditPane) scroll(delta, rows int) {
	a.back = min(max(a.back-delta, 0), max(len(a.rows)-rows, 0))
}

// view renders the audit screen as a box of w×h.
func (a *auditPane) view(w, h int, st Styles, admin adminState, km KeyMap, spin string) []string {
	inner := w - 4
	var lines []string

	// filter bar
	var fb []string
	f := a.filter()
	for k, v := range []string{f.Tenant, f.AgentID, f.EventType} {
		if v == "" {
			v = "all"
		}
		v = "‹ " + truncMiddle(v, 28) + " ›"
		if k == a.focus {
			v = st.FormFocus.Render(v)
		} else {
			v = st.FormField.Render(v)
		}
		fb = append(fb, st.Label.Render(auditFilterNames[k]+" ")+v)
	}
	hint := hints(st, km.Filter, km.FilterValue, km.TypeFilter, km.ScrollDown, km.Oldest, km.Newest, km.Refresh, km.Back)
	if a.typing {
		hint = st.Key.Render(auditFilterNames[a.focus]+": "+a.query+"▏") + st.Muted.Render(" enter apply · esc cancel")
	}
	lines = append(lines, ansiTrunc(strings.Join(fb, "  "), inner), ansiTrunc(hint, inner), "")

	title, note := "Broker audit trail", ""
	switch {
	case admin.known && !admin.ok:
		lines = append(lines, st.Warn.Render("audit unavailable"))
		lines = append(lines, wrapStyled(st.Muted, admin.why, inner)...)
		return box(st, title, note, lines, w, h)
	case a.err != "":
		lines = append(lines, st.Error.Render("ERROR"))
		lines = append(lines, wrapStyled(st.Error, a.err, inner)...)
		return box(st, title, note, lines, w, h)
	case a.res == nil:
		lines = append(lines, spin+" fetching the audit trail…")
		return box(st, title, note, lines, w, h)
	}
	if a.res.ChainOK {
		note = st.Pass.Render("✓ " + a.res.ChainMsg)
	} else {
		note = st.Fail.Render("✗ " + a.res.ChainMsg)
	}
	note += st.Muted.Render(fmt.Sprintf(" · showing %d of %d", len(a.rows), a.res.Total))
	if a.loading {
		note = spin + " " + note
	}

	typW, tenW, outW := 24, 10, 8
	agW := clamp(inner-9-typW-tenW-outW-24, 12, 30)
	hdr := pad("TIME", 9) + pad("EVENT", typW) + pad("TENANT", tenW) + pad("AGENT", agW) + pad("OUTCOME", outW) + "DETAIL"
	lines = append(lines, st.ColHeader.Render(hdr))
	rows := max(h-2-len(lines), 1)
	end := len(a.rows) - a.back
	start := max(end-rows, 0)
	for _, r := range a.rows[start:end] {
		out := st.Allow.Render(pad(r.outcome, outW))
		if r.denied {
			out = st.Deny.Render(pad(r.outcome, outW))
		}
		line := st.LogTime.Render(pad(r.at, 9)) + st.Value.Render(pad(ansiTrunc(r.typ, typW-1), typW)) +
			st.Strong.Render(pad(ansiTrunc(r.tenant, tenW-1), tenW)) + st.Muted.Render(pad(truncMiddle(r.agent, agW-1), agW)) +
			out + st.Value.Render(r.detail)
		lines = append(lines, line)
	}
	if len(a.rows) == 0 {
		lines = append(lines, st.Muted.Render("no events match this filter"))
	}
	return box(st, title, note, lines, w, h)
}
