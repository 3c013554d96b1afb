//go:build !linux

package pipeline

import (
	"io/fs"
	"os"
)

// sysSyncFS is nil: without syncfs(2), every file is fsynced on its own.
var sysSyncFS func(f *os.File) error

// deviceOf is not needed without sysSyncFS.
func deviceOf(fs.FileInfo) (uint64, bool) { return 0, false }

// swapWrite always leaves the write to a temporary file: the swap file needs
// an atomic exchange and a write lease (Linux).
func swapWrite(path string, data []byte, sync func(*os.File) error) (bool, error) {
	return false, nil
}
