package cache

import (
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// Every complete entry records its size and a CRC-32C of its bytes in the
// extended attribute sumXattr of its file, written by the fill (or Adopt)
// before the file gets its final name. An entry found on disk when the
// Cache opens is checked against that record: a size that differs (the
// file was cut) drops it at once; the checksum is checked at the entry's
// first Open, which reads the file once, and a mismatch (the file was
// damaged) drops it too, so that the Open fetches it again. Files without a
// record (a filesystem without user xattrs, an older chatfs) are trusted as
// they are; the opener's size, when it knows one, still has to match.
//
// The record is also what lets a fill skip fsync: the record is set before
// the rename that gives the file its final name, so after a crash a file
// under its final name either carries its record, or was synced because
// it could not (see fill.download). Whatever a crash leaves of its bytes
// (a shorter file, or holes read as zeros) disagrees with the record, and
// the entry is fetched again, never served short.
const sumXattr = "user.chatfs.sum"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func newSum() hash.Hash32 { return crc32.New(castagnoli) }

// record is what an entry's file says of itself.
type record struct {
	size int64
	crc  uint32
}

func (r record) String() string { return fmt.Sprintf("%d %08x", r.size, r.crc) }

// recordSum writes the record on f and reports whether it could. A
// filesystem without user xattrs only loses the check (and a fill then
// syncs its file instead), so a failure is logged, not returned.
func recordSum(f *os.File, size int64, crc uint32, log *slog.Logger) bool {
	v := record{size, crc}.String()
	if err := unix.Fsetxattr(int(f.Fd()), sumXattr, []byte(v), 0); err != nil {
		log.Debug("cache: cannot record checksum", "file", f.Name(), "err", err)
		return false
	}
	return true
}

// readSum reads the record of the file at path; ok is false when it has
// none or an unreadable one.
func readSum(path string) (r record, ok bool) {
	buf := make([]byte, 64)
	n, err := unix.Getxattr(path, sumXattr, buf)
	if err != nil {
		return record{}, false
	}
	if _, err := fmt.Sscanf(string(buf[:n]), "%d %x", &r.size, &r.crc); err != nil {
		return record{}, false
	}
	return r, true
}

// errDamaged: a complete entry's bytes disagree with its record.
var errDamaged = errors.New("cache: entry damaged")

// verifyFile reads the file at path and checks it against want.
func verifyFile(path string, want record) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := newSum()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if got := (record{n, h.Sum32()}); got != want {
		return fmt.Errorf("%w: %s holds %s, recorded %s", errDamaged, path, got, want)
	}
	return nil
}

// sumFile records the size and checksum of a file already complete (an
// adopted upload), reading it once.
func sumFile(path string, log *slog.Logger) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	h := newSum()
	n, err := io.Copy(h, f)
	if err != nil {
		return
	}
	recordSum(f, n, h.Sum32(), log)
}
