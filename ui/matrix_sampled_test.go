package ui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/tenantui/tenantui/pipeline"
)

func sampledResult(n, k int) pipeline.MatrixResult {
	r := pipeline.MatrixResult{Sampled: true, SampleK: k, Seed: 42}
	for i := range n {
		r.Tenants = append(r.Tenants, fmt.Sprintf("t%04d", i))
	}
	for a := range n {
		for _, ti := range pipeline.MatrixTargets(a, n, k, r.Tenants[a], 42) {
			for _, op := range []pipeline.Op{pipeline.OpRead, pipeline.OpWrite} {
				own := ti == a
				r.Probes = append(r.Probes, pipeline.ProbeResult{Actor: r.Tenants[a], Target: r.Tenants[ti], Op: op,
					Local: pipeline.Access{Allowed: own}, Store: pipeline.Access{Allowed: own}})
			}
		}
	}
	return r
}

// A sampled matrix says it is sampled, with its probe count and failures,
// shows each actor's own cell first, and fits the pane.
func TestSampledMatrixLines(t *testing.T) {
	st := NewStyles(true)
	res := sampledResult(100, 3)
	lines := matrixState{res: res}.lines(st, "", 76, 12)
	if len(lines) != 3+100 {
		t.Errorf("%d lines, want the summary and every actor", len(lines))
	}
	text := ansi.Strip(strings.Join(lines, "\n"))
	for _, want := range []string{"SAMPLED: each actor × its own tenant + 3 others (seed 42)", "t0000     own R✓ W✓  t0092 R✗ W✗",
		"\nt0099 ", "800 probes, sampled (the full matrix: 20,000) · 0 failures"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	for _, l := range lines {
		if w := ansi.StringWidth(l); w > 76 {
			t.Errorf("line %d cells wide: %q", w, ansi.Strip(l))
		}
	}
	res.Probes[2].Store.Allowed = true // t0000 reads another tenant
	res.Failures = 1
	text = ansi.Strip(strings.Join(matrixState{res: res}.lines(st, "", 76, 12), "\n"))
	if !strings.Contains(text, "R✓!") || !strings.Contains(text, "1 FAILURES") {
		t.Errorf("a wrong decision is not flagged:\n%s", text)
	}
}

// fullResult is a full n×n matrix with every own cell allowed.
func fullResult(n int) pipeline.MatrixResult {
	r := pipeline.MatrixResult{Probes: make([]pipeline.ProbeResult, 2*n*n)}
	for i := range n {
		r.Tenants = append(r.Tenants, fmt.Sprintf("t%04d", i))
	}
	for a := range n {
		for t := range n {
			for o := range 2 {
				own := a == t
				r.Probes[(a*n+t)*2+o] = pipeline.ProbeResult{Local: pipeline.Access{Allowed: own}, Store: pipeline.Access{Allowed: own}}
			}
		}
	}
	return r
}

// A full matrix that fits is drawn whole; one that does not (40 tenants at
// 80 columns) is laid out in blocks of targets, one under another, with the
// summary first: every cell is in the lines the pane scrolls through, none
// is cut, and no line is wider than the pane.
func TestFullMatrixOverflowScrolls(t *testing.T) {
	st := NewStyles(true)
	small := matrixState{res: fullResult(3)}.lines(st, "", 76, 20)
	if len(small) != 1+3+2 || !strings.Contains(ansi.Strip(small[4]), "0 failures") {
		t.Fatalf("3 tenants: %d lines\n%s", len(small), ansi.Strip(strings.Join(small, "\n")))
	}
	const n = 40
	res := fullResult(n)
	res.Probes[(5*n+31)*2].Store.Allowed = true // t0005 reads t0031: wrong
	res.Failures = 1
	lines := matrixState{res: res}.lines(st, "", 76, 20)
	text := ansi.Strip(strings.Join(lines, "\n"))
	if !strings.HasPrefix(text, "3200 probes · 1 FAILURES") {
		t.Errorf("the summary must come first:\n%s", text[:min(len(text), 200)])
	}
	if strings.Contains(text, "more actors") || strings.Contains(text, "…") {
		t.Errorf("cells were cut:\n%s", text)
	}
	headers, rows := 0, map[string]int{}
	for _, l := range lines {
		s := ansi.Strip(l)
		if w := ansi.StringWidth(l); w > 76 {
			t.Errorf("line %d cells wide: %q", w, s)
		}
		if strings.HasPrefix(s, "actor") {
			headers++
		}
		if f := strings.Fields(s); len(f) > 0 && strings.HasPrefix(f[0], "t00") && !strings.HasPrefix(s, "actor") {
			rows[f[0]]++
		}
	}
	if len(rows) != n || headers < 2 {
		t.Fatalf("%d actors, %d blocks", len(rows), headers)
	}
	for actor, k := range rows {
		if k != headers {
			t.Errorf("%s has %d rows, want one per block (%d)", actor, k, headers)
		}
	}
	if !strings.Contains(text, "R✓!") {
		t.Errorf("the wrong decision in a later block is not shown:\n%s", text)
	}
}
