package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysSyncFS syncs the whole file system holding f (syncfs(2)).
var sysSyncFS = syncfs

func syncfs(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return &fs.PathError{Op: "syncfs", Path: f.Name(), Err: serr}
	}
	return nil
}

// deviceOf is the device holding a file.
func deviceOf(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true
}

// swapWrite writes data to path's swap file (see writeAtomic) in place,
// syncs it with sync and exchanges it with path. It reports false, with no
// error, when the swap file cannot be used safely and a temporary file must
// be used instead: the swap file is open elsewhere (a reader of a previous
// version, another writer), has other links, belongs to someone else, or
// the file system cannot grant the lease that proves all that. An error
// wrapping fs.ErrNotExist means the directory is missing.
func swapWrite(path string, data []byte, sync func(*os.File) error) (bool, error) {
	swap := swapName(path)
	for range 3 {
		// Opened with open(2) and wrapped, not os.OpenFile: for a regular
		// file that tries the poller and gives up, four wasted system calls
		// a report.
		fd, err := unix.Open(swap, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if errors.Is(err, fs.ErrNotExist) {
			return false, &fs.PathError{Op: "open", Path: swap, Err: err}
		}
		if err != nil {
			return false, nil
		}
		f := os.NewFile(uintptr(fd), swap)
		done, retry, err := swapInto(f, swap, path, data, sync)
		f.Close() // ends the lease
		if done || err != nil || !retry {
			return done, err
		}
	}
	return false, nil
}

// swapInto does swapWrite's work on the open swap file f. retry says that
// another writer exchanged the swap file after it was opened.
func swapInto(f *os.File, swap, path string, data []byte, sync func(*os.File) error) (done, retry bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return false, false, nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() || st.Nlink != 1 {
		return false, false, nil
	}
	// A write lease is granted only while no other descriptor has the file
	// open, here or in any process; while it is held, anyone opening the
	// file waits until it is closed. So no reader ever sees it rewritten.
	var lerr error
	if err := controlFd(f, func(fd int) { _, lerr = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_WRLCK) }); err != nil || lerr != nil {
		return false, false, nil
	}
	// Still the swap file? Another writer may have exchanged it between our
	// open and our lease.
	if cur, err := os.Lstat(swap); err != nil || !os.SameFile(cur, fi) {
		return false, true, nil
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return false, false, err
	}
	// Writing in place leaves the old length only if it was longer (a
	// nightly report is usually exactly as long as the night before's).
	if fi.Size() > int64(len(data)) {
		if err := f.Truncate(int64(len(data))); err != nil {
			return false, false, err
		}
	}
	if err := sync(f); err != nil {
		return false, false, err
	}
	err = unix.Renameat2(unix.AT_FDCWD, swap, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		return true, false, nil
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS),
		errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EXDEV):
		// No previous version, or no exchange here: a plain rename.
		if err := os.Rename(swap, path); err != nil {
			return false, false, err
		}
		return true, false, nil
	}
	return false, false, &os.LinkError{Op: "exchange", Old: swap, New: path, Err: err}
}

// controlFd runs fn on f's descriptor.
func controlFd(f *os.File, fn func(fd int)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}
