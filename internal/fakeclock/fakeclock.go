// Package fakeclock is a manually advanced clock for tests: one value can be
// handed as the Now func to the broker, the runner and the console, so that
// expiry is tested without sleeping. Its [Clock.After] timers fire only when
// [Clock.Advance] reaches them, so waits (such as a client honouring
// Retry-After) are tested without sleeping too. It is test support only.
package fakeclock

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Clock reads a fixed time until advanced. It is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	t       time.Time
	waiters []waiter
	added   chan struct{} // closed and replaced whenever a waiter is added
}

// waiter is one pending After: ch receives the clock's time at or after at.
type waiter struct {
	at time.Time
	ch chan time.Time
}

// New returns a clock that reads start until advanced.
func New(start time.Time) *Clock { return &Clock{t: start, added: make(chan struct{})} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d and fires every [Clock.After] timer
// whose time has come, in deadline order.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	kept := c.waiters[:0]
	var due []waiter
	for _, w := range c.waiters {
		if w.at.After(c.t) {
			kept = append(kept, w)
		} else {
			due = append(due, w)
		}
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
	slices.SortStableFunc(due, func(a, b waiter) int { return a.at.Compare(b.at) })
	for _, w := range due {
		w.ch <- c.t // buffered, never blocks
	}
}

// After is time.After on this clock: the channel receives the clock's time
// once Advance has moved it d or more past the call. d ≤ 0 fires at once.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.t
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.t.Add(d), ch: ch})
	close(c.added)
	c.added = make(chan struct{})
	return ch
}

// Waiters returns how many After timers have not fired yet.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// BlockUntilWaiters returns nil once at least n After timers are pending, or
// ctx's error if ctx ends first. A test calls it before Advance, so that the
// code under test is known to be waiting when the clock moves.
func (c *Clock) BlockUntilWaiters(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		pending, added := len(c.waiters), c.added
		c.mu.Unlock()
		if pending >= n {
			return nil
		}
		select {
		case <-added:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
