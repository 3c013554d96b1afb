// Package scope implements the AgentWrit scope grammar (action:resource:identifier)
// and the broker's coverage rule (§2), with explanations of each decision for
// display. A citation "§N" in this package's comments refers to section N of
// docs/protocol.md at the repository root.
//
// The broker cuts a scope at its first two colons only, so the identifier is
// everything after the second colon ("read:data:a:b" has identifier "a:b").
// A scope is well formed when all three parts are non-empty. An allowed scope
// covers a requested one when both are well formed, actions and resources are
// equal, and the identifiers are equal or the allowed identifier is "*".
// Nothing else is special: "*" in action or resource position, or in a
// requested scope, is an ordinary character. Malformed scopes never cover and
// are never covered.
package scope

import (
	"errors"
	"fmt"
	"strings"
)

// Wildcard is the identifier that, in an allowed scope, covers every identifier.
const Wildcard = "*"

// Scope is a parsed, well-formed scope.
type Scope struct {
	Action     string
	Resource   string
	Identifier string
}

// String returns the scope in its action:resource:identifier form.
func (s Scope) String() string {
	return s.Action + ":" + s.Resource + ":" + s.Identifier
}

// Covers reports whether s, as an allowed scope, covers the requested scope r.
func (s Scope) Covers(r Scope) bool {
	return s.Action == r.Action && s.Resource == r.Resource &&
		(s.Identifier == r.Identifier || s.Identifier == Wildcard)
}

// ErrMalformed is matched by every error Parse returns.
var ErrMalformed = errors.New("malformed scope")

// ParseError says why a string is not a scope.
type ParseError struct {
	Input  string
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid scope %q: %s (want action:resource:identifier)", e.Input, e.Reason)
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// Parse splits s into its three parts using the broker's grammar.
func Parse(s string) (Scope, error) {
	a, r, id, ok := split(s)
	if ok {
		return Scope{Action: a, Resource: r, Identifier: id}, nil
	}
	return Scope{}, &ParseError{Input: s, Reason: whyMalformed(s)}
}

// MustParse is Parse for constants known to be well formed; it panics otherwise.
func MustParse(s string) Scope {
	sc, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sc
}

// Valid reports whether s is a well-formed scope.
func Valid(s string) bool {
	_, _, _, ok := split(s)
	return ok
}

// split cuts s at its first two colons without allocating.
func split(s string) (action, resource, identifier string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", "", "", false
	}
	rest := s[i+1:]
	j := strings.IndexByte(rest, ':')
	if j <= 0 || j == len(rest)-1 {
		return "", "", "", false
	}
	return s[:i], rest[:j], rest[j+1:], true
}

func whyMalformed(s string) string {
	switch n := strings.Count(s, ":"); {
	case s == "":
		return "empty"
	case n < 2:
		return fmt.Sprintf("has %d of the 3 colon-separated parts", n+1)
	}
	parts := strings.SplitN(s, ":", 3)
	for i, name := range [...]string{"action", "resource", "identifier"} {
		if parts[i] == "" {
			return name + " is empty"
		}
	}
	return "malformed"
}

// Covers reports whether the allowed scope string covers the requested one,
// by the broker's rule. It does not allocate.
func Covers(allowed, requested string) bool {
	ra, rr, ri, ok := split(requested)
	if !ok {
		return false
	}
	aa, ar, ai, ok := split(allowed)
	if !ok {
		return false
	}
	return aa == ra && ar == rr && (ai == ri || ai == Wildcard)
}

// IsSubset reports whether every requested scope is covered by at least one
// allowed scope. An empty request is covered. It does not allocate.
//
// Once a requested scope is known to be well formed with prefix
// "action:resource:", an allowed scope covers it exactly when it is the same
// string, or that prefix followed by "*": the allowed scope's first two colons
// then sit where the requested one's do, so its parts are the same.
func IsSubset(requested, allowed []string) bool {
	for _, r := range requested {
		n := prefixLen(r)
		if n == 0 {
			return false
		}
		covered := false
		for _, a := range allowed {
			if a == r || (len(a) == n+1 && a[n] == '*' && a[:n] == r[:n]) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// prefixLen returns the length of "action:resource:" in a well-formed scope s,
// or 0 when s is malformed.
func prefixLen(s string) int {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return 0
	}
	j := strings.IndexByte(s[i+1:], ':')
	if j <= 0 {
		return 0
	}
	n := i + 1 + j + 1
	if n == len(s) {
		return 0
	}
	return n
}

// ValidateAll returns an error naming the first malformed scope, or nil.
func ValidateAll(scopes []string) error {
	for _, s := range scopes {
		if _, err := Parse(s); err != nil {
			return err
		}
	}
	return nil
}
