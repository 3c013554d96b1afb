package pipeline

import (
	"fmt"
	"testing"
)

// manyTenants is a catalog of n tenants cycling through the three kinds.
func manyTenants(n, rows int) []Tenant {
	ks := []Kind{KindHospital, KindBank, KindRetail}
	ts := make([]Tenant, n)
	for i := range ts {
		ts[i] = Tenant{ID: fmt.Sprintf("t%04d", i), Kind: ks[i%3], Rows: rows}
	}
	return ts
}

func benchRunAll(b *testing.B, tenants []Tenant, concurrency int) {
	e := newEnv(b)
	cfg := e.config(tenants)
	cfg.Concurrency = concurrency
	cfg.Emit = func(Event) {}
	cfg.Scale = DefaultScale
	warm, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := warm.Prepare(ctx); err != nil { // data present, as in a second run
		b.Fatal(err)
	}
	warm.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cfg.Tenants = append([]Tenant(nil), tenants...)
		r, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.RunAll(ctx); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// BenchmarkRunAll3 is the sample's three tenants at the default sizes.
func BenchmarkRunAll3(b *testing.B) { benchRunAll(b, DefaultTenants(), 4) }

// BenchmarkRunAll1000 is a 1,000-tenant catalog (200 rows each), concurrency 8.
func BenchmarkRunAll1000(b *testing.B) { benchRunAll(b, manyTenants(1000, 200), 8) }

func BenchmarkIsolationCheck(b *testing.B) {
	e := newEnv(b)
	r := e.runner(b, nil)
	if err := r.Prepare(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if res, err := r.IsolationCheck(ctx); err != nil || !res.Passed {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkShutdown100 is the way out with 100 live agents: settle, release
// every one (8 at a time), over loopback HTTP to the embedded broker.
func BenchmarkShutdown100(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b)
		r := e.runner(b, manyTenants(100, 20))
		for _, tr := range r.tenants {
			if err := r.Step(ctx, tr.t.ID); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if res := r.Shutdown(ctx); res.Released != 100 || !res.OK() {
			b.Fatalf("shutdown: %+v", res)
		}
	}
}
