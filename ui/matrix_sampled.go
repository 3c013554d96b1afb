package ui

import (
	"fmt"
	"strings"

	"github.com/tenantui/tenantui/pipeline"
)

// sampledLines renders a sampled matrix (more than 64 tenants): what it is
// and its outcome first, then one row per actor, its own tenant first and
// then the tenants it was sampled against, each with the store's read and
// write decisions.
func (s matrixState) sampledLines(st Styles, inner int) []string {
	r := s.res
	k := r.SampleK
	n := len(r.Tenants)
	idW := 8
	for _, t := range r.Tenants {
		idW = max(idW, min(len(t), 14))
	}
	out := []string{st.ColHeader.Render(ansiTrunc(fmt.Sprintf("SAMPLED: each actor × its own tenant + %d others (seed %d)", k, r.Seed), inner))}
	sum := fmt.Sprintf("%s probes, sampled (the full matrix: %s) · ", thousands(len(r.Probes)), thousands(2*n*n))
	if r.Failures == 0 {
		out = append(out, ansiTrunc(st.Muted.Render(sum)+st.Pass.Render("0 failures"), inner))
	} else {
		out = append(out, ansiTrunc(st.Muted.Render(sum)+st.Fail.Render(fmt.Sprintf("%d FAILURES", r.Failures)), inner))
	}
	out = append(out, st.Muted.Render(ansiTrunc("R read · W write · ✓ ALLOW · ✗ DENY (store) · ! unexpected", inner)))
	// Every actor: the detail pane scrolls (tab, then pgup/pgdn).
	for a := range n {
		var b strings.Builder
		b.WriteString(st.Strong.Render(pad(truncMiddle(r.Tenants[a], idW), idW)))
		for t := range k + 1 {
			i := (a*(k+1) + t) * 2
			if i+1 >= len(r.Probes) {
				break
			}
			target := "own"
			if t > 0 {
				target = truncMiddle(r.Probes[i].Target, idW)
			}
			b.WriteString("  " + st.Muted.Render(target) + " " + sampledCell(st, r.Probes[i].Store.Allowed, r.Probes[i].Local.Allowed, t == 0, "R") +
				" " + sampledCell(st, r.Probes[i+1].Store.Allowed, r.Probes[i+1].Local.Allowed, t == 0, "W"))
		}
		out = append(out, ansiTrunc(b.String(), inner))
	}
	return out
}

func sampledCell(st Styles, store, local, own bool, letter string) string {
	g, sty := "✗", st.Deny
	if store {
		g, sty = "✓", st.Allow
	}
	if store != own || local != store {
		g += "!"
		sty = st.Fail
	}
	return sty.Render(letter + g)
}

// matrixStatus is the status line after a matrix: how many probes (and that
// they were sampled, beyond 64 tenants) and how many were decided wrongly.
func matrixStatus(r pipeline.MatrixResult) string {
	what := "matrix"
	if r.Sampled {
		what = "sampled matrix"
	}
	return fmt.Sprintf("%s: %s probes, %s", what, thousands(len(r.Probes)), plural(r.Failures, "failure"))
}
