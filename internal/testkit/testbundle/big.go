package testbundle

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/thingpress/thingpress/internal/generate"
)

// WriteEmpty7z writes at path a 7z archive of size bytes that holds no
// file: the start header, size-34 zero bytes of packed data that no
// folder uses, and a two-byte header. The file is sparse, so a huge one
// costs no disk and is made at once; it is what a reader spools when a
// test wants spooling to take long.
func WriteEmpty7z(path string, size int64) error {
	header := []byte{0x01, 0x00} // kHeader, kEnd
	if size < 32+int64(len(header)) {
		return fmt.Errorf("a 7z archive needs at least %d bytes", 32+len(header))
	}
	start := make([]byte, 32)
	copy(start, []byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C, 0, 4})
	binary.LittleEndian.PutUint64(start[12:], uint64(size-32-int64(len(header))))
	binary.LittleEndian.PutUint64(start[20:], uint64(len(header)))
	binary.LittleEndian.PutUint32(start[28:], crc32.ChecksumIEEE(header))
	binary.LittleEndian.PutUint32(start[8:], crc32.ChecksumIEEE(start[12:32]))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(start)
	if err == nil {
		err = f.Truncate(size)
	}
	if err == nil {
		_, err = f.WriteAt(header, size-int64(len(header)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteBigBundle writes at path a reel bundle whose E0E0 Certs archive
// (reel 0123456789ABCDEF, batch "batch") is an empty archive of
// innerSize bytes (see WriteEmpty7z), compressed by 7z at level 1: a
// few hundred kilobytes that a reader spools to innerSize bytes. It
// needs the 7z command.
func WriteBigBundle(path string, innerSize int64) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), "big-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	name := "0123456789ABCDEF_batch_E0E0_Certs.7z"
	if err := WriteEmpty7z(filepath.Join(dir, name), innerSize); err != nil {
		return err
	}
	return generate.Run7z(dir, path, generate.ArchiveOptions{Level: 1}, name)
}
