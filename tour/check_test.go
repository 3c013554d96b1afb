package tour

import (
	"strings"
	"testing"
	"time"

	"github.com/tenantui/tenantui/pipeline"
	"github.com/tenantui/tenantui/scope"
)

var t0 = time.Date(2026, 11, 26, 20, 15, 4, 0, time.UTC)

func mustLesson(t *testing.T, expect ...string) Lesson {
	t.Helper()
	l, err := Parse("c.md", []byte(lessonSrc(block("keys", "Enter"), block("expect", expect...))))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func states(agents map[string]*pipeline.AgentInfo) []pipeline.TenantState {
	var out []pipeline.TenantState
	for _, tn := range pipeline.DefaultTenants() {
		out = append(out, pipeline.TenantState{Tenant: tn, Agent: agents[tn.ID]})
	}
	return out
}

func access(actor, target string, op pipeline.Op, layer pipeline.Layer, allowed bool) pipeline.Event {
	req, held := []string{"read:analytics:" + target}, []string{"read:analytics:" + actor, "write:reports:" + actor}
	d := scope.Check(req, held)
	a := pipeline.Access{Actor: actor, Target: target, Op: op, Layer: layer, Allowed: allowed,
		Required: req, Held: held, Reason: d.Reason(), Decision: d}
	return pipeline.Event{Kind: pipeline.EventDecision, Tenant: actor, Access: &a}
}

func TestProgressAgentFromState(t *testing.T) {
	l := mustLesson(t, "agent hospital active", "agent bank expired", "agent retail none")
	p := NewProgress(l)
	active := &pipeline.AgentInfo{SPIFFEID: "spiffe://agentwrit.local/agent/x/etl/5f2c9a1e", State: pipeline.AgentActive, ExpiresAt: t0.Add(time.Minute)}
	bank := &pipeline.AgentInfo{SPIFFEID: "spiffe://x/b", State: pipeline.AgentActive, ExpiresAt: t0.Add(5 * time.Second)}
	rs := p.Check(states(map[string]*pipeline.AgentInfo{"hospital": active, "bank": bank}), t0)
	if !rs[0].Met || rs[0].Evidence != "hospital agent …/5f2c9a1e is active, until 20:16:04" {
		t.Errorf("hospital: %+v", rs[0])
	}
	if rs[1].Met || rs[1].Missing != "not yet: bank agent is expired (it is active)" {
		t.Errorf("bank before expiry: %+v", rs[1])
	}
	if !rs[2].Met || Done(rs) {
		t.Errorf("retail: %+v; done=%v", rs[2], Done(rs))
	}
	// The same snapshot, 5 s later: the bank's token has run out.
	rs = p.Check(states(map[string]*pipeline.AgentInfo{"hospital": active, "bank": bank}), t0.Add(5*time.Second))
	if !rs[1].Met || !strings.Contains(rs[1].Evidence, "is expired since 20:15:09") || !Done(rs) {
		t.Errorf("bank after expiry: %+v", rs[1])
	}
	// State conditions are not latched: a released agent is no longer active.
	rel := *active
	rel.State = pipeline.AgentReleased
	if rs := p.Check(states(map[string]*pipeline.AgentInfo{"hospital": &rel, "bank": bank}), t0); rs[0].Met {
		t.Errorf("released hospital agent counted as active")
	}
}

func TestProgressDecisions(t *testing.T) {
	l := mustLesson(t, "decision hospital bank read deny local", "decision hospital bank read deny store", "decision hospital bank read allow")
	p := NewProgress(l)
	p.Event(access("hospital", "retail", pipeline.OpRead, pipeline.LayerLocal, false)) // wrong target
	p.Event(access("hospital", "bank", pipeline.OpWrite, pipeline.LayerLocal, false))  // wrong op
	p.Event(access("bank", "hospital", pipeline.OpRead, pipeline.LayerLocal, false))   // wrong actor
	rs := p.Check(nil, t0)
	for _, r := range rs {
		if r.Met {
			t.Fatalf("%s met by an unrelated decision", r.Cond)
		}
	}
	p.Event(access("hospital", "bank", pipeline.OpRead, pipeline.LayerLocal, false))
	rs = p.Check(nil, t0)
	if !rs[0].Met || rs[1].Met {
		t.Fatalf("after a local deny: %+v", rs)
	}
	want := `DENY at the local: required read:analytics:bank, held read:analytics:hospital — identifier "bank" ≠ "hospital"`
	if rs[0].Evidence != want {
		t.Errorf("evidence %q, want %q", rs[0].Evidence, want)
	}
	own := access("hospital", "hospital", pipeline.OpRead, pipeline.LayerStore, true)
	if got, want := accessEvidence(*own.Access), "ALLOW at the store: read:analytics:hospital covered by read:analytics:hospital"; got != want {
		t.Errorf("allow evidence %q, want %q", got, want)
	}
	// A refusal that is not about scope (a dead token) says why instead.
	dead := pipeline.Access{Actor: "hospital", Target: "hospital", Op: pipeline.OpRead, Layer: pipeline.LayerStore,
		Required: []string{"read:analytics:hospital"}, Reason: "broker refused the token: token is revoked"}
	if got, want := accessEvidence(dead), "DENY at the store: required read:analytics:hospital — broker refused the token: token is revoked"; got != want {
		t.Errorf("dead-token evidence %q, want %q", got, want)
	}
	if !strings.Contains(rs[2].Missing, "the last one was DENY at the local") {
		t.Errorf("a deny is a near miss for an allow: %q", rs[2].Missing)
	}
	p.Event(access("hospital", "bank", pipeline.OpRead, pipeline.LayerStore, false))
	p.Event(access("hospital", "bank", pipeline.OpRead, pipeline.LayerStore, true)) // any layer
	if rs := p.Check(nil, t0); !Done(rs) {
		t.Errorf("not done: %+v", rs)
	}
}

func TestProgressStagesReportsResults(t *testing.T) {
	l := mustLesson(t, "stage hospital extract done", "stage bank extract failed", "report hospital", "isolation verified", "audit verified")
	p := NewProgress(l)
	p.Event(pipeline.Event{Kind: pipeline.EventStageFinished, Tenant: "hospital", Stage: pipeline.StageTransform})
	p.Event(pipeline.Event{Kind: pipeline.EventStageFinished, Tenant: "bank", Stage: pipeline.StageExtract})
	p.Event(pipeline.Event{Kind: pipeline.EventReportWritten, Tenant: "bank", Report: "reports/bank/latest.json"})
	p.Isolation(pipeline.IsolationResult{Passed: false, Checks: []pipeline.IsolationCheck{{Pass: true}, {Pass: false}}})
	p.Audit(pipeline.AuditResult{ChainOK: false, ChainMsg: "chain broken: event 3"})
	rs := p.Check(nil, t0)
	for _, r := range rs {
		if r.Met {
			t.Errorf("%s met too early: %s", r.Cond, r.Evidence)
		}
	}
	if !strings.Contains(rs[1].Missing, "(bank extract succeeded)") || !strings.Contains(rs[3].Missing, "the last check failed: 1 of 2") ||
		!strings.Contains(rs[4].Missing, "chain broken: event 3") {
		t.Errorf("near misses: %q / %q / %q", rs[1].Missing, rs[3].Missing, rs[4].Missing)
	}
	p.Event(pipeline.Event{Kind: pipeline.EventStageFinished, Tenant: "hospital", Stage: pipeline.StageExtract, Rows: 12847})
	p.Event(pipeline.Event{Kind: pipeline.EventError, Tenant: "bank", Stage: pipeline.StageExtract, Err: "token expired"})
	p.Event(pipeline.Event{Kind: pipeline.EventReportWritten, Tenant: "hospital", Report: "reports/hospital/latest.json"})
	p.Isolation(pipeline.IsolationResult{Passed: true, Checks: []pipeline.IsolationCheck{{Pass: true}, {Pass: true}}})
	p.Audit(pipeline.AuditResult{ChainOK: true, ChainMsg: "chain verified, 12 events"})
	rs = p.Check(nil, t0)
	want := []string{"hospital extract done: 12847 rows read", "bank extract failed: token expired",
		"report written to reports/hospital/latest.json", "isolation verified: 2 of 2 checks as expected", "chain verified, 12 events"}
	for i, r := range rs {
		if !r.Met || r.Evidence != want[i] {
			t.Errorf("%s: met=%v evidence %q, want %q", r.Cond, r.Met, r.Evidence, want[i])
		}
	}
	if !Done(rs) {
		t.Error("not done")
	}
	if _, ok := FirstUnmet(rs); ok {
		t.Error("FirstUnmet found one")
	}
}

func TestIsolationFailedCondition(t *testing.T) {
	p := NewProgress(mustLesson(t, "isolation failed"))
	p.Isolation(pipeline.IsolationResult{Passed: true})
	if Done(p.Check(nil, t0)) {
		t.Error("a verified isolation met 'isolation failed'")
	}
	p.Isolation(pipeline.IsolationResult{Passed: false})
	if !Done(p.Check(nil, t0)) {
		t.Error("a failed isolation did not meet 'isolation failed'")
	}
}
