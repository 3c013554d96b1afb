package main

import (
	"strings"
	"testing"
)

// Beyond 64 tenants, run --matrix prints a sampled matrix: it says so, with
// its seed, one line per actor and the probe count.
func TestRunSampledMatrix(t *testing.T) {
	clearEnv(t)
	cat := writeCatalog(t, 70, 20)
	code, out, errs := runCLI(t, append([]string{"run", "--matrix", "--tenants", cat}, dirs(t)...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	for _, want := range []string{
		"── Isolation Matrix, sampled: each actor × its own tenant + 3 others (seed 42)",
		"\nt00000    own R W  t", "\nt00069    own R W  t",
		"560 probes (sampled of 9,800), 0 decided wrongly",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if n := strings.Count(out, " own R W "); n != 70 {
		t.Errorf("%d actor lines, want 70", n)
	}
}
