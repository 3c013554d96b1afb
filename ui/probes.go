package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"

	"github.com/tenantui/tenantui/pipeline"
)

// Cross-tenant attempts: the form that picks actor, target and operation, the
// side-by-side result of one attempt, the seed's isolation check and the full
// matrix.

// crossForm is the cross-tenant attempt form. Its values survive closing, so
// a walkthrough can change one field and run again.
type crossForm struct {
	actor, target int // tenant indexes
	op            pipeline.Op
	field         int // 0 actor, 1 target, 2 operation
	used          bool
}

const formFields = 3

// open shows the form with focus on the actor, which is the selected tenant.
// The first time (or when the remembered target is the selected tenant), the
// target is the next tenant; otherwise the target and operation are kept.
func (f *crossForm) open(sel, n int) {
	if !f.used || f.target >= n || f.target == sel {
		f.target, f.op = sel, pipeline.OpRead
		if n > 1 {
			f.target = (sel + 1) % n
		}
		f.used = true
	}
	f.actor = sel
	f.field = 0
}

func (f *crossForm) moveField(d int) { f.field = ((f.field+d)%formFields + formFields) % formFields }

// change steps the focused field's value by d, wrapping around.
func (f *crossForm) change(d, n int) {
	if n == 0 {
		return
	}
	switch f.field {
	case 0:
		f.actor = ((f.actor+d)%n + n) % n
	case 1:
		f.target = ((f.target+d)%n + n) % n
	case 2:
		if f.op == pipeline.OpRead {
			f.op = pipeline.OpWrite
		} else {
			f.op = pipeline.OpRead
		}
	}
}

func (f crossForm) lines(st Styles, ts []pipeline.Tenant, km KeyMap, inner, rows int) []string {
	if len(ts) == 0 {
		return []string{st.Muted.Render("no tenants")}
	}
	actor, target := ts[f.actor], ts[f.target]
	valW := len("read analytics")
	for _, t := range ts[:min(len(ts), 200)] {
		valW = max(valW, min(len(t.ID), 24))
	}
	field := func(k int, label, value, note string) string {
		mark := "  "
		v := "‹ " + pad(ansiTrunc(value, valW), valW) + " ›"
		if k == f.field {
			mark = st.Cursor.Render("▸ ")
			v = st.FormFocus.Render(v)
		} else {
			v = st.FormField.Render(v)
		}
		return mark + st.Label.Render(pad(label, 15)) + pad(v, 0) + "  " + st.Muted.Render(note)
	}
	need := target.ScopeFor(f.op)
	fields := []string{
		field(0, "acting agent", actor.ID, "presents its own token"),
		field(1, "target tenant", target.ID, "whose store is asked"),
		field(2, "operation", f.op.Label(), "needs "+need),
	}
	holds := st.Muted.Render(fmt.Sprintf("%s holds %s", actor.ID, strings.Join(actor.Scopes(), " ")))
	// Every hint stays reachable: wrapped to the width, and in a short pane
	// the spacing, then the "holds" line, give way first (compact.go).
	hs := hintLines(st, inner, km.Run, km.Released, km.FieldNext, km.ValueNext, km.Cancel)
	switch n := len(fields) + len(hs); {
	case rows <= 0 || n+3 <= rows:
		return append(append(fields, "", holds, ""), hs...)
	case n+1 <= rows:
		return append(append(fields, holds), hs...)
	}
	return append(fields, hs...)
}

// probeState is the last cross-tenant attempt.
type probeState struct {
	actor, target string
	op            pipeline.Op
	released      bool
	pending       bool
	res           pipeline.ProbeResult
	err           string
}

func (p probeState) title() (string, string) {
	note := fmt.Sprintf("%s agent → %s data · %s", p.actor, p.target, p.op.Label())
	if p.released {
		note += " · released token"
	}
	return "Cross-tenant attempt", note
}

// lines renders the local check and the store check side by side; compact
// (for short panes) keeps one line per field.
func (p probeState) lines(st Styles, spin string, inner, h int) []string {
	switch {
	case p.pending:
		return []string{spin + " asking the store…"}
	case p.err != "":
		return append([]string{st.Error.Render("ERROR")}, wrapStyled(st.Error, p.err, inner)...)
	}
	colW := (inner - 3) / 2
	build := func(compact bool) []string {
		left := accessColumn(st, "LOCAL CHECK", "the token's claim", p.res.Local, colW, compact)
		right := accessColumn(st, "STORE CHECK", "broker-validated", p.res.Store, colW, compact)
		sep := st.Border.Render(" │ ")
		n := max(len(left), len(right))
		out := make([]string, 0, n+2)
		for i := range n {
			l, r := "", ""
			if i < len(left) {
				l = left[i]
			}
			if i < len(right) {
				r = right[i]
			}
			out = append(out, fit(l, colW)+sep+r)
		}
		if !compact {
			out = append(out, "")
		}
		out = append(out, outcome(st, p.res, p.released))
		if p.res.Dedicated {
			out = append(out, st.Muted.Render(ansiTrunc(p.actor+" had no live agent: a dedicated probe agent made the attempt and was released", inner)))
		}
		return out
	}
	out := build(false)
	if len(out) > h {
		out = build(true)
	}
	return out
}

// accessColumn is one layer's decision: verdict, required vs held, reason.
func accessColumn(st Styles, head, sub string, a pipeline.Access, w int, compact bool) []string {
	code := ""
	if !a.Allowed && a.Code != "" {
		code = st.Muted.Render("  " + a.Code)
	}
	var lines []string
	if compact {
		lines = []string{st.Strong.Render(head) + "  " + verdict(st, a.Allowed) + code}
	} else {
		lines = []string{st.Strong.Render(head) + st.Muted.Render(" · "+sub), verdict(st, a.Allowed) + code}
	}
	lbl := func(s string) string { return st.Label.Render(pad(s, 9)) }
	vw := max(w-9, 4)
	req := strings.Join(a.Required, " ")
	if req == "" {
		req = "—"
	}
	lines = append(lines, lbl("required")+st.Value.Render(truncScope(req, vw)))
	held := a.Held
	if compact && len(held) > 1 {
		held = []string{nearestHeld(a)}
	}
	if len(held) == 0 {
		lines = append(lines, lbl("held")+st.Muted.Render("— (token refused)"))
	}
	for k, h := range held {
		l := lbl("")
		if k == 0 {
			l = lbl("held")
		}
		lines = append(lines, l+st.Value.Render(truncScope(h, vw)))
	}
	reason := reasonText(a)
	if i := strings.Index(reason, " in "); i > 0 && !a.Allowed && len(a.Held) > 0 {
		reason = reason[:i] // the held lines already name the scope
	}
	if compact {
		return append(lines, lbl("reason")+st.Value.Render(ansiTrunc(reason, vw)))
	}
	for k, r := range wrap(reason, vw) {
		l := lbl("")
		if k == 0 {
			l = lbl("reason")
		}
		lines = append(lines, l+st.Value.Render(r))
	}
	return lines
}

// reasonText is the part of an access reason worth reading: for a scope
// decision, the explanation of the (first uncovered) required scope, e.g.
// which segment differs; otherwise the reason as given.
func reasonText(a pipeline.Access) string {
	for _, it := range a.Decision.Items {
		if a.Allowed == it.OK() && it.Detail != "" {
			return it.Detail
		}
	}
	if a.Reason != "" {
		return a.Reason
	}
	return "—"
}

// outcome sums up an attempt in one line.
func outcome(st Styles, r pipeline.ProbeResult, released bool) string {
	switch {
	case r.Store.Allowed && r.Local.Allowed:
		return st.Allow.Render("ALLOWED") + st.Muted.Render(fmt.Sprintf(" — %s's agent may %s its own tenant's data", r.Actor, r.Op))
	case r.Store.Allowed:
		return st.Warn.Render("ALLOWED BY THE STORE") + st.Muted.Render(" — the local check refused but the store did not")
	case r.Local.Allowed && released:
		return st.Deny.Render("BLOCKED") + st.Muted.Render(" — the claim looks fine locally, but the broker refuses the dead token")
	case r.Local.Allowed:
		return st.Deny.Render("BLOCKED") + st.Muted.Render(" — the local check passed; the store refused")
	}
	return st.Deny.Render("BLOCKED") + st.Muted.Render(" by both layers — tenants stay apart")
}

// isolationState is the last isolation check.
type isolationState struct {
	pending bool
	res     pipeline.IsolationResult
	err     string
}

func (s isolationState) lines(st Styles, spin string, inner, h int) []string {
	switch {
	case s.pending:
		return []string{spin + " running the isolation check with fresh agents…"}
	case s.err != "":
		return append([]string{st.Error.Render("ERROR")}, wrapStyled(st.Error, s.err, inner)...)
	}
	nameW := 0
	for _, c := range s.res.Checks {
		nameW = max(nameW, len(c.Name))
	}
	compact := 2*len(s.res.Checks)+1 > h // one line per check when the pane is short
	var out []string
	for _, c := range s.res.Checks {
		p := c.Probe
		mark := st.Pass.Render("✓")
		if !c.Pass {
			mark = st.Fail.Render("✗")
		}
		word := st.Deny.Render("BLOCKED")
		if p.Store.Allowed {
			word = st.Allow.Render("ALLOWED")
		}
		by := "allowed by local+store"
		switch {
		case !p.Local.Allowed && !p.Store.Allowed:
			by = "denied by local, store"
		case !p.Local.Allowed:
			by = "denied by local"
		case !p.Store.Allowed:
			by = "denied by store"
		}
		head := mark + " " + word + "  " + st.Value.Render(pad(c.Name, nameW)) + "  " + st.Muted.Render(by)
		held := nearestHeld(p.Store)
		if held == "" {
			held = nearestHeld(p.Local)
		}
		req := strings.Join(p.Store.Required, " ")
		if req == "" {
			req = strings.Join(p.Local.Required, " ")
		}
		detail := st.Label.Render("required ") + st.Value.Render(req) + st.Label.Render("  held ") + st.Value.Render(held)
		headW := 2 + 7 + 2 + nameW + 2 + len("denied by local, store")
		switch {
		case headW+3+9+len(req)+7+len(held) <= inner:
			out = append(out, pad(head, headW)+"   "+detail)
		case compact:
			out = append(out, head)
		default:
			out = append(out, head, "           "+detail)
		}
	}
	switch {
	case s.res.NotApplicable:
		out = append(out, st.Warn.Render(ansiTrunc("Isolation not checked: "+s.res.Note, inner)))
	case s.res.Passed:
		if s.res.Note != "" {
			out = append(out, st.Muted.Render(ansiTrunc(s.res.Note, inner)))
		}
		out = append(out, st.Pass.Render("Cross-tenant isolation verified."))
	default:
		failed := 0
		for _, c := range s.res.Checks {
			if !c.Pass {
				failed++
			}
		}
		out = append(out, st.Fail.Render(fmt.Sprintf("Cross-tenant isolation FAILED: %d of %d checks", failed, len(s.res.Checks))))
	}
	return out
}

// nearestHeld is the held scope that explains a decision: the covering one,
// or the nearest miss.
func nearestHeld(a pipeline.Access) string {
	for _, it := range a.Decision.Items {
		if it.Held != "" {
			return it.Held
		}
	}
	return strings.Join(a.Held, " ")
}

// matrixState is the last full matrix.
type matrixState struct {
	pending bool
	res     pipeline.MatrixResult
	err     string
}

func (s matrixState) lines(st Styles, spin string, inner, rows int) []string {
	switch {
	case s.pending:
		return []string{spin + " probing every actor × target × operation (beyond 64 tenants: a sample)…"}
	case s.err != "":
		return append([]string{st.Error.Render("ERROR")}, wrapStyled(st.Error, s.err, inner)...)
	case s.res.Sampled:
		return s.sampledLines(st, inner)
	}
	ts := s.res.Tenants
	n := len(ts)
	idW := 8
	for _, t := range ts {
		idW = max(idW, min(len(t), 14))
	}
	cellW := max(idW, 6) + 1
	cols := max((inner-idW-2)/cellW, 1)
	showCols := min(n, cols)
	sum := fmt.Sprintf("%d probes · ", len(s.res.Probes))
	if s.res.Failures == 0 {
		sum = st.Muted.Render(sum) + st.Pass.Render("0 failures") + st.Muted.Render(" — each agent reaches only its own tenant")
	} else {
		sum = st.Muted.Render(sum) + st.Fail.Render(fmt.Sprintf("%d FAILURES", s.res.Failures))
	}
	legend := st.Muted.Render("R read analytics · W write report · ✓ ALLOW · ✗ DENY (store) · ! unexpected")

	// One block of targets: the header, then every actor's row.
	block := func(from, to int) []string {
		hdr := pad("actor↓ target→", idW+2)
		if len(hdr) > idW+2 {
			hdr = pad("actor", idW+2)
		}
		for j := from; j < to; j++ {
			hdr += pad(truncMiddle(ts[j], cellW-1), cellW)
		}
		out := []string{st.ColHeader.Render(hdr)}
		for i := range n {
			line := st.Strong.Render(pad(truncMiddle(ts[i], idW), idW)) + "  "
			for j := from; j < to; j++ {
				line += pad(matrixCell(st, s.res, i, j), cellW)
			}
			out = append(out, line)
		}
		return out
	}
	if showCols == n && n+3 <= rows {
		// It fits: the matrix, its summary and the legend.
		return append(block(0, n), sum, legend)
	}
	// It does not fit: the summary and legend first, then the matrix in
	// blocks of as many targets as the width allows, one under another, for
	// the pane to scroll through (↑/↓, PgUp/PgDn).
	out := []string{sum, legend}
	if showCols < n {
		out = append(out, st.Muted.Render(fmt.Sprintf("%d targets in blocks of %d, one under another · scroll for more", n, showCols)))
	}
	for from := 0; from < n; from += showCols {
		out = append(out, "")
		out = append(out, block(from, min(from+showCols, n))...)
	}
	return out
}

func matrixCell(st Styles, r pipeline.MatrixResult, a, t int) string {
	n := len(r.Tenants)
	var b strings.Builder
	for o, letter := range []string{"R", "W"} {
		k := (a*n+t)*2 + o
		if k >= len(r.Probes) {
			b.WriteString(letter + "? ")
			continue
		}
		p := r.Probes[k]
		g, sty := "✗", st.Deny
		if p.Store.Allowed {
			g, sty = "✓", st.Allow
		}
		if p.Store.Allowed != (a == t) || p.Local.Allowed != p.Store.Allowed {
			g += "!"
			sty = st.Fail
		}
		b.WriteString(sty.Render(letter+g) + " ")
	}
	return b.String()
}

// hints renders bindings as "key desc · key desc", skipping disabled ones.
func hints(st Styles, bs ...key.Binding) string {
	var parts []string
	for _, b := range bs {
		if !b.Enabled() {
			continue
		}
		h := b.Help()
		parts = append(parts, st.Key.Render(h.Key)+" "+st.Muted.Render(h.Desc))
	}
	return strings.Join(parts, st.Muted.Render(" · "))
}

// wrapStyled wraps plain text to w and styles each line.
func wrapStyled(sty lipgloss.Style, s string, w int) []string {
	var out []string
	for _, l := range wrap(s, w) {
		out = append(out, sty.Render(l))
	}
	return out
}
