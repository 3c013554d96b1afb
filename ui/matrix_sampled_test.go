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
