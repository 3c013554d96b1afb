package agentwrit

import "github.com/tenantui/tenantui/scope"

// IsSubset reports whether every requested scope is covered by some allowed
// scope under the broker's rule (§2): exactly the check the broker applies to
// launch tokens, registration and delegation. It is [scope.IsSubset], here so
// that callers can pre-check a request without importing package scope.
func IsSubset(requested, allowed []string) bool { return scope.IsSubset(requested, allowed) }
