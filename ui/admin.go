package ui

import (
	"fmt"
	"strings"

	"github.com/tenantui/tenantui/pipeline"
)

// Issue-5 panes: the revoke menu, the delegation demo and the over-ceiling
// attempt. The audit screen is in audit.go.

// revokeLevels are the broker's revocation levels, widest last.
var revokeLevels = []string{"token", "agent", "task", "chain"}

// revokeMenu picks a revocation level for the selected tenant's agent.
type revokeMenu struct {
	tenant int
	sel    int
}

func (r *revokeMenu) move(d int) {
	n := len(revokeLevels)
	r.sel = ((r.sel+d)%n + n) % n
}

func (r revokeMenu) lines(st Styles, s *pipeline.TenantState, admin adminState, km KeyMap, inner int) []string {
	if !admin.ok {
		why := admin.why
		if !admin.known {
			why = "asking the controller…"
		}
		return append([]string{st.Warn.Render("revoke unavailable")},
			append(wrapStyled(st.Muted, why, inner), "", hints(st, km.Cancel))...)
	}
	a := s.Agent
	if a == nil {
		return []string{st.Muted.Render(s.Tenant.ID + " has no agent to revoke"), "", hints(st, km.Cancel)}
	}
	descs := map[string]string{
		"token": "this token only: jti " + a.ShortJTI() + "…",
		"agent": "every token of " + truncMiddle(a.SPIFFEID, max(inner-32, 16)) + ", incl. delegated",
		"task":  "every token for task " + truncMiddle(a.TaskID, max(inner-32, 12)),
		"chain": "tokens delegated down from this agent (not its own)",
	}
	out := make([]string, 0, 7)
	for k, lv := range revokeLevels {
		mark, name := "  ", st.Value.Render(pad(lv, 7))
		if k == r.sel {
			mark, name = st.Cursor.Render("▸ "), st.MenuCurrent.Render(pad(lv, 7))
		}
		out = append(out, mark+name+st.Muted.Render(descs[lv]))
	}
	out = append(out, "", hints(st, km.MenuDown, km.Choose, km.Cancel))
	return out
}

// adminRejectedText is the status when the broker refused the admin secret
// at start (BrokerInfo.AdminRejected).
const adminRejectedText = "admin secret rejected: revoke and audit disabled"

// adminState is Controller.AdminAvailable, asked once at start.
type adminState struct {
	known, ok bool
	why       string
}

// delegationState is the last delegation demo.
type delegationState struct {
	from, to string
	pending  bool
	results  []pipeline.DelegationResult
	err      string
}

func (d delegationState) lines(st Styles, spin string, inner int) []string {
	if d.pending {
		return []string{spin + " " + d.from + " agent delegating to " + d.to + " agent…"}
	}
	var out []string
	for k, r := range d.results {
		n := fmt.Sprintf("%d. ", k+1)
		sc := strings.Join(r.Scope, " ")
		if !r.Allowed {
			code := r.Code
			if code == "" {
				code = "refused"
			}
			out = append(out, n+verdict(st, false)+"  "+st.Value.Render(sc)+st.Muted.Render("  layer broker · "+code))
			out = append(out, wrapIndent(st, "   ", r.Reason, inner)...)
			continue
		}
		exp := ""
		if !r.Expires.IsZero() {
			exp = "  expires " + hms(r.Expires)
		}
		out = append(out, n+verdict(st, true)+" "+st.Value.Render(sc)+st.Muted.Render("  delegated token "+r.Token+exp))
		out = append(out, "   "+st.Label.Render("chain ")+chainText(st, r.Chain, d.to, sc, inner-9))
		switch {
		case r.Released:
			out = append(out, "   "+st.Muted.Render("delegated token released once shown: it cannot outlive the demo"))
		case r.ReleaseErr != "":
			out = append(out, wrapIndent(st, "   ", "delegated token NOT released ("+r.ReleaseErr+"): it stays listed as live and is released on quit", inner)...)
		}
	}
	if d.err != "" {
		out = append(out, st.Error.Render("ERROR"))
		out = append(out, wrapStyled(st.Error, d.err, inner)...)
	}
	if len(d.results) == 2 && !d.results[0].Allowed && d.results[1].Allowed {
		out = append(out, "", st.Pass.Render("Scopes only narrow:")+st.Muted.Render(" an agent cannot hand out what it does not hold."))
	}
	return out
}

// chainText shows a delegation chain: each delegator with the scope it held,
// then the delegate with the scope it received.
func chainText(st Styles, chain []pipeline.ChainLink, to, scope string, w int) string {
	if len(chain) == 0 {
		return st.Muted.Render("(none returned)")
	}
	var parts []string
	for _, l := range chain {
		parts = append(parts, shortAgent(l.Agent)+" ["+strings.Join(l.Scope, " ")+"]")
	}
	parts = append(parts, to+" agent ["+scope+"]")
	return st.Value.Render(ansiTrunc(strings.Join(parts, " → "), w))
}

// shortAgent shortens a SPIFFE ID to its task and instance segments.
func shortAgent(id string) string {
	segs := strings.Split(id, "/")
	if len(segs) >= 2 {
		return "…/" + segs[len(segs)-2] + "/" + segs[len(segs)-1]
	}
	return id
}

func wrapIndent(st Styles, indent, s string, inner int) []string {
	var out []string
	for _, l := range wrap(s, inner-len(indent)) {
		out = append(out, indent+st.Muted.Render(l))
	}
	return out
}

// overCeilingState is the last over-ceiling creation attempt.
type overCeilingState struct {
	tenant  string
	pending bool
	access  pipeline.Access
	err     string
}

func (o overCeilingState) lines(st Styles, spin string, inner int) []string {
	switch {
	case o.pending:
		return []string{spin + " asking the broker for an agent with read:billing:" + o.tenant + "…"}
	case o.err != "":
		return append([]string{st.Error.Render("ERROR")}, wrapStyled(st.Error, o.err, inner)...)
	}
	a := o.access
	code := a.Code
	if !a.Allowed && code != "" {
		code = "403 " + code
	}
	lbl := func(s string) string { return st.Label.Render(pad(s, 11)) }
	out := []string{
		verdict(st, a.Allowed) + st.Muted.Render("  layer "+string(a.Layer)+"  "+code),
		lbl("requested") + st.Value.Render(strings.Join(a.Required, " ")),
		lbl("ceiling") + st.Value.Render(strings.Join(a.Held, " ")),
	}
	for k, l := range wrap(reasonText(a), max(inner-11, 8)) {
		p := lbl("")
		if k == 0 {
			p = lbl("reason")
		}
		out = append(out, p+st.Value.Render(l))
	}
	if !a.Allowed {
		out = append(out, "", st.Muted.Render("The app's ceiling bounds every agent it creates: no token was issued."))
	} else {
		out = append(out, "", st.Fail.Render("The broker granted a scope outside the app's ceiling!"))
	}
	return out
}
