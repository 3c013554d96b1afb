package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// The agent card: who the selected tenant's agent is, what its token grants,
// and a live countdown to its expiry. Everything except the countdown line
// and the state badge is static between state changes, so the model caches
// cardStatic and redraws only cardCountdown on a tick.

// cardStatic renders the card lines that do not depend on the clock.
func cardStatic(st Styles, s *pipeline.TenantState, inner int) []string {
	a := s.Agent
	if a == nil {
		return wrapStyled(st.Muted, "No agent yet. enter runs create: the app gets a launch token from the broker "+
			"and registers a short-lived agent scoped to "+s.Tenant.ID+"'s data only.", inner)
	}
	lbl := func(l string) string { return st.Label.Render(pad(l, 7)) }
	vw := max(inner-7, 1)
	lines := []string{lbl("spiffe") + st.Value.Render(truncMiddle(a.SPIFFEID, vw))}

	task := truncMiddle(a.TaskID, max(vw-14, 8))
	lines = append(lines, lbl("task")+st.Value.Render(task)+"  "+st.Label.Render("jti ")+st.Strong.Render(a.ShortJTI()))

	scopes := a.Scope
	if len(scopes) == 0 {
		scopes = []string{"(none)"}
	}
	one := strings.Join(scopes, " ")
	if len(one) <= vw {
		lines = append(lines, lbl("scope")+st.Value.Render(one))
	} else {
		for k, sc := range scopes {
			l := lbl("")
			if k == 0 {
				l = lbl("scope")
			}
			lines = append(lines, l+st.Value.Render(truncScope(sc, vw)))
		}
	}
	issued := lbl("issued") + st.Value.Render(hms(a.IssuedAt))
	if a.Renewals > 0 {
		issued += st.Muted.Render(fmt.Sprintf("  renewed %d×", a.Renewals))
	}
	lines = append(lines, issued)
	return lines
}

// cardCountdown renders the clock-dependent line: time left and a bar that
// turns from ok to warn (≤ 50%) to critical (≤ 20%), or why there is none.
func cardCountdown(st Styles, s *pipeline.TenantState, now time.Time, ttl time.Duration, inner int) string {
	a := s.Agent
	switch effectiveState(a, now) {
	case pipeline.AgentNone:
		return ""
	case pipeline.AgentExpired:
		return st.StateExpired.Render("EXPIRED at "+hms(a.ExpiresAt)) + st.Muted.Render(" — the broker refuses this token")
	case pipeline.AgentReleased:
		return st.StateReleased.Render("RELEASED") + st.Muted.Render(" — the agent gave its token back")
	case pipeline.AgentRevoked:
		return st.StateRevoked.Render("REVOKED") + st.Muted.Render(" — the operator killed this token")
	}
	left := a.ExpiresAt.Sub(now)
	total := a.ExpiresAt.Sub(a.IssuedAt)
	if total <= 0 {
		total = ttl
	}
	frac := 1.0
	if total > 0 {
		frac = min(max(float64(left)/float64(total), 0), 1)
	}
	// Round the display up so "5:00" shows for a fresh 300 s token and
	// "0:00" only once it has expired.
	label := "expires in " + clock((left + time.Second - 1).Truncate(time.Second))
	bw := inner - len(label) - 1
	if bw < 4 {
		return st.Strong.Render(label)
	}
	filled := int(frac*float64(bw) + 0.5)
	sty := st.BarOK
	switch {
	case frac <= 0.2:
		sty = st.BarCrit
	case frac <= 0.5:
		sty = st.BarWarn
	}
	return sty.Render(label) + " " + sty.Render(strings.Repeat("█", filled)) + st.BarEmpty.Render(strings.Repeat("░", bw-filled))
}

// stateBadge is the state as the card's title note shows it.
func stateBadge(st Styles, a *pipeline.AgentInfo, now time.Time) string {
	switch effectiveState(a, now) {
	case pipeline.AgentActive:
		return st.StateActive.Render("ACTIVE")
	case pipeline.AgentReleased:
		return st.StateReleased.Render("RELEASED")
	case pipeline.AgentExpired:
		return st.StateExpired.Render("EXPIRED")
	case pipeline.AgentRevoked:
		return st.StateRevoked.Render("REVOKED")
	}
	return st.StateNone.Render("NO AGENT")
}
