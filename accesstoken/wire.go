package accesstoken

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The helpers below implement the AccessToken2 primitive encodings: all
// integers little-endian, strings as a uint16 byte length then the bytes.

var errTooLong = errors.New("field longer than 65535 bytes")

func appendU16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

func appendStr(b []byte, s string) ([]byte, error) {
	if len(s) > math.MaxUint16 {
		return nil, errTooLong
	}
	b = appendU16(b, uint16(len(s)))
	return append(b, s...), nil
}

// reader decodes primitives from a byte slice with strict bounds checks. The
// first failure sticks in err and every later read returns zero values, so a
// decoder can read a whole structure and check err once.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// take returns the next n bytes (aliasing the input), or nil after a failure.
func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail("truncated %s at offset %d", what, r.off)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u16(what string) uint16 {
	if s := r.take(2, what); s != nil {
		return binary.LittleEndian.Uint16(s)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if s := r.take(4, what); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (r *reader) bytes(what string) []byte {
	n := r.u16(what + " length")
	return r.take(int(n), what)
}

func (r *reader) str(what string) string { return string(r.bytes(what)) }

func (r *reader) remaining() int { return len(r.b) - r.off }
