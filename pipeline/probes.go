package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

// Probe tries op on target's store through both layers, the local
// pre-check and the store. It uses the actor's live agent if there is one
// and never touches the actor's stages; if the actor has none, it uses a
// dedicated probe agent (ProbeResult.Dedicated), released afterwards.
func (r *Runner) Probe(ctx context.Context, actor, target string, op Op) (ProbeResult, error) {
	ctx, done := r.work(ctx)
	defer done()
	g, dedicated, err := r.actingAgent(ctx, actor, "probe", RoleProbe)
	if err != nil {
		return ProbeResult{}, err
	}
	if dedicated {
		defer r.releaseTransient(ctx, actor, g)
	}
	res, err := r.probeWith(ctx, g, actor, target, op)
	res.Dedicated = dedicated
	return res, err
}

// actingAgent returns the tenant's live agent, or else a new dedicated agent
// (dedicated true) that the caller must release with releaseTransient.
func (r *Runner) actingAgent(ctx context.Context, tenantID, taskPrefix, role string) (g *agentwrit.Agent, dedicated bool, err error) {
	tr, err := r.tenant(tenantID)
	if err != nil {
		return nil, false, err
	}
	tr.mu.Lock()
	g = tr.liveAgentLocked(r.cfg.Now())
	tr.mu.Unlock()
	if g != nil {
		return g, false, nil
	}
	g, err = r.createAgent(ctx, tr.t, taskPrefix, role)
	if err != nil {
		return nil, false, err
	}
	r.emit(Event{Kind: EventAgentCreated, Agent: agentInfo(g, false, false, 0, r.cfg.Now()),
		Message: fmt.Sprintf("%s: dedicated %s agent %s (the tenant has no live agent), scope %v", tenantID, role, g.ID(), g.Scope())})
	return g, true, nil
}

// ProbeReleased is Probe with the actor's current token whatever its state:
// it shows that a released, expired or revoked token is refused by the store
// even though the scope it claims would pass the local check.
func (r *Runner) ProbeReleased(ctx context.Context, actor, target string, op Op) (ProbeResult, error) {
	ctx, done := r.work(ctx)
	defer done()
	_, g, err := r.agentOf(actor, "present (create one first)")
	if err != nil {
		return ProbeResult{}, err
	}
	return r.probeWith(ctx, g, actor, target, op)
}

func (r *Runner) probeWith(ctx context.Context, g *agentwrit.Agent, actor, target string, op Op) (ProbeResult, error) {
	ttr, err := r.tenant(target)
	if err != nil {
		return ProbeResult{}, err
	}
	res := ProbeResult{Actor: actor, Target: target, Op: op}
	res.Local = r.localCheck(g, actor, ttr.t, op)
	s, err := r.acquireStore(ctx, ttr)
	if err != nil {
		return res, err
	}
	defer r.releaseStore(ttr)
	var denied *DeniedError
	switch op {
	case OpRead:
		_, res.Store, err = s.Count(ctx, g.Token(), actor)
	case OpWrite:
		probe := map[string]string{"probe_by": g.ID(), "actor": actor, "at": r.cfg.Now().UTC().Format(time.RFC3339)}
		_, _, res.Store, err = s.WriteReport(ctx, g.Token(), actor, "probe.json", probe)
	}
	if err != nil && !errors.As(err, &denied) {
		return res, err
	}
	r.noteDeadToken(actor, res.Store)
	return res, nil
}

// noteDeadToken emits an expiry event when the store refused the tenant's
// token because it has expired.
func (r *Runner) noteDeadToken(actor string, a Access) {
	if a.Allowed || a.Code != "token_invalid" {
		return
	}
	tr, err := r.tenant(actor)
	if err != nil {
		return
	}
	tr.mu.Lock()
	info := tr.agentInfoLocked(r.cfg.Now())
	tr.mu.Unlock()
	if info != nil && info.State == AgentExpired {
		r.emit(Event{Kind: EventExpired, Tenant: actor, Agent: info, Message: fmt.Sprintf("%s: agent %s has expired", actor, info.SPIFFEID)})
	}
}

// IsolationCheck runs the sample's cross-tenant check with fresh agents for
// the first two tenants (the hospital and the bank): the first cannot read
// the second's data nor write the third's reports (the retailer; with two
// tenants, the second's), and can read its own; plus the diagram's "bank
// agent cannot write hospital reports". With one tenant only the own-read
// check applies (IsolationResult.Note says so). The check's agents are
// released afterwards.
func (r *Runner) IsolationCheck(ctx context.Context) (IsolationResult, error) {
	ctx, done := r.work(ctx)
	defer done()
	if len(r.tenants) == 0 {
		return IsolationResult{}, errors.New("the isolation check needs tenants")
	}
	a := r.tenants[0].t
	ga, err := r.createAgent(ctx, a, "cross-tenant-test", RoleIsolation)
	if err != nil {
		return IsolationResult{}, err
	}
	defer r.releaseTransient(ctx, a.ID, ga)
	r.emit(Event{Kind: EventAgentCreated, Tenant: a.ID, Agent: agentInfo(ga, false, false, 0, r.cfg.Now()),
		Message: fmt.Sprintf("isolation check: %s agent %s, scope %v", a.ID, ga.ID(), ga.Scope())})

	type spec struct {
		name   string
		g      *agentwrit.Agent
		actor  Tenant
		target Tenant
		op     Op
		expect bool
	}
	var specs []spec
	res := IsolationResult{Passed: true}
	switch n := len(r.tenants); {
	case n == 1:
		res.NotApplicable = true
		res.Note = fmt.Sprintf("isolation needs two tenants; the catalog has one (%s): only its own read is checked", a.ID)
		specs = []spec{{fmt.Sprintf("%s agent can read its own data", a.ID), ga, a, a, OpRead, true}}
	default:
		b := r.tenants[1].t
		c := b
		if n >= 3 {
			c = r.tenants[2].t
		} else {
			res.Note = fmt.Sprintf("two tenants: the write check targets %s, as there is no third tenant", b.ID)
		}
		gb, err := r.createAgent(ctx, b, "cross-tenant-test", RoleIsolation)
		if err != nil {
			return IsolationResult{}, err
		}
		defer r.releaseTransient(ctx, b.ID, gb)
		r.emit(Event{Kind: EventAgentCreated, Tenant: b.ID, Agent: agentInfo(gb, false, false, 0, r.cfg.Now()),
			Message: fmt.Sprintf("isolation check: %s agent %s, scope %v", b.ID, gb.ID(), gb.Scope())})
		specs = []spec{
			{fmt.Sprintf("%s agent cannot read %s data", a.ID, b.ID), ga, a, b, OpRead, false},
			{fmt.Sprintf("%s agent cannot write %s reports", a.ID, c.ID), ga, a, c, OpWrite, false},
			{fmt.Sprintf("%s agent can read its own data", a.ID), ga, a, a, OpRead, true},
			{fmt.Sprintf("%s agent cannot write %s reports", b.ID, a.ID), gb, b, a, OpWrite, false},
		}
	}
	for _, s := range specs {
		p, err := r.probeWith(ctx, s.g, s.actor.ID, s.target.ID, s.op)
		if err != nil {
			return res, err
		}
		ok := p.Local.Allowed == s.expect && p.Store.Allowed == s.expect
		res.Checks = append(res.Checks, IsolationCheck{Name: s.name, Expect: s.expect, Probe: p, Pass: ok})
		res.Passed = res.Passed && ok
	}
	msg := "Cross-tenant isolation verified."
	switch {
	case !res.Passed:
		msg = "Cross-tenant isolation FAILED."
	case res.NotApplicable:
		msg = "Cross-tenant isolation not checked: " + res.Note + "."
	}
	r.emit(Event{Kind: EventInfo, Message: msg})
	return res, nil
}

// MaxMatrixTenants bounds the full matrix, which makes 2·n² store checks;
// beyond it the matrix is sampled (see sampledMatrix).
const MaxMatrixTenants = 64

// Matrix probes every actor × every target × read/write with one fresh agent
// per actor, released afterwards; beyond MaxMatrixTenants tenants, a seeded
// sample: each actor's own tenant and MatrixSample others.
func (r *Runner) Matrix(ctx context.Context) (MatrixResult, error) {
	ctx, done := r.work(ctx)
	defer done()
	n := len(r.tenants)
	if n > MaxMatrixTenants {
		return r.sampledMatrix(ctx, MatrixSample)
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	res := MatrixResult{Probes: make([]ProbeResult, 2*n*n)}
	err := r.probeMatrix(ctx, &res, n, func(int, string) []int { return all }, false)
	return res, err
}
