package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// Outside a batch every rename's directory is synced at once; inside one,
// at the end of the batch (or when the batch is full), each directory once.
func TestDirSyncerBatches(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	d := &dirSyncer{sync: func(dir string) { mu.Lock(); synced = append(synced, dir); mu.Unlock() }}
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

// writeAtomic creates the directory, replaces the file whole and leaves no
// temporary file behind.
func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports", "t1")
	path := filepath.Join(dir, "latest.json")
	d := &dirSyncer{}
	for _, content := range []string{"first\n", "second, longer\n", "3\n"} {
		if err := writeAtomic(path, []byte(content), d); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want only latest.json", len(ents))
	}
}
