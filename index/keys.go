package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Key layout (schema 1). App names never contain NUL, so "<app>\x00" is an
// unambiguous prefix for everything of one app; uuids, names and paths
// follow it and may hold any other byte.
//
//	meta/schema            decimal SchemaVersion
//	meta/seq/ino           badger.Sequence lease for inode numbers
//	meta/seq/queue         badger.Sequence lease for queue ordering
//	f/<app>\x00<uuid>      File as JSON
//	n/<app>\x00<linkname>  uuid of the file shown as by-name/<linkname>
//	h/<app>\x00<name>      last collision suffix used for <name> (decimal)
//	q/<app>\x00<path>      queueRecord as JSON
//	w/<app>\x00<when><seq> "<app>\x00<path>" of a Waiting entry; <when> is
//	                       the big-endian unix-nano time it becomes
//	                       claimable, <seq> a big-endian tiebreak (from
//	                       meta/seq/queue), so the first key under
//	                       w/<app>\x00 is the app's next entry to claim
const (
	keySchema   = "meta/schema"
	keyInoSeq   = "meta/seq/ino"
	keyQueueSeq = "meta/seq/queue"

	pfxFile  = "f/"
	pfxName  = "n/"
	pfxHint  = "h/"
	pfxQueue = "q/"
	pfxWait  = "w/"
)

// appKey returns prefix + app + "\x00" + rest.
func appKey(prefix, app, rest string) []byte {
	b := make([]byte, 0, len(prefix)+len(app)+1+len(rest))
	b = append(b, prefix...)
	b = append(b, app...)
	b = append(b, 0)
	return append(b, rest...)
}

// appPrefix is the prefix of every key of app under prefix; app "" with
// all set means every app.
func appPrefix(prefix, app string, all bool) []byte {
	if all {
		return []byte(prefix)
	}
	return appKey(prefix, app, "")
}

// splitAppKey undoes appKey.
func splitAppKey(prefix string, key []byte) (app, rest string) {
	s := string(key[len(prefix):])
	app, rest, _ = strings.Cut(s, "\x00")
	return app, rest
}

// waitKey orders a Waiting entry of app by when it becomes claimable.
func waitKey(app string, when time.Time, seq uint64) []byte {
	b := appKey(pfxWait, app, "")
	b = binary.BigEndian.AppendUint64(b, nanos(when))
	return binary.BigEndian.AppendUint64(b, seq)
}

// waitKeyTime reads the time of a waitKey: the 16 bytes after the app are
// time and sequence.
func waitKeyTime(key []byte) time.Time {
	return time.Unix(0, int64(u64(key[len(key)-16:])))
}

func nanos(t time.Time) uint64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return uint64(t.UnixNano())
}

// errInvalid reports an argument the index cannot key.
var errInvalid = errors.New("index: invalid argument")

func checkApp(app string) error {
	if app == "" || strings.IndexByte(app, 0) >= 0 {
		return fmt.Errorf("%w: app name %q", errInvalid, app)
	}
	return nil
}

func checkPart(what, s string) error {
	if s == "" || strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %s %q", errInvalid, what, s)
	}
	return nil
}
