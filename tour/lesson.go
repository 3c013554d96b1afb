package tour

import (
	"fmt"
	"strings"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// Lesson is one parsed lesson file.
type Lesson struct {
	File      string // the file's name, as given to Parse
	Title     string
	Narrative string // Markdown: what the lesson teaches and asks
	After     string // Markdown after the first fenced block (may be empty): shown once done
	Keys      []Key  // the solution
	Expect    []Cond // every condition must hold after the solution
	Setup     Setup
}

// Setup is a lesson's optional starting point.
type Setup struct {
	// Fresh starts the lesson from a new pipeline state: no agents, no
	// stages run.
	Fresh bool
	// TTL is the agents' lifetime during the lesson (0: the tour's default).
	// A lesson whose TTL differs from the running pipeline's starts fresh.
	TTL time.Duration
	// Line is where the setup block starts (0: none).
	Line int
}

// KeyCmd is a VHS tape command of a solution.
type KeyCmd string

// The key commands a solution may use.
const (
	KeyType      KeyCmd = "Type"
	KeyEnter     KeyCmd = "Enter"
	KeyEscape    KeyCmd = "Escape"
	KeyTab       KeyCmd = "Tab"
	KeySpace     KeyCmd = "Space"
	KeyUp        KeyCmd = "Up"
	KeyDown      KeyCmd = "Down"
	KeyLeft      KeyCmd = "Left"
	KeyRight     KeyCmd = "Right"
	KeyBackspace KeyCmd = "Backspace"
	KeySleep     KeyCmd = "Sleep"
)

// keyCmds are the commands that press a key (all but Type and Sleep).
var keyCmds = map[string]KeyCmd{
	"Enter": KeyEnter, "Escape": KeyEscape, "Tab": KeyTab, "Space": KeySpace, "Up": KeyUp,
	"Down": KeyDown, "Left": KeyLeft, "Right": KeyRight, "Backspace": KeyBackspace,
}

// Key is one command of a solution.
type Key struct {
	Line  int
	Cmd   KeyCmd
	Text  string        // Type: the text typed, one key per character
	Count int           // a key command's repeat count (at least 1)
	Sleep time.Duration // Sleep: how long
}

// String is the command as written in a tape.
func (k Key) String() string {
	switch k.Cmd {
	case KeyType:
		return fmt.Sprintf("Type %q", k.Text)
	case KeySleep:
		return "Sleep " + k.Sleep.String()
	}
	if k.Count > 1 {
		return fmt.Sprintf("%s %d", k.Cmd, k.Count)
	}
	return string(k.Cmd)
}

// Hint is the key as a trainee presses it: "x", "enter", "↓ ×2"; "" for a Sleep.
func (k Key) Hint() string {
	names := map[KeyCmd]string{KeyEnter: "enter", KeyEscape: "esc", KeyTab: "tab", KeySpace: "space",
		KeyUp: "↑", KeyDown: "↓", KeyLeft: "←", KeyRight: "→", KeyBackspace: "backspace"}
	switch k.Cmd {
	case KeyType:
		return strings.Join(strings.Split(k.Text, ""), " ")
	case KeySleep:
		return ""
	}
	if k.Count > 1 {
		return fmt.Sprintf("%s ×%d", names[k.Cmd], k.Count)
	}
	return names[k.Cmd]
}

// CondKind is what a condition is about.
type CondKind int

// The kinds of condition.
const (
	CondAgent     CondKind = iota // agent <tenant> none|active|released|expired|revoked
	CondStage                     // stage <tenant> <stage> done|failed
	CondDecision                  // decision <actor> <target> read|write allow|deny [local|store|broker]
	CondIsolation                 // isolation verified|failed
	CondReport                    // report <tenant>
	CondAudit                     // audit verified
)

// Cond is one expectation of a lesson.
type Cond struct {
	Line   int
	Kind   CondKind
	Tenant string              // agent, stage, report: the tenant; decision: the actor
	Target string              // decision: the target tenant
	State  pipeline.AgentState // agent
	Stage  pipeline.Stage      // stage
	Failed bool                // stage: failed rather than done
	Op     pipeline.Op         // decision
	Allow  bool                // decision: allow rather than deny; isolation: verified rather than failed
	Layer  pipeline.Layer      // decision: the deciding layer ("" any)
}

// String is the condition as written in a lesson file.
func (c Cond) String() string {
	switch c.Kind {
	case CondAgent:
		return fmt.Sprintf("agent %s %s", c.Tenant, c.State)
	case CondStage:
		return fmt.Sprintf("stage %s %s %s", c.Tenant, c.Stage, map[bool]string{false: "done", true: "failed"}[c.Failed])
	case CondDecision:
		s := fmt.Sprintf("decision %s %s %s %s", c.Tenant, c.Target, c.Op, verdict(c.Allow))
		if c.Layer != "" {
			s += " " + string(c.Layer)
		}
		return s
	case CondIsolation:
		return "isolation " + map[bool]string{true: "verified", false: "failed"}[c.Allow]
	case CondReport:
		return "report " + c.Tenant
	case CondAudit:
		return "audit verified"
	}
	return "?"
}

// Goal is the condition in words, as a trainee's to-do.
func (c Cond) Goal() string {
	switch c.Kind {
	case CondAgent:
		if c.State == pipeline.AgentNone {
			return c.Tenant + " has no agent"
		}
		return fmt.Sprintf("%s agent is %s", c.Tenant, c.State)
	case CondStage:
		return fmt.Sprintf("%s %s stage %s", c.Tenant, c.Stage, map[bool]string{false: "done", true: "failed"}[c.Failed])
	case CondDecision:
		s := fmt.Sprintf("%s agent → %s %s: %s", c.Tenant, c.Target, c.Op.Label(), strings.ToUpper(verdict(c.Allow)))
		if c.Layer != "" {
			s += " at the " + string(c.Layer)
		}
		return s
	case CondIsolation:
		return "isolation check " + map[bool]string{true: "verified", false: "failed"}[c.Allow]
	case CondReport:
		return c.Tenant + " report written"
	case CondAudit:
		return "audit hash chain verified"
	}
	return "?"
}

func verdict(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

// Tenants lists the tenant ids the lesson's conditions name, in order of
// first mention.
func (l Lesson) Tenants() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range l.Expect {
		for _, t := range []string{c.Tenant, c.Target} {
			if t != "" && !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// CheckTenants reports, as a *SyntaxError, the first condition that names a
// tenant outside ids (the catalog).
func (l Lesson) CheckTenants(ids []string) error {
	known := make(map[string]bool, len(ids))
	for _, id := range ids {
		known[id] = true
	}
	for _, c := range l.Expect {
		for _, t := range []string{c.Tenant, c.Target} {
			if t != "" && !known[t] {
				list := strings.Join(ids[:min(len(ids), 5)], ", ")
				if len(ids) > 5 {
					list += ", …"
				}
				return &SyntaxError{File: l.File, Line: c.Line, Msg: fmt.Sprintf("unknown tenant %q (catalog: %s)", t, list)}
			}
		}
	}
	return nil
}
