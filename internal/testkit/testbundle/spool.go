package testbundle

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Spool returns the /proc/<pid>/fd entry of a file that process pid holds
// open in dir, or "" if there is none. The Infineon reader removes its
// spool file as soon as it creates it, so this is how a test sees it
// (Linux only: it reads /proc).
func Spool(pid int, dir string) string {
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, _ := os.ReadDir(fdDir)
	for _, fd := range fds {
		p := filepath.Join(fdDir, fd.Name())
		if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			return p
		}
	}
	return ""
}
