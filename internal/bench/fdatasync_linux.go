package bench

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (and the size an append changed) to disk.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
