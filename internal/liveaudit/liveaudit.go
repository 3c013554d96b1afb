// Package liveaudit is a test helper: it reads a broker's audit trail and
// lists the credentials the trail shows as still live, so that tests can
// take the broker's word (not the client's) that nothing outlived a run.
//
// Per agent (SPIFFE ID) it folds: its current own token (the jti of
// token_issued, replaced by token_renewed's new_jti, with the lifetime
// token_issued gives), the jtis released (token_released) or revoked
// (token_revoked at level token), revocations of the agent or its task, and
// the delegated tokens it received (delegation_created names no jti: each is
// matched by a release of a jti that is not one of the agent's own).
// Chain-level revocation and the expiry of delegated tokens are not folded.
package liveaudit

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
)

// Live is LiveAt with no expiry: every unreleased token counts.
func Live(events []agentwrit.AuditEvent) []string { return LiveAt(events, time.Time{}) }

// LiveAt returns, sorted, one line per credential the trail shows as live at
// now (zero now: ignore expiry): "agent <SPIFFE ID>" for an agent whose
// current token was neither released, revoked nor expired, "delegated to
// <SPIFFE ID>" for each delegated token never released.
func LiveAt(events []agentwrit.AuditEvent, now time.Time) []string {
	type agent struct {
		task      string
		current   string
		exp       time.Time
		ttl       time.Duration
		own       map[string]bool
		dead      map[string]bool
		killed    bool // revoked at level agent or task
		delegated int
		foreign   int // releases of tokens that are not the agent's own
	}
	agents := map[string]*agent{}
	var order []string
	get := func(id string) *agent {
		a := agents[id]
		if a == nil {
			a = &agent{own: map[string]bool{}, dead: map[string]bool{}}
			agents[id] = a
			order = append(order, id)
		}
		return a
	}
	deadJTI := map[string]bool{}
	for _, e := range events {
		at, _ := time.Parse(time.RFC3339Nano, e.Timestamp)
		switch e.EventType {
		case "token_issued":
			a := get(e.AgentID)
			a.task = e.TaskID
			a.current = field(e.Detail, "jti=")
			a.own[a.current] = true
			if n, err := strconv.Atoi(field(e.Detail, "ttl=")); err == nil {
				a.ttl = time.Duration(n) * time.Second
			}
			a.exp = at.Add(a.ttl)
		case "token_renewed":
			a := get(e.AgentID)
			a.dead[a.current] = true
			a.current = field(e.Detail, "new_jti=")
			a.own[a.current] = true
			a.exp = at.Add(a.ttl)
		case "delegation_created":
			get(e.AgentID).delegated++
		case "token_released":
			a := get(e.AgentID)
			jti := field(e.Detail, "jti=")
			a.dead[jti] = true
			if !a.own[jti] {
				a.foreign++
			}
		case "token_revoked":
			level, target := field(e.Detail, "level="), field(e.Detail, "target=")
			switch level {
			case "token":
				deadJTI[target] = true
			case "agent":
				get(target).killed = true
			case "task":
				for _, a := range agents {
					if a.task == target {
						a.killed = true
					}
				}
			}
		}
	}
	var out []string
	for _, id := range order {
		a := agents[id]
		expired := !now.IsZero() && a.ttl > 0 && !now.Before(a.exp)
		if a.current != "" && !a.dead[a.current] && !deadJTI[a.current] && !a.killed && !expired {
			out = append(out, "agent "+id)
		}
		if !a.killed {
			for range a.delegated - a.foreign {
				out = append(out, "delegated to "+id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// field returns the value after key in detail, up to the next space, comma
// or bar.
func field(detail, key string) string {
	i := strings.Index(detail, key)
	if i < 0 {
		return ""
	}
	v := detail[i+len(key):]
	if j := strings.IndexAny(v, " ,|"); j >= 0 {
		v = v[:j]
	}
	return v
}
