package index

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// openRecords reconciles the index with its record log and opens the log
// for appending (see records.go). Records the index holds and the log lacks
// are appended; records the log holds and the index lacks mean the index
// lost them, and Open fails with ErrDamaged, unless rebuilding.
func (db *DB) openRecords(rebuilding bool) error {
	path := RecordLogPath(db.dir)
	logged, st, err := ReadRecordLog(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("index: record log: %w", err)
	}
	if st.Bad > 0 {
		db.log.Warn("index: the record log has unreadable lines; they were skipped", "path", path, "lines", st.Bad)
	}
	type key struct{ app, uuid string }
	want := make(map[key]struct{}, len(logged))
	for _, f := range logged {
		want[key{f.App, f.UUID}] = struct{}{}
	}
	var extra []logLine
	held := 0
	err = db.scan([]byte(pfxFile), func(_, v []byte) error {
		var f File
		if err := unmarshal(v, &f); err != nil {
			return err
		}
		held++
		k := key{f.App, f.UUID}
		if _, ok := want[k]; ok {
			delete(want, k)
		} else {
			extra = append(extra, putLine(f, db.now()))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if len(want) > 0 && !rebuilding {
		var eg key
		for k := range want {
			eg = k
			break
		}
		return damaged(db.dir, "it lacks %d of the %d records its record log %s holds (e.g. %s/%s; it holds %d)",
			len(want), len(logged), path, eg.app, eg.uuid, held)
	}
	rec, err := openRecordLog(path)
	if err != nil {
		return fmt.Errorf("index: record log: %w", err)
	}
	db.rec = rec
	for len(extra) > 0 {
		n := min(len(extra), 1024)
		if err := rec.append(extra[:n]...); err != nil {
			return fmt.Errorf("index: record log: %w", err)
		}
		extra = extra[n:]
	}
	return nil
}

// logPut appends f to the record log. A failure is logged, not returned:
// the transaction has committed, and the next Open copies what the log
// lacks from the index.
func (db *DB) logPut(f File) {
	if db.rec == nil {
		return
	}
	if err := db.rec.append(putLine(f, db.now())); err != nil {
		db.log.Error("index: record log: not written; the next start copies it from the index",
			"app", f.App, "uuid", f.UUID, "err", err)
	}
}

// logForget appends that app/uuid is forgotten; see logPut.
func (db *DB) logForget(app, uuid string) {
	if db.rec == nil {
		return
	}
	if err := db.rec.append(logLine{Op: opForget, App: app, UUID: uuid, Logged: db.now()}); err != nil {
		db.log.Error("index: record log: forget not written", "app", app, "uuid", uuid, "err", err)
	}
}

// RebuildResult says what Rebuild did.
type RebuildResult struct {
	Records int      // records put in the new index
	Aside   string   // where the old index directory was moved ("" if there was none)
	Log     LogStats // the read of the record log
}

// Rebuild makes a new index in dir from its record log: the directory
// there (damaged, or missing) is moved aside to dir.damaged-TIME, kept for
// inspection, and every record the log holds is put in a fresh index. Link
// names and inode numbers are assigned afresh; the upload queue starts
// empty (the outbox queues staged files again when the mount starts).
// Rebuild fails with ErrLocked while a DB holds dir.
func Rebuild(dir string, o Options) (RebuildResult, error) {
	var res RebuildResult
	if dir == "" {
		return res, errors.New("index: no directory given")
	}
	files, st, err := ReadRecordLog(RecordLogPath(dir))
	if err != nil {
		return res, fmt.Errorf("index: no record log to rebuild from: %w", err)
	}
	res.Log = st
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if _, err := os.Stat(dir); err == nil {
		lock, err := lockDir(dir)
		if err != nil {
			return res, err
		}
		res.Aside = dir + ".damaged-" + now().UTC().Format("20060102T150405")
		err = os.Rename(dir, res.Aside)
		lock.release()
		if err != nil {
			return res, fmt.Errorf("index: %w", err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return res, fmt.Errorf("index: %w", err)
		}
	}
	o.rebuilding = true
	db, err := Open(dir, o)
	if err != nil {
		return res, err
	}
	for _, f := range files {
		if err := checkFile(&f); err != nil {
			continue
		}
		err := db.update(func(txn *badger.Txn) error {
			_, err := db.putFile(txn, f)
			return err
		})
		if err != nil {
			db.Close()
			return res, fmt.Errorf("index: rebuild: %w", err)
		}
		res.Records++
	}
	if err := db.sync(); err != nil {
		db.Close()
		return res, fmt.Errorf("index: rebuild: %w", err)
	}
	return res, db.Close()
}
