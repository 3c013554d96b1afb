package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

// ensureAgent returns the tenant's live agent, creating a fresh one (which
// becomes the tenant's agent, at stage create) when there is none.
func (r *Runner) ensureAgent(ctx context.Context, tr *tenantRun) (*agentwrit.Agent, error) {
	tr.mu.Lock()
	info := r.agentInfoLocked(tr)
	g := tr.agent
	tr.mu.Unlock()
	if info != nil && info.State == AgentActive {
		return g, nil
	}
	tr.step.Lock()
	defer tr.step.Unlock()
	if err := r.stepToCreate(ctx, tr); err != nil {
		return nil, err
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.agent, nil
}

func (r *Runner) stepToCreate(ctx context.Context, tr *tenantRun) error {
	tr.mu.Lock()
	tr.stage = StageRelease // the next step starts over
	tr.mu.Unlock()
	return r.stepLocked(ctx, tr)
}

// Probe tries op on target's store with actor's live agent (created if the
// actor has none), through both layers: the local pre-check and the store.
func (r *Runner) Probe(ctx context.Context, actor, target string, op Op) (ProbeResult, error) {
	atr, err := r.tenant(actor)
	if err != nil {
		return ProbeResult{}, err
	}
	g, err := r.ensureAgent(ctx, atr)
	if err != nil {
		return ProbeResult{}, err
	}
	return r.probeWith(ctx, g, actor, target, op)
}

// ProbeReleased is Probe with the actor's current token whatever its state:
// it shows that a released, expired or revoked token is refused by the store
// even though the scope it claims would pass the local check.
func (r *Runner) ProbeReleased(ctx context.Context, actor, target string, op Op) (ProbeResult, error) {
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
	s, err := r.storeFor(ctx, ttr)
	if err != nil {
		return res, err
	}
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
	info := r.agentInfoLocked(tr)
	tr.mu.Unlock()
	if info != nil && info.State == AgentExpired {
		r.emit(Event{Kind: EventExpired, Tenant: actor, Agent: info, Message: fmt.Sprintf("%s: agent %s has expired", actor, info.SPIFFEID)})
	}
}

// IsolationCheck runs the sample's cross-tenant check with a fresh agent for
// the first tenant (the hospital): it cannot read the second tenant's data
// (the bank) nor write the third's reports (the retailer), and can read its
// own; plus the diagram's "bank agent cannot write hospital reports". The
// check's agents are released afterwards.
func (r *Runner) IsolationCheck(ctx context.Context) (IsolationResult, error) {
	if len(r.tenants) < 2 {
		return IsolationResult{}, errors.New("the isolation check needs at least two tenants")
	}
	a, b, c := r.tenants[0].t, r.tenants[1].t, r.tenants[2%len(r.tenants)].t
	ga, err := r.createAgent(ctx, a, "cross-tenant-test")
	if err != nil {
		return IsolationResult{}, err
	}
	defer r.releaseTransient(ctx, a.ID, ga)
	r.emit(Event{Kind: EventAgentCreated, Tenant: a.ID, Agent: r.infoOf(ga, false, false, 0),
		Message: fmt.Sprintf("isolation check: %s agent %s, scope %v", a.ID, ga.ID(), ga.Scope())})
	gb, err := r.createAgent(ctx, b, "cross-tenant-test")
	if err != nil {
		return IsolationResult{}, err
	}
	defer r.releaseTransient(ctx, b.ID, gb)
	r.emit(Event{Kind: EventAgentCreated, Tenant: b.ID, Agent: r.infoOf(gb, false, false, 0),
		Message: fmt.Sprintf("isolation check: %s agent %s, scope %v", b.ID, gb.ID(), gb.Scope())})

	specs := []struct {
		name   string
		g      *agentwrit.Agent
		actor  Tenant
		target Tenant
		op     Op
		expect bool
	}{
		{fmt.Sprintf("%s agent cannot read %s data", a.ID, b.ID), ga, a, b, OpRead, false},
		{fmt.Sprintf("%s agent cannot write %s reports", a.ID, c.ID), ga, a, c, OpWrite, false},
		{fmt.Sprintf("%s agent can read its own data", a.ID), ga, a, a, OpRead, true},
		{fmt.Sprintf("%s agent cannot write %s reports", b.ID, a.ID), gb, b, a, OpWrite, false},
	}
	res := IsolationResult{Passed: true}
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
	if !res.Passed {
		msg = "Cross-tenant isolation FAILED."
	}
	r.emit(Event{Kind: EventInfo, Message: msg})
	return res, nil
}

func (r *Runner) releaseTransient(ctx context.Context, tenant string, g *agentwrit.Agent) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := g.Release(rctx); err != nil {
		r.emit(Event{Kind: EventError, Tenant: tenant, Err: oneLine(err), Message: "release: " + oneLine(err)})
		return
	}
	r.emit(Event{Kind: EventReleased, Tenant: tenant, Agent: r.infoOf(g, true, false, 0),
		Message: fmt.Sprintf("%s: agent %s released", tenant, g.ID())})
}

// MaxMatrixTenants bounds the full matrix, which makes 2·n² store checks;
// beyond it the matrix is sampled (see sampledMatrix).
const MaxMatrixTenants = 64

// Matrix probes every actor × every target × read/write with one fresh agent
// per actor, released afterwards; beyond MaxMatrixTenants tenants, a seeded
// sample: each actor's own tenant and MatrixSample others.
func (r *Runner) Matrix(ctx context.Context) (MatrixResult, error) {
	n := len(r.tenants)
	if n > MaxMatrixTenants {
		return r.sampledMatrix(ctx, MatrixSample)
	}
	res := MatrixResult{Probes: make([]ProbeResult, 2*n*n)}
	for _, tr := range r.tenants {
		res.Tenants = append(res.Tenants, tr.t.ID)
	}
	var mu sync.Mutex
	err := r.forEach(ctx, r.tenants, func(ctx context.Context, atr *tenantRun) error {
		g, err := r.createAgent(ctx, atr.t, "matrix")
		if err != nil {
			return err
		}
		defer r.releaseTransient(ctx, atr.t.ID, g)
		ai := r.index[atr.t.ID]
		for ti, ttr := range r.tenants {
			for oi, op := range []Op{OpRead, OpWrite} {
				p, err := r.probeWith(ctx, g, atr.t.ID, ttr.t.ID, op)
				if err != nil {
					return err
				}
				mu.Lock()
				res.Probes[(ai*n+ti)*2+oi] = p
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Failures = matrixFailures(res.Probes)
	return res, nil
}

// Renew renews the tenant's agent: a new JTI and a fresh countdown under the
// same SPIFFE ID. It then shows that the old token is refused by the broker.
func (r *Runner) Renew(ctx context.Context, tenantID string) error {
	tr, g, err := r.agentOf(tenantID, "renew")
	if err != nil {
		return err
	}
	tr.mu.Lock()
	released := tr.released
	tr.mu.Unlock()
	if released {
		return fmt.Errorf("%s agent was released: a released token cannot be renewed", tenantID)
	}
	oldToken, oldJTI := g.Token(), g.JTI()
	if err := g.Renew(ctx); err != nil {
		return fmt.Errorf("renew %s agent: %w", tenantID, err)
	}
	tr.mu.Lock()
	tr.renewals++
	info := r.agentInfoLocked(tr)
	tr.mu.Unlock()
	r.emit(Event{Kind: EventRenewed, Tenant: tenantID, Agent: info,
		Message: fmt.Sprintf("%s: renewed, jti %s… → %s…", tenantID, short(oldJTI), short(g.JTI()))})
	// Prove the old token is dead: ask the broker, as any resource server would.
	v, err := r.cfg.App.Validate(ctx, oldToken)
	if err != nil {
		return err
	}
	a := Access{Time: r.cfg.Now(), AgentID: g.ID(), JTI: oldJTI, Actor: tenantID, Target: tenantID, Op: OpRead,
		Layer: LayerBroker, Allowed: v.Valid, Required: []string{tr.t.ReadScope}}
	if v.Valid {
		a.Reason = "old token still valid after renew"
	} else {
		a.Code, a.Reason = "token_invalid", fmt.Sprintf("old token jti %s… refused after renew: %s", short(oldJTI), v.Error)
	}
	r.emit(Event{Kind: EventDecision, Tenant: tenantID, Access: &a, Message: accessMessage(a)})
	return nil
}

func short(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// agentOf returns the tenant and its current agent, or an error saying the
// tenant has no agent to <verb>.
func (r *Runner) agentOf(tenantID, verb string) (*tenantRun, *agentwrit.Agent, error) {
	tr, err := r.tenant(tenantID)
	if err != nil {
		return nil, nil, err
	}
	tr.mu.Lock()
	g := tr.agent
	tr.mu.Unlock()
	if g == nil {
		return nil, nil, fmt.Errorf("%s has no agent to %s", tenantID, verb)
	}
	return tr, g, nil
}

// Release releases the tenant's agent now.
func (r *Runner) Release(ctx context.Context, tenantID string) error {
	tr, _, err := r.agentOf(tenantID, "release")
	if err != nil {
		return err
	}
	return r.releaseAgent(ctx, tr)
}

// ReleaseAll releases every active agent and returns how many it released.
func (r *Runner) ReleaseAll(ctx context.Context) (int, error) {
	var live []*tenantRun
	for _, tr := range r.tenants {
		tr.mu.Lock()
		// Expired and revoked tokens are dead already: the broker would
		// refuse to release them.
		if info := r.agentInfoLocked(tr); info != nil && info.State == AgentActive {
			live = append(live, tr)
		}
		tr.mu.Unlock()
	}
	var errs []error
	n := 0
	for _, tr := range live {
		if err := r.releaseAgent(ctx, tr); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// AdminAvailable says whether operator actions (revoke, audit) can be used,
// and if not, why.
func (r *Runner) AdminAvailable() (bool, string) {
	if r.cfg.Admin != nil {
		return true, ""
	}
	why := r.cfg.NoAdminWhy
	if why == "" {
		why = "no admin secret (set AGENTWRIT_ADMIN_SECRET)"
	}
	return false, why
}

// Revoke revokes at level (token, agent, task or chain) the tenant's agent's
// jti, SPIFFE ID, task id or SPIFFE ID as chain root, then asks the broker
// whether the agent's token still validates.
func (r *Runner) Revoke(ctx context.Context, tenantID, level string) error {
	if ok, why := r.AdminAvailable(); !ok {
		return errors.New("revoke unavailable: " + why)
	}
	tr, g, err := r.agentOf(tenantID, "revoke")
	if err != nil {
		return err
	}
	var target string
	switch agentwrit.RevokeLevel(level) {
	case agentwrit.RevokeToken:
		target = g.JTI()
	case agentwrit.RevokeAgent, agentwrit.RevokeChain:
		target = g.ID()
	case agentwrit.RevokeTask:
		target = g.TaskID()
	default:
		return fmt.Errorf("unknown revocation level %q (want token, agent, task or chain)", level)
	}
	if _, err := r.cfg.Admin.Revoke(ctx, agentwrit.RevokeLevel(level), target); err != nil {
		return fmt.Errorf("revoke %s at level %s: %w", tenantID, level, err)
	}
	v, err := r.cfg.App.Validate(ctx, g.Token())
	if err != nil {
		return err
	}
	tr.mu.Lock()
	if !v.Valid && !tr.released {
		tr.revoked = true
	}
	info := r.agentInfoLocked(tr)
	tr.mu.Unlock()
	msg := fmt.Sprintf("%s: revoked at level %s (target %s); agent token now %s", tenantID, level, target, map[bool]string{true: "still valid", false: "refused"}[v.Valid])
	if level == string(agentwrit.RevokeChain) && v.Valid {
		msg += " — chain revocation kills tokens delegated by this agent, not its own"
	}
	r.emit(Event{Kind: EventRevoked, Tenant: tenantID, Agent: info, Message: msg})
	return nil
}

// Delegate has from's agent delegate scope to to's agent (both created if
// needed). A refusal by the broker is a result, not an error.
func (r *Runner) Delegate(ctx context.Context, from, to string, scopes []string) (DelegationResult, error) {
	ftr, err := r.tenant(from)
	if err != nil {
		return DelegationResult{}, err
	}
	ttr, err := r.tenant(to)
	if err != nil {
		return DelegationResult{}, err
	}
	gf, err := r.ensureAgent(ctx, ftr)
	if err != nil {
		return DelegationResult{}, err
	}
	gt, err := r.ensureAgent(ctx, ttr)
	if err != nil {
		return DelegationResult{}, err
	}
	res := DelegationResult{From: from, To: to, Scope: scopes}
	a := Access{Time: r.cfg.Now(), AgentID: gf.ID(), JTI: gf.JTI(), Actor: from, Target: to, Op: OpRead,
		Layer: LayerBroker, Required: scopes, Held: gf.Scope()}
	d, err := gf.Delegate(ctx, gt.ID(), scopes, 60)
	if err != nil {
		var ae *agentwrit.AuthorizationError
		if !errors.As(err, &ae) {
			return res, fmt.Errorf("delegate %s → %s: %w", from, to, err)
		}
		res.Code, res.Reason = ae.Code, ae.Detail
		a.Code, a.Reason = ae.Code, "broker refused delegation: "+ae.Detail
		r.emit(Event{Kind: EventDecision, Tenant: from, Access: &a, Message: accessMessage(a)})
		return res, nil
	}
	res.Allowed, res.Token = true, d.ShortToken()
	res.Expires = r.cfg.Now().Add(time.Duration(d.ExpiresIn) * time.Second)
	for _, rec := range d.Chain {
		res.Chain = append(res.Chain, ChainLink{Agent: rec.Agent, Scope: rec.Scope, DelegatedAt: rec.DelegatedAt})
	}
	a.Allowed, a.Reason = true, fmt.Sprintf("delegated %v to %s (chain depth %d)", scopes, gt.ID(), len(d.Chain))
	r.emit(Event{Kind: EventDecision, Tenant: from, Access: &a, Message: accessMessage(a)})
	r.emit(Event{Kind: EventDelegated, Tenant: from, Message: fmt.Sprintf("%s → %s: delegated %v, chain depth %d", from, to, scopes, len(d.Chain))})
	return res, nil
}

// CreateOverCeiling tries to create an agent for the tenant with
// read:billing:<tenant>, outside the app's ceiling: the broker must refuse.
func (r *Runner) CreateOverCeiling(ctx context.Context, tenantID string) (Access, error) {
	tr, err := r.tenant(tenantID)
	if err != nil {
		return Access{}, err
	}
	want := []string{"read:billing:" + tenantID}
	a := Access{Time: r.cfg.Now(), Actor: tenantID, Target: tenantID, Op: OpRead, Layer: LayerBroker, Required: want,
		Held: []string{"read:analytics:*", "write:reports:*"}}
	g, err := r.cfg.App.CreateAgent(ctx, r.cfg.OrchID, r.taskID("over-ceiling", tr.t.ID), want, &agentwrit.AgentOptions{MaxTTL: r.cfg.TTL})
	if err != nil {
		var ae *agentwrit.AuthorizationError
		if !errors.As(err, &ae) {
			return a, fmt.Errorf("over-ceiling agent for %s: %w", tenantID, err)
		}
		a.Code, a.Reason = ae.Code, "broker refused: "+ae.Detail
	} else {
		a.Allowed, a.AgentID, a.Reason = true, g.ID(), "broker granted a scope outside the ceiling"
		r.releaseTransient(ctx, tenantID, g)
	}
	r.emit(Event{Kind: EventDecision, Tenant: tenantID, Access: &a, Message: accessMessage(a)})
	return a, nil
}

// Audit fetches the broker's whole audit trail, verifies its hash chain and
// returns the entries matching f.
func (r *Runner) Audit(ctx context.Context, f AuditFilter) (AuditResult, error) {
	if ok, why := r.AdminAvailable(); !ok {
		return AuditResult{}, errors.New("audit unavailable: " + why)
	}
	events, err := r.cfg.Admin.AllAuditEvents(ctx, agentwrit.AuditQuery{})
	if err != nil {
		return AuditResult{}, fmt.Errorf("audit: %w", err)
	}
	res := AuditResult{Total: len(events), ChainOK: true, ChainMsg: fmt.Sprintf("chain verified, %d events", len(events))}
	if err := agentwrit.VerifyChain(events); err != nil {
		res.ChainOK, res.ChainMsg = false, "chain broken: "+oneLine(err)
	}
	for _, e := range events {
		ent := r.auditEntry(e)
		if f.Tenant != "" && ent.Tenant != f.Tenant {
			continue
		}
		if f.AgentID != "" && ent.AgentID != f.AgentID {
			continue
		}
		if f.EventType != "" && ent.Type != f.EventType {
			continue
		}
		if !f.Since.IsZero() {
			if ts, err := time.Parse(time.RFC3339Nano, e.Timestamp); err == nil && ts.Before(f.Since) {
				continue
			}
		}
		res.Entries = append(res.Entries, ent)
	}
	return res, nil
}

func (r *Runner) auditEntry(e agentwrit.AuditEvent) AuditEntry {
	ent := AuditEntry{ID: e.ID, Timestamp: e.Timestamp, Type: e.EventType, AgentID: e.AgentID, TaskID: e.TaskID,
		Detail: e.Detail, Outcome: e.Outcome, Hash: e.Hash, PrevHash: e.PrevHash}
	r.taskMu.Lock()
	ent.Tenant = r.taskTenant[e.TaskID]
	if ent.Tenant == "" {
		ent.Tenant = r.idTenant[e.AgentID]
	}
	r.taskMu.Unlock()
	return ent
}
