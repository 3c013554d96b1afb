package watch

import (
	"fmt"

	"github.com/tenantui/tenantui/agentwrit"
)

// Chain verifies the audit hash chain (§8) incrementally: each batch is
// checked against the last event of the previous one, so a long trail is
// hashed once, as it arrives. After the first broken link it stops checking
// and keeps reporting that link.
type Chain struct {
	n      int
	last   agentwrit.AuditEvent
	broken *ChainBreak
}

// ChainBreak is the first place where the chain does not hold.
type ChainBreak struct {
	Position int    // 1-based position of the event in the trail
	ID       string // that event's id
	Reason   string
}

// Error returns one line naming the event and the reason.
func (c *ChainBreak) Error() string {
	return fmt.Sprintf("chain broken at %s (event %d): %s", c.ID, c.Position, c.Reason)
}

// Add verifies events, which follow those already added, and returns the
// first break so far (nil while the chain holds).
func (c *Chain) Add(events []agentwrit.AuditEvent) *ChainBreak {
	if c.broken != nil || len(events) == 0 {
		c.n += len(events)
		return c.broken
	}
	run := events
	base := c.n // position of run[0] minus one
	if c.n > 0 {
		run = make([]agentwrit.AuditEvent, 0, len(events)+1)
		run = append(append(run, c.last), events...)
		base--
	}
	if err := agentwrit.VerifyChain(run); err != nil {
		if ce, ok := err.(*agentwrit.ChainError); ok {
			c.broken = &ChainBreak{Position: base + ce.Index + 1, ID: ce.ID, Reason: ce.Reason}
		} else {
			c.broken = &ChainBreak{Position: c.n + 1, ID: events[0].ID, Reason: err.Error()}
		}
	}
	c.n += len(events)
	c.last = events[len(events)-1]
	return c.broken
}

// Verified is the number of events checked while the chain held.
func (c *Chain) Verified() int {
	if c.broken != nil {
		return c.broken.Position - 1
	}
	return c.n
}

// Broken returns the first break, or nil.
func (c *Chain) Broken() *ChainBreak { return c.broken }

// Status is one line: "chain verified, N events" or the first broken link.
func (c *Chain) Status() string {
	if c.broken != nil {
		return c.broken.Error()
	}
	return fmt.Sprintf("chain verified, %d events", c.n)
}
