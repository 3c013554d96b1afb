package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	g = r.liveAgentLocked(tr)
	tr.mu.Unlock()
	if g != nil {
		return g, false, nil
	}
	g, err = r.createAgent(ctx, tr.t, taskPrefix, role)
	if err != nil {
		return nil, false, err
	}
	r.emit(Event{Kind: EventAgentCreated, Agent: r.infoOf(g, false, false, 0),
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
	info := r.agentInfoLocked(tr)
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
	r.emit(Event{Kind: EventAgentCreated, Tenant: a.ID, Agent: r.infoOf(ga, false, false, 0),
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
		r.emit(Event{Kind: EventAgentCreated, Tenant: b.ID, Agent: r.infoOf(gb, false, false, 0),
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

// releaseTransient releases an agent obtained for one operation (a probe, a
// check): bounded, and even when ctx is cancelled.
func (r *Runner) releaseTransient(ctx context.Context, tenant string, g *agentwrit.Agent) {
	c := r.led.find(g)
	if c == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	r.release(rctx, c)
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
	res := MatrixResult{Probes: make([]ProbeResult, 2*n*n)}
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
	ctx, done := r.work(ctx)
	defer done()
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
		var ae *agentwrit.AuthenticationError
		if errors.As(err, &ae) {
			// The broker refused the token: it is dead (expired or revoked).
			tr.mu.Lock()
			if tr.agent == g && !tr.released && r.cfg.Now().Before(g.ExpiresAt()) {
				tr.revoked = true
			}
			tr.mu.Unlock()
			return fmt.Errorf("renew refused by the broker (%s): the token is already dead", ae.Detail)
		}
		return fmt.Errorf("renew %s agent: %w", tenantID, err)
	}
	if c := r.led.find(g); c != nil {
		r.led.renewed(c, g.JTI(), g.ExpiresAt())
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
	ctx, done := r.work(ctx)
	defer done()
	tr, _, err := r.agentOf(tenantID, "release")
	if err != nil {
		return err
	}
	return r.releaseAgent(ctx, tr)
}

// ReleaseAll releases every credential that may still be live (stage agents,
// probe and check agents, delegated tokens) without stopping the runner, and
// returns how many the broker released. Expired tokens are skipped; tokens
// the broker refuses as dead are not counted.
func (r *Runner) ReleaseAll(ctx context.Context) (int, error) {
	var errs []error
	n := 0
	for _, c := range r.led.pending(r.cfg.Now()) {
		ok, dead, err := r.release(ctx, c)
		switch {
		case ok:
			n++
		case err != nil && !dead:
			errs = append(errs, err)
		}
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
	ctx, done := r.work(ctx)
	defer done()
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

// Delegate has from's agent delegate scope to to's agent. Each side uses
// its tenant's live agent, or else a dedicated agent released afterwards. A
// refusal by the broker is a result, not an error. A delegated token is
// recorded in the ledger as soon as the broker answers and released once the
// result is in hand (DelegationResult.Released): a cross-tenant credential
// must not outlive its demonstration.
func (r *Runner) Delegate(ctx context.Context, from, to string, scopes []string) (DelegationResult, error) {
	ctx, done := r.work(ctx)
	defer done()
	if _, err := r.tenant(to); err != nil {
		return DelegationResult{}, err
	}
	gf, dedicated, err := r.actingAgent(ctx, from, "delegation", RoleDelegation)
	if err != nil {
		return DelegationResult{}, err
	}
	if dedicated {
		defer r.releaseTransient(ctx, from, gf)
	}
	gt, dedicated, err := r.actingAgent(ctx, to, "delegation", RoleDelegation)
	if err != nil {
		return DelegationResult{}, err
	}
	if dedicated {
		defer r.releaseTransient(ctx, to, gt)
	}
	res := DelegationResult{From: from, To: to, Scope: scopes}
	a := Access{Time: r.cfg.Now(), AgentID: gf.ID(), JTI: gf.JTI(), Actor: from, Target: to, Op: OpRead,
		Layer: LayerBroker, Required: scopes, Held: gf.Scope()}
	if err := r.led.begin(); err != nil {
		return res, err
	}
	// Like a registration, a delegation runs to its end once begun.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), registerTimeout)
	d, err := gf.Delegate(dctx, gt.ID(), scopes, 60)
	cancel()
	if err != nil {
		r.led.end(nil)
		var ae *agentwrit.AuthorizationError
		if !errors.As(err, &ae) {
			return res, fmt.Errorf("delegate %s → %s: %w", from, to, err)
		}
		res.Code, res.Reason = ae.Code, ae.Detail
		a.Code, a.Reason = ae.Code, "broker refused delegation: "+ae.Detail
		r.emit(Event{Kind: EventDecision, Tenant: from, Access: &a, Message: accessMessage(a)})
		return res, nil
	}
	exp := r.cfg.Now().Add(time.Duration(d.ExpiresIn) * time.Second)
	if e := d.Claims.ExpiresAt(); !e.IsZero() {
		exp = e
	}
	c := &credential{tenant: to, role: RoleDelegated, token: d.Token, id: gt.ID(), jti: d.Claims.JTI, exp: exp}
	r.led.end(c)
	res.Allowed, res.Token, res.Expires = true, d.ShortToken(), exp
	for _, rec := range d.Chain {
		res.Chain = append(res.Chain, ChainLink{Agent: rec.Agent, Scope: rec.Scope, DelegatedAt: rec.DelegatedAt})
	}
	a.Allowed, a.Reason = true, fmt.Sprintf("delegated %v to %s (chain depth %d)", scopes, gt.ID(), len(d.Chain))
	r.emit(Event{Kind: EventDecision, Tenant: from, Access: &a, Message: accessMessage(a)})
	r.emit(Event{Kind: EventDelegated, Tenant: from, Message: fmt.Sprintf("%s → %s: delegated %v, chain depth %d", from, to, scopes, len(d.Chain))})
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	if ok, _, err := r.release(rctx, c); ok {
		res.Released = true
	} else if err != nil {
		res.ReleaseErr = oneLine(err)
	}
	return res, nil
}

// CreateOverCeiling tries to create an agent for the tenant with
// read:billing:<tenant>, outside the app's ceiling: the broker must refuse.
func (r *Runner) CreateOverCeiling(ctx context.Context, tenantID string) (Access, error) {
	ctx, done := r.work(ctx)
	defer done()
	tr, err := r.tenant(tenantID)
	if err != nil {
		return Access{}, err
	}
	want := []string{"read:billing:" + tenantID}
	a := Access{Time: r.cfg.Now(), Actor: tenantID, Target: tenantID, Op: OpRead, Layer: LayerBroker, Required: want,
		Held: []string{"read:analytics:*", "write:reports:*"}}
	g, err := r.register(ctx, tr.t.ID, "over-ceiling", RoleOverCeiling, want)
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
	ctx, done := r.work(ctx)
	defer done()
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
