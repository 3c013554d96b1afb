package fakeclock

import (
	"context"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	c := New(t0)
	if !c.Now().Equal(t0) {
		t.Fatalf("Now = %v", c.Now())
	}
	c.Advance(1500 * time.Millisecond)
	if got := c.Now().Sub(t0); got != 1500*time.Millisecond {
		t.Fatalf("advanced %v", got)
	}
}

func TestAfterFiresOnlyWhenAdvanced(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	c := New(t0)
	a, b := c.After(2*time.Second), c.After(time.Second)
	if n := c.Waiters(); n != 2 {
		t.Fatalf("Waiters = %d, want 2", n)
	}
	c.Advance(999 * time.Millisecond)
	select {
	case <-a:
		t.Fatal("2 s timer fired after 999 ms")
	case <-b:
		t.Fatal("1 s timer fired after 999 ms")
	default:
	}
	c.Advance(time.Millisecond)
	select {
	case got := <-b:
		if !got.Equal(t0.Add(time.Second)) {
			t.Errorf("1 s timer got %v", got)
		}
	default:
		t.Fatal("1 s timer did not fire at 1 s")
	}
	if n := c.Waiters(); n != 1 {
		t.Fatalf("Waiters = %d after one fired, want 1", n)
	}
	c.Advance(time.Hour)
	if got := <-a; !got.Equal(t0.Add(time.Hour + time.Second)) {
		t.Errorf("2 s timer got %v, want the clock's time when it fired", got)
	}
	select {
	case <-c.After(0):
	default:
		t.Error("After(0) did not fire at once")
	}
}

func TestBlockUntilWaiters(t *testing.T) {
	c := New(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.BlockUntilWaiters(ctx, 1); err != context.Canceled {
		t.Fatalf("no waiter, cancelled ctx: %v", err)
	}
	fired := make(chan struct{})
	go func() {
		<-c.After(time.Minute)
		close(fired)
	}()
	if err := c.BlockUntilWaiters(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	<-fired
}
