package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// benchProcess builds the binary once and times whole `tenantui run`
// processes (start, embedded broker, every tenant, the isolation check,
// exit), with the data already generated.
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
	run() // generate the data
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}

// BenchmarkHeadlessProcess3 is the sample's three tenants (target ≤ 150 ms).
func BenchmarkHeadlessProcess3(b *testing.B) { benchProcess(b) }

// BenchmarkHeadlessProcess1000 is examples/tenants-1000.json at concurrency 8
// (target ≤ 3 s).
func BenchmarkHeadlessProcess1000(b *testing.B) {
	benchProcess(b, "--tenants", filepath.Join("..", "..", "examples", "tenants-1000.json"), "--concurrency", "8")
}
