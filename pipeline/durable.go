package pipeline

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// dirSyncBatch is how many renamed reports may wait for their directory's
// fsync while a batch is held.
const dirSyncBatch = 256

// dirSyncer makes renames durable by syncing their directories, either at
// once or, while a batch is held (run-all, the matrix), in batches. A crash
// before a batched sync can lose a rename — the report is then the previous
// complete version, or absent — but never leaves a partial report: the file
// itself is always synced before it is renamed into place. With a thousand
// reports a run, the second fsync per report was a fifth of the run's time;
// batched, most directories are already on disk (later file fsyncs commit
// the journal) when their turn comes.
type dirSyncer struct {
	mu      sync.Mutex
	holds   int
	pending map[string]struct{}
	sync    func(dir string) // syncDir; replaced in tests
}

// hold starts a batch; the returned func ends it and syncs what is pending
// once no batch is held.
func (d *dirSyncer) hold() (release func()) {
	d.mu.Lock()
	d.holds++
	d.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d.mu.Lock()
			d.holds--
			var dirs map[string]struct{}
			if d.holds == 0 {
				dirs, d.pending = d.pending, nil
			}
			d.mu.Unlock()
			d.syncAll(dirs)
		})
	}
}

// renamed records that a file was renamed into dir: synced now, or later if
// a batch is held.
func (d *dirSyncer) renamed(dir string) {
	if d == nil {
		syncDir(dir)
		return
	}
	d.mu.Lock()
	if d.holds == 0 {
		d.mu.Unlock()
		d.syncAll(map[string]struct{}{dir: {}})
		return
	}
	if d.pending == nil {
		d.pending = make(map[string]struct{}, dirSyncBatch)
	}
	d.pending[dir] = struct{}{}
	var dirs map[string]struct{}
	if len(d.pending) >= dirSyncBatch {
		dirs, d.pending = d.pending, nil
	}
	d.mu.Unlock()
	d.syncAll(dirs)
}

func (d *dirSyncer) syncAll(dirs map[string]struct{}) {
	sync := d.sync
	if sync == nil {
		sync = syncDir
	}
	for dir := range dirs {
		sync(dir)
	}
}

// syncDir fsyncs a directory, best effort: some file systems refuse it, and
// the rename it makes durable has already happened.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// writeAtomic writes data to path through a temporary file in the same
// directory (created 0644, minus the umask), synced before it is renamed over
// path, so that path always holds a complete version. The directory is
// created if missing, and its sync is left to dirs.
func writeAtomic(path string, data []byte, dirs *dirSyncer) error {
	dir := filepath.Dir(path)
	f, tmp, err := createTemp(dir, filepath.Base(path))
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		f, tmp, err = createTemp(dir, filepath.Base(path))
	}
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	dirs.renamed(dir)
	return nil
}

// createTemp creates ".<base>.tmp-<random>" in dir, exclusively.
func createTemp(dir, base string) (*os.File, string, error) {
	for range 10 {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", errors.New("cannot create a temporary file in " + dir)
}
