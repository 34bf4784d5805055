package generate

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// SevenZip is the name of the 7-Zip command the Infineon format needs.
const SevenZip = "7z"

// ArchiveOptions shape one 7z run.
type ArchiveOptions struct {
	Password       string
	EncryptHeaders bool
	// Level is -mx: 0 means 5, -1 means store.
	Level int
	// Args are more switches for 7z a, after the others: -m0=LZMA,
	// -mf=BCJ, -ms=off... to make the archives a reader must decode.
	Args []string
}

// Run7z runs "7z a" in dir, adding names (relative to dir; 7z expands
// wildcards itself) to the archive out. Names that begin with "-" are
// not special: they follow "--".
func Run7z(dir, out string, o ArchiveOptions, names ...string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	lvl := o.Level
	switch {
	case lvl == 0:
		lvl = 5
	case lvl < 0:
		lvl = 0
	}
	args := []string{"a", "-t7z", "-bd", "-y", fmt.Sprintf("-mx=%d", lvl), "-mmt=on"}
	if o.Password != "" {
		args = append(args, "-p"+o.Password)
		if o.EncryptHeaders {
			args = append(args, "-mhe=on")
		}
	}
	args = append(args, o.Args...)
	// 7z appends ".7z" to a name without an extension: build under a
	// name that has it, then rename.
	tmp := abs + ".tmp.7z"
	_ = os.Remove(tmp)
	args = append(args, tmp, "--")
	args = append(args, names...)
	cmd := exec.Command(SevenZip, args...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s a %s: %w\n%s", SevenZip, filepath.Base(out), err, tail(b, 2000))
	}
	return os.Rename(tmp, abs)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
