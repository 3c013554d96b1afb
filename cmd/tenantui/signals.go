package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/tenantui/tenantui/pipeline"
)

// exitSignals are the ways a process is asked to stop: ctrl+c, kill, and a
// closed terminal. Each must release every credential before the exit.
var exitSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// interrupts turns exitSignals into the way out. The first signal calls the
// current handler (by default it cancels ctx, so that the command winds down
// and releases); any later one exits at once, saying which credentials stay
// live until their TTL.
type interrupts struct {
	ctx    context.Context
	cancel context.CancelFunc
	ch     chan os.Signal
	stderr io.Writer
	exit   func(int)

	mu    sync.Mutex
	n     int
	first func()                           // the first signal
	live  func() []pipeline.LiveCredential // what a hard exit leaves live
	done  chan struct{}
}

func watchInterrupts(stderr io.Writer) *interrupts {
	ctx, cancel := context.WithCancel(context.Background())
	in := &interrupts{ctx: ctx, cancel: cancel, ch: make(chan os.Signal, 4), stderr: stderr, exit: os.Exit,
		done: make(chan struct{})}
	in.first = cancel
	signal.Notify(in.ch, exitSignals...)
	go in.loop()
	return in
}

func (in *interrupts) loop() {
	defer close(in.done)
	for range in.ch {
		in.mu.Lock()
		in.n++
		n, first := in.n, in.first
		in.mu.Unlock()
		if n == 1 {
			first()
			continue
		}
		in.hardExit()
	}
}

// hardExit is the second signal: exit now, and say what stays live.
func (in *interrupts) hardExit() {
	in.mu.Lock()
	live := in.live
	in.mu.Unlock()
	var left []pipeline.LiveCredential
	if live != nil {
		left = live()
	}
	fmt.Fprintln(in.stderr, "tenantui: "+leftLiveLine("interrupted again: exiting now", left))
	in.exit(1)
}

// onFirst replaces what the first signal does (the console sends it to the
// program, which releases visibly).
func (in *interrupts) onFirst(f func()) {
	in.mu.Lock()
	in.first = f
	in.mu.Unlock()
}

// reportLive tells a hard exit how to list the credentials it leaves live.
func (in *interrupts) reportLive(f func() []pipeline.LiveCredential) {
	in.mu.Lock()
	in.live = f
	in.mu.Unlock()
}

// stop ends the watch.
func (in *interrupts) stop() {
	signal.Stop(in.ch)
	close(in.ch)
	<-in.done
	in.cancel()
}

// leftLiveLine is one line: what happened, and the credentials that stay
// live until their TTL (by short id), if any.
func leftLiveLine(what string, left []pipeline.LiveCredential) string {
	if len(left) == 0 {
		return what + "; no credential is left live"
	}
	ids := make([]string, 0, min(len(left), 6))
	for i, c := range left {
		if i == 5 {
			ids = append(ids, fmt.Sprintf("and %d more", len(left)-5))
			break
		}
		ids = append(ids, c.Short())
	}
	return fmt.Sprintf("%s; %d credential(s) stay live until their TTL (the last at %s): %s",
		what, len(left), left[len(left)-1].ExpiresAt.Format("15:04:05"), strings.Join(ids, ", "))
}
