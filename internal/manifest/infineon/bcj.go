package infineon

import (
	"encoding/binary"
	"io"
)

// bcjReader undoes 7-Zip's x86 branch converter (method 03030103, "BCJ"),
// the filter 7-Zip puts before LZMA2 in Infineon's archives. The encoder
// turned the relative targets of E8 (CALL) and E9 (JMP) instructions into
// absolute ones; this turns them back. It is x86_Convert of the LZMA SDK
// (Bra86.c, public domain) for decoding, applied as data streams through:
// the last four bytes of a buffer may start an instruction whose operand
// is not read yet, so they wait for more data, and at the end of the
// stream pass unchanged.
type bcjReader struct {
	r     io.Reader
	buf   []byte
	out   int    // buf[out:conv] is converted, not yet returned
	conv  int    // buf[conv:end] is read, not yet converted
	end   int    //
	ip    uint32 // stream position of buf[0]
	state uint32 // x86_Convert's state between calls
	err   error  // of r, returned once the buffer is drained
}

func newBCJReader(r io.Reader) *bcjReader {
	return &bcjReader{r: r, buf: make([]byte, 32<<10)}
}

func (z *bcjReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for z.out == z.conv {
		if z.err != nil {
			if z.conv < z.end { // the unconverted tail of the stream
				z.conv = z.end
				break
			}
			return 0, z.err
		}
		// Keep the unconverted tail (at most 4 bytes) and read more.
		z.ip += uint32(z.conv)
		n := copy(z.buf, z.buf[z.conv:z.end])
		z.out, z.conv, z.end = 0, 0, n
		m, err := z.r.Read(z.buf[z.end:])
		z.end += m
		if err != nil {
			z.err = err
		}
		z.conv = x86Convert(z.buf[:z.end], z.ip, &z.state)
	}
	n := copy(p, z.buf[z.out:z.conv])
	z.out += n
	return n, nil
}

var (
	bcjMaskToAllowed = [8]bool{true, true, true, false, true, false, false, false}
	bcjMaskToBit     = [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
)

func bcjTest86MSByte(b byte) bool { return b == 0 || b == 0xFF }

// x86Convert decodes data, which starts at stream position ip, in place
// and returns how many bytes are final; state carries over to the next
// call, which must start at ip plus that count.
func x86Convert(data []byte, ip uint32, state *uint32) int {
	size := len(data)
	if size < 5 {
		return 0
	}
	ip += 5
	pos := 0
	prevPos := -1
	prevMask := *state & 7
	for {
		p := pos
		for p < size-4 && data[p]&0xFE != 0xE8 {
			p++
		}
		pos = p
		if p >= size-4 {
			break
		}
		d := pos - prevPos
		if d > 3 {
			prevMask = 0
		} else {
			prevMask = (prevMask << (d - 1)) & 7
			if prevMask != 0 {
				b := data[p+4-int(bcjMaskToBit[prevMask])]
				if !bcjMaskToAllowed[prevMask] || bcjTest86MSByte(b) {
					prevPos = pos
					prevMask = (prevMask<<1)&7 | 1
					pos++
					continue
				}
			}
		}
		prevPos = pos
		if !bcjTest86MSByte(data[p+4]) {
			prevMask = (prevMask<<1)&7 | 1
			pos++
			continue
		}
		src := binary.LittleEndian.Uint32(data[p+1:])
		var dest uint32
		for {
			dest = src - (ip + uint32(pos))
			if prevMask == 0 {
				break
			}
			index := bcjMaskToBit[prevMask] * 8
			if !bcjTest86MSByte(byte(dest >> (24 - index))) {
				break
			}
			src = dest ^ (1<<(32-index) - 1)
		}
		dest &= 0x01FFFFFF
		if dest&0x01000000 != 0 {
			dest |= 0xFF000000
		}
		binary.LittleEndian.PutUint32(data[p+1:], dest)
		pos += 5
	}
	if d := pos - prevPos; d > 3 {
		*state = 0
	} else {
		*state = (prevMask << (d - 1)) & 7
	}
	return pos
}
