package pipeline

import (
	"slices"
	"testing"
)

// MatrixTargets: the actor itself first, then k distinct others, the same
// for the same seed and actor, different for another seed; in the dense case
// too.
func TestMatrixTargets(t *testing.T) {
	for _, c := range []struct{ n, k int }{{1000, 3}, {70, 3}, {5, 3}, {4, 3}, {2, 3}} {
		for i := range min(c.n, 50) {
			id := manyTenants(c.n, 1)[i].ID
			got := MatrixTargets(i, c.n, c.k, id, 42)
			if len(got) != min(c.k, c.n-1)+1 || got[0] != i {
				t.Fatalf("n=%d k=%d actor %d: targets %v", c.n, c.k, i, got)
			}
			seen := map[int]bool{}
			for _, j := range got {
				if j < 0 || j >= c.n || seen[j] {
					t.Fatalf("n=%d actor %d: bad or repeated target in %v", c.n, i, got)
				}
				seen[j] = true
			}
			if again := MatrixTargets(i, c.n, c.k, id, 42); !slices.Equal(got, again) {
				t.Fatalf("not reproducible: %v then %v", got, again)
			}
		}
	}
	differ := 0
	for i := range 20 {
		if !slices.Equal(MatrixTargets(i, 1000, 3, "x", 1), MatrixTargets(i, 1000, 3, "x", 2)) {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("the seed does not change the sample")
	}
}

// Beyond 64 tenants the matrix is sampled: every tenant's own read and write
// are probed (and allowed), each actor's k others are refused, and the same
// seed gives the same probes.
func TestSampledMatrix(t *testing.T) {
	e := newEnv(t)
	ts := manyTenants(MaxMatrixTenants+6, 20)
	r := e.runner(t, ts)
	m, err := r.Matrix(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, k := len(ts), MatrixSample
	if !m.Sampled || m.SampleK != k || m.Seed != 7 || len(m.Probes) != 2*n*(k+1) || m.Failures != 0 {
		t.Fatalf("sampled %v k %d seed %d: %d probes, %d failures", m.Sampled, m.SampleK, m.Seed, len(m.Probes), m.Failures)
	}
	for a, actor := range ts {
		for s := range k + 1 {
			for o, op := range []Op{OpRead, OpWrite} {
				p := m.Probes[(a*(k+1)+s)*2+o]
				own := s == 0
				if p.Actor != actor.ID || p.Op != op || (p.Target == actor.ID) != own {
					t.Fatalf("actor %s target #%d %v: probe %s → %s %v", actor.ID, s, op, p.Actor, p.Target, p.Op)
				}
				if p.Store.Allowed != own || p.Local.Allowed != own || p.Store.Layer != LayerStore {
					t.Fatalf("%s → %s %v: store %v local %v", p.Actor, p.Target, op, p.Store.Allowed, p.Local.Allowed)
				}
			}
		}
	}
	again, err := r.Matrix(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Probes {
		if m.Probes[i].Target != again.Probes[i].Target {
			t.Fatalf("probe %d: target %s, then %s", i, m.Probes[i].Target, again.Probes[i].Target)
		}
	}
	if r.LiveAgents() != 0 {
		t.Fatal("matrix agents not released")
	}
}
