// Package fakeclock is a manually advanced clock for tests: one value can be
// handed as the Now func to the broker, the runner and the console, so that
// expiry is tested without sleeping. It is test support only.
package fakeclock

import (
	"sync"
	"time"
)

// Clock reads a fixed time until advanced. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that reads start until advanced.
func New(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
