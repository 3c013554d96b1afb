package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// benchProcess builds the binary once and times whole `tenantui run`
// processes (start, embedded broker, every tenant, the isolation check,
// exit) as a nightly run finds things: the data already generated and the
// reports of an earlier night in place. Two untimed runs come first: the
// first generates the data and writes each report, the second replaces
// each report once, which leaves the swap file that every later write
// reuses (see pipeline.writeAtomic).
func benchProcess(b *testing.B, extra ...string) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "tenantui")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	args := append([]string{"run", "--data", filepath.Join(dir, "data"), "--reports", filepath.Join(dir, "reports")}, extra...)
	run := func() {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "AGENTWRIT_BROKER_URL=")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("run: %v\n%s", err, out)
		}
	}
	run() // generate the data, write the reports
	run() // replace them once: now each has its swap file
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}

// BenchmarkHeadlessProcess3 is the sample's three tenants (target ≤ 150 ms).
func BenchmarkHeadlessProcess3(b *testing.B) { benchProcess(b) }

// BenchmarkHeadlessProcess1000 is examples/tenants-1000.json at the
// automatic concurrency (target: at most 20× BenchmarkHeadlessProcess3).
func BenchmarkHeadlessProcess1000(b *testing.B) {
	benchProcess(b, "--tenants", filepath.Join("..", "..", "examples", "tenants-1000.json"))
}

// BenchmarkHeadlessProcess10000 is a generated catalog of 10,000 tenants of
// 200 rows each (the kinds in turn, as in examples/tenants-1000.json), at
// the automatic concurrency: the cost must stay linear (at most 11× the
// 1,000-tenant run). Peak RSS is measured outside, with /usr/bin/time.
func BenchmarkHeadlessProcess10000(b *testing.B) {
	benchProcess(b, "--tenants", writeCatalog(b, 10000, 200))
}

// writeCatalog writes a catalog of n tenants of the given rows to a
// temporary file.
func writeCatalog(b testing.TB, n, rows int) string {
	type entry struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
		Rows int    `json:"rows"`
	}
	kinds := []string{"hospital", "bank", "retail"}
	cat := struct {
		Tenants []entry `json:"tenants"`
	}{}
	for i := range n {
		cat.Tenants = append(cat.Tenants, entry{ID: fmt.Sprintf("t%05d", i), Kind: kinds[i%3], Rows: rows})
	}
	raw, err := json.Marshal(cat)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "tenants.json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}
