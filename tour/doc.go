// Package tour is the guided tour's lessons: the lesson-file format (Parse,
// LoadDir, Builtin) and the check of a lesson's expectations against what
// really happened (Progress): the pipeline's events and its tenants' state,
// never the keys that were pressed.
//
// A lesson is a Markdown file: its first "# " heading is the title, the prose
// up to the first fenced block is the narrative, and fenced blocks give its
// solution (keys, VHS tape commands), its expectations (expect) and its
// optional setup (setup). docs/lessons.md is the format's reference. Anything
// malformed is a *SyntaxError naming the file and line.
//
// The package is pure: no terminal code, no I/O beyond reading lesson files.
// The console (package ui) shows lessons and feeds a Progress; cmd/tenantui
// replays solutions for `tenantui tour --solve`.
package tour
