package tour

import (
	"fmt"
	"strings"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// Progress checks one lesson's expectations against what really happened
// since the lesson started: the pipeline's events and results (fed with
// Event, Isolation and Audit) and the tenants' state (passed to Check).
// Conditions about events are met once and stay met; conditions about state
// (agent) are evaluated on each Check. It keeps one piece of evidence per
// condition, so memory stays flat however many events go by.
//
// A Progress is not safe for concurrent use.
type Progress struct {
	conds    []Cond
	evidence []string // per condition: how an event-kind condition was met ("" = not yet)
	failures []string // per condition: the latest near miss, for Missing
}

// NewProgress starts checking l's expectations.
func NewProgress(l Lesson) *Progress {
	return &Progress{conds: l.Expect, evidence: make([]string, len(l.Expect)), failures: make([]string, len(l.Expect))}
}

// Result is one condition's state.
type Result struct {
	Cond Cond
	Met  bool
	// Evidence says, when met, what really happened: the decision with the
	// scope required and held and the reason, the agent's SPIFFE ID…
	Evidence string
	// Missing says, when not met, what is still missing.
	Missing string
}

// Done reports whether every result is met.
func Done(rs []Result) bool {
	for _, r := range rs {
		if !r.Met {
			return false
		}
	}
	return len(rs) > 0
}

// FirstUnmet is the first unmet result, if any.
func FirstUnmet(rs []Result) (Result, bool) {
	for _, r := range rs {
		if !r.Met {
			return r, true
		}
	}
	return Result{}, false
}

// Event feeds one pipeline event.
func (p *Progress) Event(ev pipeline.Event) {
	for i, c := range p.conds {
		if p.evidence[i] != "" {
			continue
		}
		switch c.Kind {
		case CondStage:
			if ev.Tenant != c.Tenant || ev.Stage != c.Stage {
				continue
			}
			switch {
			case ev.Kind == pipeline.EventStageFinished && !c.Failed:
				p.evidence[i] = stageEvidence(ev)
			case ev.Kind == pipeline.EventError && c.Failed:
				p.evidence[i] = fmt.Sprintf("%s %s failed: %s", c.Tenant, c.Stage, ev.Err)
			case ev.Kind == pipeline.EventStageFinished:
				p.failures[i] = fmt.Sprintf("%s %s succeeded", c.Tenant, c.Stage)
			case ev.Kind == pipeline.EventError:
				p.failures[i] = fmt.Sprintf("%s %s failed: %s", c.Tenant, c.Stage, ev.Err)
			}
		case CondDecision:
			a := ev.Access
			if ev.Kind != pipeline.EventDecision || a == nil || a.Actor != c.Tenant || a.Target != c.Target || a.Op != c.Op {
				continue
			}
			if c.Layer != "" && a.Layer != c.Layer {
				continue
			}
			if a.Allowed == c.Allow {
				p.evidence[i] = accessEvidence(*a)
			} else {
				p.failures[i] = "the last one was " + accessEvidence(*a)
			}
		case CondReport:
			if ev.Kind == pipeline.EventReportWritten && ev.Tenant == c.Tenant {
				p.evidence[i] = "report written to " + ev.Report
			}
		}
	}
}

func stageEvidence(ev pipeline.Event) string {
	s := fmt.Sprintf("%s %s done", ev.Tenant, ev.Stage)
	switch ev.Stage {
	case pipeline.StageExtract:
		s += fmt.Sprintf(": %d rows read", ev.Rows)
	case pipeline.StageLoad:
		if ev.Report != "" {
			s += ": report " + ev.Report
		}
	case pipeline.StageCreate, pipeline.StageRelease:
		if ev.Agent != nil {
			s += ": " + ev.Agent.SPIFFEID
		}
	}
	return s
}

// accessEvidence is a decision with what explains it: the layer, and the
// scope required against the nearest scope held and which segment differs
// when the scope decided; otherwise the reason (e.g. why the broker refused
// the token).
func accessEvidence(a pipeline.Access) string {
	s := fmt.Sprintf("%s at the %s", a.Verdict(), a.Layer)
	for _, it := range a.Decision.Items {
		if it.OK() != a.Allowed || it.Held == "" {
			continue
		}
		if a.Allowed {
			return s + ": " + it.Required + " " + it.Detail // "… covered by read:analytics:*"
		}
		return s + fmt.Sprintf(": required %s, held %s — %s", it.Required, it.Held, strings.TrimSuffix(it.Detail, " in "+it.Held))
	}
	s += ": required " + strings.Join(a.Required, " ")
	if a.Reason != "" {
		s += " — " + a.Reason
	}
	return s
}

// Isolation feeds the result of an isolation check.
func (p *Progress) Isolation(res pipeline.IsolationResult) {
	passed := 0
	for _, c := range res.Checks {
		if c.Pass {
			passed++
		}
	}
	for i, c := range p.conds {
		if c.Kind != CondIsolation || p.evidence[i] != "" {
			continue
		}
		s := fmt.Sprintf("%d of %d checks as expected", passed, len(res.Checks))
		if res.Passed == c.Allow {
			p.evidence[i] = "isolation " + map[bool]string{true: "verified", false: "failed"}[res.Passed] + ": " + s
		} else {
			p.failures[i] = "the last check " + map[bool]string{true: "passed", false: "failed"}[res.Passed] + ": " + s
		}
	}
}

// Audit feeds the result of an audit listing.
func (p *Progress) Audit(res pipeline.AuditResult) {
	for i, c := range p.conds {
		if c.Kind != CondAudit || p.evidence[i] != "" {
			continue
		}
		if res.ChainOK {
			p.evidence[i] = res.ChainMsg
		} else {
			p.failures[i] = res.ChainMsg
		}
	}
}

// Check returns every condition's result, with the tenants' current states
// and the time (an active agent past its expiry is expired).
func (p *Progress) Check(states []pipeline.TenantState, now time.Time) []Result {
	out := make([]Result, len(p.conds))
	for i, c := range p.conds {
		r := Result{Cond: c}
		if c.Kind == CondAgent {
			r.Met, r.Evidence, r.Missing = agentResult(c, states, now)
		} else if p.evidence[i] != "" {
			r.Met, r.Evidence = true, p.evidence[i]
		} else {
			r.Missing = "not yet: " + c.Goal()
			if p.failures[i] != "" {
				r.Missing += " (" + p.failures[i] + ")"
			}
		}
		out[i] = r
	}
	return out
}

func agentResult(c Cond, states []pipeline.TenantState, now time.Time) (bool, string, string) {
	for _, s := range states {
		if s.Tenant.ID != c.Tenant {
			continue
		}
		st := pipeline.AgentNone
		if a := s.Agent; a != nil {
			st = a.State
			if st == pipeline.AgentActive && !now.Before(a.ExpiresAt) {
				st = pipeline.AgentExpired
			}
		}
		if st != c.State {
			return false, "", fmt.Sprintf("not yet: %s (it is %s)", c.Goal(), st)
		}
		if s.Agent == nil {
			return true, c.Tenant + " has no agent", ""
		}
		a := s.Agent
		ev := fmt.Sprintf("%s agent %s is %s", c.Tenant, shortSPIFFE(a.SPIFFEID), st)
		switch st {
		case pipeline.AgentActive:
			ev += ", until " + a.ExpiresAt.Format("15:04:05")
		case pipeline.AgentExpired:
			ev += " since " + a.ExpiresAt.Format("15:04:05")
		}
		return true, ev, ""
	}
	return false, "", fmt.Sprintf("not yet: %s (no such tenant)", c.Goal())
}

// shortSPIFFE keeps a SPIFFE ID's last segment, the agent's own id:
// "spiffe://…/agent/nightly-pipeline/etl-hospital-1/5f2c9a1e" → "…/5f2c9a1e".
func shortSPIFFE(id string) string {
	if i := strings.LastIndex(id, "/"); i >= 0 && i < len(id)-1 {
		return "…" + id[i:]
	}
	return id
}
