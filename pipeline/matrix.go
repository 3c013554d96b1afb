package pipeline

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"sync"
)

// MatrixSample is how many other tenants each actor probes in a sampled
// matrix (besides its own).
const MatrixSample = 3

// MatrixTargets returns the tenants (by index) actor i of n probes in a
// sampled matrix: i itself first, then k others, distinct, drawn from a
// generator seeded by seed and the actor's id. The same catalog and seed
// always give the same sample.
func MatrixTargets(i, n, k int, actorID string, seed int64) []int {
	k = min(k, n-1)
	out := make([]int, 0, k+1)
	out = append(out, i)
	h := fnv.New64a()
	h.Write([]byte(actorID))
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	seen := map[int]bool{i: true}
	if k > (n-1)/2 {
		// Dense: a shuffle of the others, cut to k.
		others := make([]int, 0, n-1)
		for j := range n {
			if j != i {
				others = append(others, j)
			}
		}
		rng.Shuffle(len(others), func(a, b int) { others[a], others[b] = others[b], others[a] })
		return append(out, others[:k]...)
	}
	for len(out) < k+1 {
		if j := rng.IntN(n); !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	return out
}

// sampledMatrix probes, for every actor, its own tenant and MatrixSample
// others (seeded by the run's seed), read and write, with one fresh agent
// per actor, released afterwards. The full matrix makes 2·n² probes: a
// million at a thousand tenants. This makes 2·n·(k+1) and still tries every
// tenant's own access, which must be allowed, and k refusals per actor.
func (r *Runner) sampledMatrix(ctx context.Context, k int) (MatrixResult, error) {
	n := len(r.tenants)
	k = min(k, n-1)
	res := MatrixResult{Sampled: true, SampleK: k, Seed: r.cfg.Seed, Probes: make([]ProbeResult, 2*n*(k+1))}
	// Report directories of allowed own writes are synced in batches.
	defer r.dirs.hold()()
	err := r.probeMatrix(ctx, &res, k+1, func(ai int, id string) []int {
		return MatrixTargets(ai, n, k, id, r.cfg.Seed)
	}, true)
	return res, err
}

// probeMatrix probes, for every actor, read and write on each of
// targets(actor index, actor id) (per actors' targets, in order) with one
// fresh agent per actor, released afterwards, into res.Probes (actor-major,
// then target, then read before write), and counts the failures. With
// retire, each store closes once its probes are done (memory stays flat on
// large catalogs, as in run-all).
func (r *Runner) probeMatrix(ctx context.Context, res *MatrixResult, per int, targets func(int, string) []int, retire bool) error {
	for _, tr := range r.tenants {
		res.Tenants = append(res.Tenants, tr.t.ID)
	}
	var mu sync.Mutex
	err := r.forEach(ctx, r.tenants, func(ctx context.Context, atr *tenantRun) error {
		g, err := r.createAgent(ctx, atr.t, "matrix", RoleMatrix)
		if err != nil {
			return err
		}
		defer r.releaseTransient(ctx, atr.t.ID, g)
		ai := r.index[atr.t.ID]
		for s, ti := range targets(ai, atr.t.ID) {
			for oi, op := range []Op{OpRead, OpWrite} {
				p, err := r.probeWith(ctx, g, atr.t.ID, r.tenants[ti].t.ID, op)
				if err != nil {
					return err
				}
				if retire {
					r.retireStore(r.tenants[ti])
				}
				mu.Lock()
				res.Probes[(ai*per+s)*2+oi] = p
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.Failures = matrixFailures(res.Probes)
	return nil
}

// matrixFailures counts probes decided otherwise than "allowed exactly when
// actor == target", in either layer.
func matrixFailures(ps []ProbeResult) int {
	n := 0
	for _, p := range ps {
		want := p.Actor == p.Target
		if p.Store.Allowed != want || p.Local.Allowed != want {
			n++
		}
	}
	return n
}
