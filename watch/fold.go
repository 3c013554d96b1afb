package watch

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tenantui/tenantui/agentwrit"
	"github.com/tenantui/tenantui/scope"
)

// Audit event types the stories are built from (§8).
const (
	evAgentRegistered  = "agent_registered"
	evTokenIssued      = "token_issued"
	evTokenRenewed     = "token_renewed"
	evTokenReleased    = "token_released"
	evTokenRevoked     = "token_revoked"
	evDelegation       = "delegation_created"
	evDelegationDenied = "delegation_attenuation_violation"
)

// ByOperator is Revocation.By: only the operator's token may revoke (§5).
const ByOperator = "operator"

// Book folds audit events, oldest first, into agent stories. It is not safe
// for concurrent use; [Watcher] owns one and hands out copies.
type Book struct {
	agents map[string]*Agent // by SPIFFE ID
	order  []string          // SPIFFE IDs in order of first appearance
	byJTI  map[string]string // current jti → SPIFFE ID
	rules  []Revocation      // every revocation seen: they also reach later tokens (§7)
	events int
	dirty  map[string]bool // agents changed since the last TakeDirty
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{agents: map[string]*Agent{}, byJTI: map[string]string{}, dirty: map[string]bool{}}
}

// Events is the number of events applied.
func (b *Book) Events() int { return b.events }

// Len is the number of agents.
func (b *Book) Len() int { return len(b.order) }

// Agent returns a copy of the agent's story.
func (b *Book) Agent(id string) (Agent, bool) {
	a, ok := b.agents[id]
	if !ok {
		return Agent{}, false
	}
	return a.snapshot(), true
}

// Agents returns a copy of every story, in order of first appearance.
func (b *Book) Agents() []Agent {
	out := make([]Agent, 0, len(b.order))
	for _, id := range b.order {
		out = append(out, b.agents[id].snapshot())
	}
	return out
}

// TakeDirty returns copies of the agents changed since the last call.
func (b *Book) TakeDirty() []Agent {
	if len(b.dirty) == 0 {
		return nil
	}
	out := make([]Agent, 0, len(b.dirty))
	for id := range b.dirty {
		out = append(out, b.agents[id].snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	clear(b.dirty)
	return out
}

// snapshot copies a with its slices clipped, so the book's later appends
// never write into memory the copy can see.
func (a *Agent) snapshot() Agent {
	c := *a
	c.Scope = clip(a.Scope)
	c.Received = clip(a.Received)
	c.Given = clip(a.Given)
	c.Events = clip(a.Events)
	return c
}

func clip[T any](s []T) []T { return s[:len(s):len(s)] }

// Apply folds events (oldest first, following those already applied) into
// the stories and returns the changes they make, in order.
func (b *Book) Apply(events []agentwrit.AuditEvent) []Change {
	var out []Change
	for i := range events {
		out = b.apply(&events[i], out)
	}
	return out
}

// Tick returns an "expired" change for each agent whose token expired by
// now since it was last reported active.
func (b *Book) Tick(now time.Time) []Change {
	var out []Change
	for _, id := range b.order {
		a := b.agents[id]
		if a.reported == StateActive && a.StateAt(now) == StateExpired {
			a.reported = StateExpired
			b.dirty[id] = true
			out = append(out, a.change(a.expiredAt(), "expired", StateExpired, ""))
		}
	}
	return out
}

func (b *Book) agent(id string, e *agentwrit.AuditEvent) *Agent {
	a, ok := b.agents[id]
	if !ok {
		a = &Agent{ID: id, Orch: e.OrchID, Task: e.TaskID}
		a.Tenant = tenantOf(nil, a.Task)
		b.agents[id] = a
		b.order = append(b.order, id)
	}
	if a.Orch == "" {
		a.Orch = e.OrchID
	}
	if a.Task == "" && e.TaskID != "" {
		a.Task = e.TaskID
		a.Tenant = tenantOf(a.Scope, a.Task)
	}
	b.dirty[id] = true
	return a
}

func (b *Book) apply(e *agentwrit.AuditEvent, out []Change) []Change {
	b.events++
	at := eventTime(e)
	switch e.EventType {
	case evAgentRegistered:
		a := b.agent(e.AgentID, e)
		a.Events = append(a.Events, *e)
		if sc, ok := bracketList(e.Detail, "scope "); ok {
			a.Scope = sc
			a.Tenant = tenantOf(sc, a.Task)
		}
		a.AppID = field(e.Detail, "app_id=")
	case evTokenIssued:
		a := b.agent(e.AgentID, e)
		a.Events = append(a.Events, *e)
		ttl, _ := strconv.Atoi(field(e.Detail, "ttl="))
		b.issue(a, field(e.Detail, "jti="), at, time.Duration(ttl)*time.Second)
		b.reach(a, at)
		return b.report(a, at, "registered", e.ID, out)
	case evTokenRenewed:
		a := b.agent(e.AgentID, e)
		a.Events = append(a.Events, *e)
		b.issue(a, field(e.Detail, "new_jti="), at, a.TTL)
		a.Renewals++
		b.reach(a, at)
		st := a.StateAt(at)
		a.reported = st
		return append(out, a.change(at, "renewed", st, e.ID))
	case evTokenReleased:
		a, ok := b.agents[e.AgentID]
		if !ok {
			return out
		}
		b.dirty[a.ID] = true
		a.Events = append(a.Events, *e)
		if jti := field(e.Detail, "jti="); jti != "" && jti == a.JTI && a.ReleasedAt.IsZero() {
			a.ReleasedAt = at
		}
		return b.report(a, at, "released", e.ID, out)
	case evTokenRevoked:
		r := Revocation{Level: field(e.Detail, "level="), Target: after(e.Detail, " target="), By: ByOperator, At: at, EventID: e.ID}
		if r.Target == "" {
			r.Target = e.AgentID
		}
		b.rules = append(b.rules, r)
		return b.revoke(r, e, out)
	case evDelegation:
		a := b.agent(e.AgentID, e)
		d := Delegation{To: e.AgentID, Task: e.TaskID, Depth: e.DelegDepth, ChainHash: e.DelegChainHash, At: at, EventID: e.ID}
		if from, to, ok := strings.Cut(strings.TrimPrefix(e.Detail, "delegation from "), " to "); ok {
			d.From = from
			if sp := strings.IndexByte(to, ' '); sp >= 0 {
				to = to[:sp]
			}
			if d.To == "" {
				d.To = to
			}
		}
		d.Scope, _ = bracketList(e.Detail, "scope=")
		d.Chain = b.chainOf(d.From, d.Depth)
		for _, r := range b.rules {
			if delegationReached(r, d) {
				d.Revoked = &r
				break
			}
		}
		a.Events = append(a.Events, *e)
		a.Received = append(a.Received, d)
		if from, ok := b.agents[d.From]; ok {
			b.dirty[from.ID] = true
			from.Given = append(from.Given, d)
			from.Events = append(from.Events, *e)
		}
		c := a.change(at, "delegated", a.StateAt(at), e.ID)
		c.From, c.Scope, c.JTI = d.From, d.Scope, ""
		return append(out, c)
	case evDelegationDenied:
		if a, ok := b.agents[e.AgentID]; ok {
			b.dirty[a.ID] = true
			a.Events = append(a.Events, *e)
		}
	default:
		// Failures on a known agent (token_auth_failed, scope_violation,
		// token_renewal_failed) belong to its story; events about admins,
		// apps and launch tokens do not name an agent.
		if a, ok := b.agents[e.AgentID]; ok && e.AgentID != "" {
			b.dirty[a.ID] = true
			a.Events = append(a.Events, *e)
		}
	}
	return out
}

// issue gives a a new current token.
func (b *Book) issue(a *Agent, jti string, at time.Time, ttl time.Duration) {
	if a.JTI != "" {
		delete(b.byJTI, a.JTI)
	}
	a.JTI, a.Issued, a.TTL = jti, at, ttl
	// The JWT's iat is the issue time in whole seconds and exp = iat + ttl (§3).
	a.Expires = at.Truncate(time.Second).Add(ttl)
	if jti != "" {
		b.byJTI[jti] = a.ID
	}
}

// reach applies the earlier rules that also hit a's new token: agent and
// task rules match every later token (§7); a token rule cannot, jtis are new.
func (b *Book) reach(a *Agent, at time.Time) {
	for _, r := range b.rules {
		if (r.Level == string(agentwrit.RevokeAgent) && r.Target == a.ID) ||
			(r.Level == string(agentwrit.RevokeTask) && a.Task != "" && r.Target == a.Task) {
			rr := r
			rr.At = at // the token was dead on arrival
			a.Revoked = &rr
			return
		}
	}
}

// revoke applies a new rule to every story it reaches (§7).
func (b *Book) revoke(r Revocation, e *agentwrit.AuditEvent, out []Change) []Change {
	hit := func(a *Agent) {
		b.dirty[a.ID] = true
		a.Events = append(a.Events, *e)
	}
	var own []*Agent
	switch agentwrit.RevokeLevel(r.Level) {
	case agentwrit.RevokeToken:
		if id, ok := b.byJTI[r.Target]; ok {
			own = append(own, b.agents[id])
		}
	case agentwrit.RevokeAgent:
		if a, ok := b.agents[r.Target]; ok {
			own = append(own, a)
		}
	case agentwrit.RevokeTask:
		for _, id := range b.order {
			if a := b.agents[id]; a.Task != "" && a.Task == r.Target {
				own = append(own, a)
			}
		}
	}
	// Delegated tokens are reached by agent, task and chain rules.
	for _, id := range b.order {
		a := b.agents[id]
		touched := false
		for i := range a.Received {
			d := &a.Received[i]
			if d.Revoked == nil && delegationReached(r, *d) {
				rr := r
				d.Revoked = &rr
				touched = true
			}
		}
		if touched && !contains(own, a) {
			hit(a)
		}
	}
	for _, a := range own {
		hit(a)
		if a.Revoked == nil && a.JTI != "" {
			rr := r
			a.Revoked = &rr
		}
		out = b.report(a, r.At, "revoked", r.EventID, out)
	}
	return out
}

func contains(as []*Agent, a *Agent) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// delegationReached: does rule r match the token delegated in d (§7)?
func delegationReached(r Revocation, d Delegation) bool {
	switch agentwrit.RevokeLevel(r.Level) {
	case agentwrit.RevokeAgent:
		return r.Target == d.To
	case agentwrit.RevokeTask:
		return d.Task != "" && r.Target == d.Task
	case agentwrit.RevokeChain:
		return len(d.Chain) > 0 && d.Chain[0] == r.Target
	}
	return false
}

// chainOf rebuilds the chain of a delegation made by from at depth: the
// chain of the token from used (the latest it received at depth-1), then from.
func (b *Book) chainOf(from string, depth int) []string {
	if depth <= 1 {
		return []string{from}
	}
	if a, ok := b.agents[from]; ok {
		for i := len(a.Received) - 1; i >= 0; i-- {
			if d := a.Received[i]; d.Depth == depth-1 {
				return append(append([]string(nil), d.Chain...), from)
			}
		}
	}
	chain := make([]string, 0, depth)
	for range depth - 1 {
		chain = append(chain, "?")
	}
	return append(chain, from)
}

// report appends a change when a's state at `at` differs from the one last
// announced; kind names the cause when the state is the one it implies.
func (b *Book) report(a *Agent, at time.Time, kind, eventID string, out []Change) []Change {
	st := a.StateAt(at)
	if st == a.reported {
		return out
	}
	a.reported = st
	switch st {
	case StateActive:
		kind = "registered"
	case StateReleased, StateRevoked, StateExpired:
		kind = st.String()
	}
	when := at
	if st == StateExpired {
		when, eventID = a.expiredAt(), ""
	}
	return append(out, a.change(when, kind, st, eventID))
}

func (a *Agent) change(at time.Time, kind string, st State, eventID string) Change {
	c := Change{At: at, Kind: kind, State: st, Agent: a.ID, Tenant: a.Tenant, Orch: a.Orch, Task: a.Task,
		Scope: clip(a.Scope), JTI: a.JTI, Expires: a.Expires, EventID: eventID}
	if st == StateRevoked {
		c.Revocation = a.Revoked
	}
	return c
}

// eventTime parses an audit timestamp (UTC RFC 3339 with up to 9 fractional
// digits, §8); an unparseable one counts as the zero time.
func eventTime(e *agentwrit.AuditEvent) time.Time {
	t, err := time.Parse(time.RFC3339Nano, e.Timestamp)
	if err != nil {
		return time.Time{}
	}
	return t
}

// tenantOf is the identifier shared by every scope (read:analytics:bank and
// write:reports:bank → "bank"), else the task id.
func tenantOf(scopes []string, task string) string {
	id := ""
	for _, s := range scopes {
		p, err := scope.Parse(s)
		if err != nil || p.Identifier == scope.Wildcard || (id != "" && p.Identifier != id) {
			id = ""
			break
		}
		id = p.Identifier
	}
	switch {
	case id != "":
		return id
	case task != "":
		return task
	}
	return "(no task)"
}

// field returns the value after key in a detail string, up to the next
// space, comma or '|': field("Token issued, jti=ab, ttl=300", "jti=") is "ab".
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

// after returns everything after key.
func after(detail, key string) string {
	i := strings.Index(detail, key)
	if i < 0 {
		return ""
	}
	return detail[i+len(key):]
}

// bracketList parses the space-separated list in brackets after key:
// "scope [a b]" → [a b] (§8 lists are bracketed and space-separated).
func bracketList(detail, key string) ([]string, bool) {
	i := strings.Index(detail, key+"[")
	if i < 0 {
		return nil, false
	}
	rest := detail[i+len(key)+1:]
	j := strings.IndexByte(rest, ']')
	if j < 0 {
		return nil, false
	}
	return strings.Fields(rest[:j]), true
}

// DecodeTrail reads audit events saved as a JSON array, oldest first (the
// recorded trails under testdata are in this form).
func DecodeTrail(data []byte) ([]agentwrit.AuditEvent, error) {
	var evs []agentwrit.AuditEvent
	if err := json.Unmarshal(data, &evs); err != nil {
		return nil, fmt.Errorf("watch: decode trail: %w", err)
	}
	return evs, nil
}
