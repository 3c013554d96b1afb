package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Outside a batch every rename's directory is synced at once; inside one,
// at the end of the batch (or when the batch is full), each directory once.
func TestReportSyncBatchesDirectories(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	d := &reportSync{syncDir: func(dir string) { mu.Lock(); synced = append(synced, dir); mu.Unlock() }}
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := slices.Clone(synced)
		slices.Sort(out)
		synced = nil
		return out
	}
	d.renamed("a")
	if got := take(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("unbatched: synced %v, want [a]", got)
	}
	release := d.hold()
	inner := d.hold()
	d.renamed("b")
	d.renamed("c")
	d.renamed("b")
	if got := take(); len(got) != 0 {
		t.Fatalf("synced %v while a batch is held", got)
	}
	inner()
	inner() // idempotent
	if got := take(); len(got) != 0 {
		t.Fatalf("synced %v while the outer batch is held", got)
	}
	release()
	if got := take(); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("after the batch: synced %v, want [b c]", got)
	}
	release = d.hold()
	for i := range dirSyncBatch {
		d.renamed(fmt.Sprint("d", i))
	}
	if got := take(); len(got) != dirSyncBatch {
		t.Fatalf("a full batch synced %d directories, want %d", len(got), dirSyncBatch)
	}
	release()
	if got := take(); len(got) != 0 {
		t.Fatalf("synced %v again", got)
	}
}

// With syncfs, the directories of a batch on one file system are made
// durable by one sync of it, not one fsync each; and within a batch, file
// syncs are group commits while outside one they are the file's own fsync.
func TestReportSyncSharesFileSystemSyncs(t *testing.T) {
	if sysSyncFS == nil {
		t.Skip("no syncfs on " + runtime.GOOS + ": every sync is a file's own (covered by TestReportSyncBatchesDirectories)")
	}
	root := t.TempDir()
	var fsSyncs, dirSyncs atomic.Int32
	d := &reportSync{
		syncDir: func(string) { dirSyncs.Add(1) },
		syncFS:  func(*os.File) error { fsSyncs.Add(1); return nil },
	}
	path := filepath.Join(root, "t0", "latest.json")
	if err := writeAtomic(path, []byte("one\n"), d); err != nil {
		t.Fatal(err)
	}
	if fsSyncs.Load() != 0 || dirSyncs.Load() != 1 {
		t.Fatalf("unbatched write: %d file-system syncs, %d directory syncs; want 0 and 1", fsSyncs.Load(), dirSyncs.Load())
	}
	release := d.hold()
	for i := range 5 {
		if err := writeAtomic(filepath.Join(root, fmt.Sprint("t", i), "latest.json"), []byte("two\n"), d); err != nil {
			t.Fatal(err)
		}
	}
	if n := fsSyncs.Load(); n != 5 {
		t.Fatalf("5 batched writes one after another made %d file-system syncs, want 5 (one each: none overlapped)", n)
	}
	release()
	if n, m := fsSyncs.Load(), dirSyncs.Load(); n != 6 || m != 1 {
		t.Fatalf("ending the batch of 5 directories: %d file-system syncs in all, %d directory syncs; want 6 and 1", n, m)
	}
}

// Each caller of a group commit returns only after a round that began after
// it called; callers that arrive while a round runs share the next one.
func TestGroupCommit(t *testing.T) {
	const callers = 8
	var g groupCommit
	var mu sync.Mutex
	var log []string
	note := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock() }
	called := make(chan struct{}, callers)
	rounds := 0
	round := func() error {
		mu.Lock()
		rounds++
		n := rounds
		mu.Unlock()
		note(fmt.Sprint("start ", n))
		if n == 1 {
			// Hold the first round until every caller has called.
			for range callers {
				<-called
			}
		}
		note(fmt.Sprint("end ", n))
		return nil
	}
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			note(fmt.Sprint("call ", i))
			called <- struct{}{}
			if err := g.sync(round, nil); err != nil {
				t.Error(err)
			}
			note(fmt.Sprint("return ", i))
		})
	}
	wg.Wait()
	if rounds < 2 || rounds > 3 {
		t.Fatalf("%d callers took %d rounds, want 2 or 3 (one held, then shared)\n%s", callers, rounds, strings.Join(log, "\n"))
	}
	at := func(s string) int { return slices.Index(log, s) }
	for i := range callers {
		c, r := at(fmt.Sprint("call ", i)), at(fmt.Sprint("return ", i))
		ok := false
		for n := 1; n <= rounds; n++ {
			if s, e := at(fmt.Sprint("start ", n)), at(fmt.Sprint("end ", n)); s > c && e < r {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("caller %d returned without a whole round after its call\n%s", i, strings.Join(log, "\n"))
		}
	}
}

// A failed round's error reaches everyone it was meant to cover, and a later
// good round clears nobody's error retroactively.
func TestGroupCommitError(t *testing.T) {
	var g groupCommit
	boom := errors.New("EIO")
	if err := g.sync(func() error { return boom }, nil); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the round's error", err)
	}
	if err := g.sync(func() error { return nil }, nil); err != nil {
		t.Fatalf("a good round after a bad one: %v", err)
	}
}

// writeAtomic creates the directory and replaces the file whole; it leaves
// no temporary file behind, at most the swap file holding the previous
// version.
func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports", "t1")
	path := filepath.Join(dir, "latest.json")
	d := newReportSync()
	// Shorter, longer and equal lengths, over the swap file's previous one.
	contents := []string{"first\n", "second, longer\n", "3\n", "fourth\n", "fifth!\n", "sixth!\n", "seventh, longest of all\n", "8\n"}
	for i, content := range contents {
		if err := writeAtomic(path, []byte(content), d); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
		if prev, err := os.ReadFile(swapName(path)); err == nil && i > 0 && string(prev) != contents[i-1] {
			t.Fatalf("swap file holds %q, want the previous version %q", prev, contents[i-1])
		}
	}
	names := dirNames(t, dir)
	want := []string{"latest.json"}
	if runtime.GOOS == "linux" {
		want = []string{".latest.json.swap", "latest.json"}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("directory holds %v, want %v", names, want)
	}
}

// A reader holding a previous version open keeps reading that version,
// whole, however many writes follow: the swap file is rewritten only when no
// one has it open.
func TestWriteAtomicNeverRewritesAnOpenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "latest.json")
	write := func(s string) {
		t.Helper()
		if err := writeAtomic(path, []byte(s), nil); err != nil {
			t.Fatal(err)
		}
	}
	write("version one\n")
	reader, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	write("version two\n")
	write("version three\n")
	write("version four\n")
	buf := make([]byte, 64)
	n, _ := reader.ReadAt(buf, 0)
	if got := string(buf[:n]); got != "version one\n" {
		t.Fatalf("the open reader read %q, want the version it opened", got)
	}
	reader.Close()
	write("version five\n")
	if got, _ := os.ReadFile(path); string(got) != "version five\n" {
		t.Fatalf("latest is %q", got)
	}
	for _, name := range dirNames(t, dir) {
		if strings.Contains(name, ".tmp-") {
			t.Fatalf("temporary file %s left behind", name)
		}
	}
}

// A swap file with another link is never rewritten in place: the other
// name would see the write.
func TestWriteAtomicSparesALinkedSwapFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "latest.json")
	for _, s := range []string{"a\n", "b\n"} {
		if err := writeAtomic(path, []byte(s), nil); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(dir, "keep")
	if err := os.Link(swapName(path), keep); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	before, _ := os.ReadFile(keep)
	for _, s := range []string{"c\n", "d\n", "e\n"} {
		if err := writeAtomic(path, []byte(s), nil); err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := os.ReadFile(keep); string(after) != string(before) {
		t.Fatalf("the linked file changed from %q to %q", before, after)
	}
	if got, _ := os.ReadFile(path); string(got) != "e\n" {
		t.Fatalf("latest is %q", got)
	}
}

// Writers racing on one report, with a reader reading throughout: every read
// is one complete version, and nothing is left behind.
func TestWriteAtomicConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "latest.json")
	payload := func(w, i int) string {
		return fmt.Sprintf("writer %d write %d %s\n", w, i, strings.Repeat("x", (w*7+i*13)%300))
	}
	valid := map[string]bool{}
	for w := range 6 {
		for i := range 25 {
			valid[payload(w, i)] = true
		}
	}
	if err := writeAtomic(path, []byte(payload(0, 0)), nil); err != nil {
		t.Fatal(err)
	}
	d := newReportSync()
	release := d.hold()
	stop := make(chan struct{})
	var reads atomic.Int32
	readerDone := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				readerDone <- nil
				return
			default:
			}
			got, err := os.ReadFile(path)
			if err != nil {
				readerDone <- err
				return
			}
			if !valid[string(got)] {
				readerDone <- fmt.Errorf("read a version never written: %q", got)
				return
			}
			reads.Add(1)
		}
	}()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 25 {
				if err := writeAtomic(path, []byte(payload(w, i)), d); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	release()
	close(stop)
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatal("the reader never read")
	}
	for _, name := range dirNames(t, dir) {
		if name != "latest.json" && name != ".latest.json.swap" {
			t.Fatalf("left behind: %s", name)
		}
	}
}

// A failed sync fails the write and leaves the previous version in place.
func TestWriteAtomicSyncFailure(t *testing.T) {
	if sysSyncFS == nil {
		t.Skip("no syncfs on " + runtime.GOOS + ": batched writes use each file's fsync")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "latest.json")
	if err := writeAtomic(path, []byte("good\n"), nil); err != nil {
		t.Fatal(err)
	}
	d := &reportSync{syncDir: func(string) {}, syncFS: func(*os.File) error { return errors.New("syncfs: input/output error") }}
	release := d.hold()
	defer release()
	for range 2 { // a new swap file, then the same one again
		err := writeAtomic(path, []byte("lost\n"), d)
		if err == nil || !strings.Contains(err.Error(), "input/output error") {
			t.Fatalf("got %v, want the sync's error", err)
		}
		if got, _ := os.ReadFile(path); string(got) != "good\n" {
			t.Fatalf("after a failed write the report is %q", got)
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// A round gathers: while fewer callers wait than are expected it waits for
// them, so callers that come one after another share one round.
func TestGroupCommitGathers(t *testing.T) {
	const callers = 4
	g := groupCommit{window: time.Hour} // only the count can end the gathering
	var rounds atomic.Int32
	round := func() error { rounds.Add(1); return nil }
	expected := func() int { return callers }
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if err := g.sync(round, expected); err != nil {
				t.Error(err)
			}
		})
		runtime.Gosched()
	}
	wg.Wait()
	if n := rounds.Load(); n != 1 {
		t.Fatalf("%d callers expected and gathered took %d rounds, want 1", callers, n)
	}
}

// A gathering round does not wait past its window, nor for a writer that
// has left: the last writer of a batch never waits.
func TestGroupCommitGatherEnds(t *testing.T) {
	g := groupCommit{window: 5 * time.Millisecond}
	var rounds atomic.Int32
	round := func() error { rounds.Add(1); return nil }
	if err := g.sync(round, func() int { return 10 }); err != nil || rounds.Load() != 1 {
		t.Fatalf("window over: err %v, %d rounds, want one round", err, rounds.Load())
	}

	// Writers under way in a batch: A's round waits for B until B leaves.
	d := &reportSync{}
	g2 := &groupCommit{window: time.Hour}
	d.groups = map[uint64]*groupCommit{0: g2}
	rounds.Store(0)
	leaveA, leaveB := d.enter(), d.enter()
	done := make(chan error, 1)
	go func() { done <- g2.sync(round, d.expected) }()
	select {
	case err := <-done:
		t.Fatalf("writer A's sync returned (%v) while writer B, under way, might still join", err)
	case <-time.After(20 * time.Millisecond):
	}
	leaveB()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	leaveA()
	leaveA() // twice is once
	if n := d.expected(); n != 0 {
		t.Fatalf("%d writers left under way, want 0", n)
	}
	// Alone, a writer does not gather at all (an hour's window would show).
	leave := d.enter()
	if err := g2.sync(round, d.expected); err != nil {
		t.Fatal(err)
	}
	leave()
	if n := rounds.Load(); n != 2 {
		t.Fatalf("%d rounds, want 2", n)
	}
}
