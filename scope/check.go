package scope

import (
	"fmt"
	"strings"
)

// Reason classifies one required scope's outcome in a Decision.
type Reason int

// The outcomes, from covered to the various ways of not being covered. For an
// uncovered scope the reason describes the nearest held scope: one that
// differs only in identifier is nearer than one that differs in resource,
// which is nearer than one that differs in action.
const (
	Covered             Reason = iota // a held scope covers it
	DifferentIdentifier               // a held scope matches action and resource, not the identifier
	DifferentResource                 // a held scope matches the action only
	DifferentAction                   // no held scope has the same action
	MalformedRequired                 // the required scope itself is malformed
	NothingHeld                       // no well-formed scope is held at all
)

var reasonNames = [...]string{
	Covered:             "covered",
	DifferentIdentifier: "different identifier",
	DifferentResource:   "different resource",
	DifferentAction:     "different action",
	MalformedRequired:   "malformed",
	NothingHeld:         "nothing held",
}

// String names the reason.
func (r Reason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Item is the outcome for one required scope.
type Item struct {
	Required string // the required scope, as given
	Reason   Reason
	// Held is the covering held scope when Reason is Covered, otherwise the
	// nearest held scope (empty for MalformedRequired and NothingHeld).
	Held string
	// Detail is a one-line human explanation, e.g.
	// `identifier "bank" ≠ "hospital" in read:analytics:hospital`.
	Detail string
}

// OK reports whether the item is covered.
func (it Item) OK() bool { return it.Reason == Covered }

// Decision explains whether held scopes cover required ones.
type Decision struct {
	Allowed  bool
	Required []string
	Held     []string
	Items    []Item
}

// Check decides whether held covers required (exactly IsSubset) and explains
// each required scope. Malformed held scopes are ignored, as the broker does.
func Check(required, held []string) Decision {
	d := Decision{
		Allowed:  IsSubset(required, held),
		Required: append([]string(nil), required...),
		Held:     append([]string(nil), held...),
		Items:    make([]Item, 0, len(required)),
	}
	for _, r := range required {
		d.Items = append(d.Items, explain(r, held))
	}
	return d
}

func explain(req string, held []string) Item {
	it := Item{Required: req}
	rq, err := Parse(req)
	if err != nil {
		it.Reason = MalformedRequired
		it.Detail = err.Error()
		return it
	}
	best, bestRank := "", NothingHeld
	var bestScope Scope
	for _, h := range held {
		hs, err := Parse(h)
		if err != nil {
			continue
		}
		var rank Reason
		switch {
		case hs.Covers(rq):
			it.Reason, it.Held = Covered, h
			if hs.Identifier == Wildcard && rq.Identifier != Wildcard {
				it.Detail = fmt.Sprintf("covered by %s (wildcard identifier)", h)
			} else {
				it.Detail = fmt.Sprintf("covered by %s", h)
			}
			return it
		case hs.Action == rq.Action && hs.Resource == rq.Resource:
			rank = DifferentIdentifier
		case hs.Action == rq.Action:
			rank = DifferentResource
		default:
			rank = DifferentAction
		}
		if rank < bestRank {
			best, bestRank, bestScope = h, rank, hs
		}
	}
	it.Reason, it.Held = bestRank, best
	switch bestRank {
	case NothingHeld:
		it.Detail = "no well-formed scope is held"
	case DifferentIdentifier:
		it.Detail = fmt.Sprintf("identifier %q ≠ %q in %s", rq.Identifier, bestScope.Identifier, best)
	case DifferentResource:
		it.Detail = fmt.Sprintf("resource %q ≠ %q in %s", rq.Resource, bestScope.Resource, best)
	case DifferentAction:
		it.Detail = fmt.Sprintf("no held scope has action %q", rq.Action)
	}
	return it
}

// Denied returns the items that are not covered.
func (d Decision) Denied() []Item {
	var out []Item
	for _, it := range d.Items {
		if !it.OK() {
			out = append(out, it)
		}
	}
	return out
}

// Reason returns a one-line explanation of the decision: for a denial, the
// first uncovered scope and why; for an allowance, what covers it.
func (d Decision) Reason() string {
	if len(d.Items) == 0 {
		return "nothing required"
	}
	if !d.Allowed {
		for _, it := range d.Items {
			if !it.OK() {
				return it.Required + ": " + it.Detail
			}
		}
	}
	parts := make([]string, 0, len(d.Items))
	for _, it := range d.Items {
		parts = append(parts, it.Required+" "+it.Detail)
	}
	return strings.Join(parts, "; ")
}

// String renders the decision on one line: "ALLOW …" or "DENY …".
func (d Decision) String() string {
	if d.Allowed {
		return "ALLOW " + d.Reason()
	}
	return "DENY " + d.Reason()
}
