package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

// The lifecycle and operator actions on a tenant's agent: renew, release,
// revoke, delegation, the over-ceiling request and the audit trail. The
// cross-tenant probes, the isolation check and the matrix are in probes.go.

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
	info := tr.agentInfoLocked(r.cfg.Now())
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
	info := tr.agentInfoLocked(r.cfg.Now())
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
