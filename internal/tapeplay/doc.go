// Package tapeplay replays a VHS tape against a Bubble Tea model inside a
// test, so that a recorded walkthrough (demo.tape, lifecycle.tape) cannot
// drift from the program it shows.
//
// The tape is parsed with VHS's own parser. Its keys go into a vt emulator
// that is the program's input; the program's output goes into the same
// emulator, and at every Screenshot the player asserts what the screen shows
// (a list of regexps per screenshot file). The shell part of the tape (typing
// `go run ./cmd/tenantui …` and pressing Enter) starts the program in-process
// instead; [Options.Start] learns the typed command line and may build the
// model from it.
//
// Time is virtual: each Sleep advances a [Clock] by the tape's duration but
// waits at most [Options.MaxSleep] of real time, so a 10 s pause in the
// recording costs a few milliseconds of test time while the program (and
// anything else reading the same clock) sees 10 s go by. Wait+Screen polls
// the emulator in real time, bounded by [Options.MaxWait].
//
// tapeplay is test support only: import it from _test.go files, never from
// a program. It imports testing, VHS's parser and the vt emulator.
package tapeplay
