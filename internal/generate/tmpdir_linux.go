package generate

import (
	"os"
	"syscall"
)

// fastTempDir returns /dev/shm when it is a tmpfs with room for need bytes
// twice over, else "" (os.TempDir()). Writing a million small PEM files
// to tmpfs instead of a disk file system saves minutes of system time.
func fastTempDir(need int64) string {
	const shm = "/dev/shm"
	if fi, err := os.Stat(shm); err != nil || !fi.IsDir() {
		return ""
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(shm, &st); err != nil {
		return ""
	}
	const tmpfsMagic = 0x01021994
	if st.Type != tmpfsMagic || uint64(st.Bavail)*uint64(st.Bsize) < 2*uint64(need) {
		return ""
	}
	if f, err := os.CreateTemp(shm, "probe-*"); err == nil {
		f.Close()
		os.Remove(f.Name())
		return shm
	}
	return ""
}
