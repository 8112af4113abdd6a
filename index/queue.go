package index

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The upload queue holds one entry per (App, Path) under q/. Each Waiting
// entry also has a key under w/ that sorts by the time it became claimable —
// the later of when it was (re)queued and its NotBefore — so Claim and
// NextWake read a single key instead of scanning the queue. Each app's
// entries are claimed oldest first in that order; Claim takes one app's
// entries only (the w/ keys are grouped by app), so one app's backlog never
// delays another's.
//
// State changes:
//
//	Enqueue:  any (or none)  → Waiting
//	Hold:     any (or none)  → Held (complete, but under a temporary name)
//	MarkFailed: any (or none) → Failed (refused locally: cut while written, ...)
//	Claim:    Waiting        → Uploading
//	Fail:     Uploading      → Waiting (retry) or Failed (permanent)
//	Complete: Uploading      → Done (and the File is recorded)
//	Open:     Uploading      → Waiting (an upload cut by a crash)
//	Rename:   Uploading      → Waiting (the name uploaded is stale); others keep their state
//	Remove, Invalidate: any  → gone
//
// An entry put back to Waiting by Open or Rename keeps its place in the
// claim order.
//
// An entry is the outbox's durable word that its staged file is complete:
// a file with no entry was never closed successfully since its last change
// (Invalidate drops the entry before a change reaches the disk).
//
// Fail and Complete change an entry only while it is Uploading: when the
// file was queued again (Enqueue), renamed or removed during its upload, the
// report is stale and the entry is left alone (Complete still records the
// File: the upload did happen). The queue cannot tell two claims of one
// path apart, so an uploader that re-queues a path should cancel the upload
// of that path still in flight.
//
// Enqueue, Hold, MarkFailed, Invalidate, Complete and Rename are synced to
// disk before they return; Claim, Fail and Remove are not (lost, they only
// cause a retry, or leave an entry whose file is gone).

// queueRecord is the stored form of an entry.
type queueRecord struct {
	Upload
	Wait  []byte `json:",omitempty"` // its w/ key while Waiting
	Place []byte `json:",omitempty"` // its last w/ key, to requeue a cut upload in its old place
}

func getQueue(txn *badger.Txn, app, path string) (queueRecord, error) {
	var r queueRecord
	err := getJSON(txn, appKey(pfxQueue, app, path), &r)
	return r, err
}

func putQueue(txn *badger.Txn, r *queueRecord) error {
	b, err := marshal(r)
	if err != nil {
		return err
	}
	return txn.Set(appKey(pfxQueue, r.App, r.Path), b)
}

// wait files r as Waiting, claimable from when. It draws a queue sequence
// number each time it runs: when update reruns the transaction, the number
// drawn by the lost attempt is skipped (a gap in the order, never a reuse).
func (db *DB) wait(txn *badger.Txn, r *queueRecord, when time.Time) error {
	if err := unwait(txn, r); err != nil {
		return err
	}
	seq, err := db.qSeq.Next()
	if err != nil {
		return err
	}
	r.State = Waiting
	r.Wait = waitKey(r.App, when, seq)
	r.Place = r.Wait
	return txn.Set(r.Wait, appKey("", r.App, r.Path))
}

// rewait files r, an Uploading entry whose upload was cut, as Waiting in
// the place it was claimed from (its w/ key was deleted by Claim, and
// sequence numbers are never reused, so the key is free).
func (db *DB) rewait(txn *badger.Txn, r *queueRecord) error {
	if r.Place == nil {
		return db.wait(txn, r, later(r.NotBefore, r.Updated))
	}
	r.State, r.Wait = Waiting, r.Place
	return txn.Set(r.Wait, appKey("", r.App, r.Path))
}

// unwait drops r's w/ key, if any.
func unwait(txn *badger.Txn, r *queueRecord) error {
	if r.Wait == nil {
		return nil
	}
	err := txn.Delete(r.Wait)
	r.Wait = nil
	return err
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func checkEntry(app, path string) error {
	if err := checkApp(app); err != nil {
		return err
	}
	return checkPart("path", path)
}

// Enqueue queues app/path for upload: a new entry, or an existing one in
// any state, becomes Waiting with Error, Permanent, Attempts, NotBefore and
// UUID cleared. It is on disk when Enqueue returns.
func (db *DB) Enqueue(app, path string) error {
	return db.enqueue(app, path, Stamp{})
}

// Vouch records that a writer closed app/path complete, as the file stood
// then (s): Enqueue, or Hold when hold is set (a temporary name), keeping s
// in the entry for the uploader to check against.
func (db *DB) Vouch(app, path string, s Stamp, hold bool) error {
	if hold {
		return db.setState(app, path, Held, "", s)
	}
	return db.enqueue(app, path, s)
}

// enqueue is Enqueue, recording s as the entry's stamp (a zero s keeps the
// stamp the entry had).
func (db *DB) enqueue(app, path string, s Stamp) error {
	if err := checkEntry(app, path); err != nil {
		return err
	}
	now := db.now()
	err := db.update(func(txn *badger.Txn) error {
		r, err := getQueue(txn, app, path)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if !s.Known() {
			s = r.Stamp
		}
		r = queueRecord{Upload: Upload{App: app, Path: path, Updated: now, Stamp: s}, Wait: r.Wait}
		if err := db.wait(txn, &r, now); err != nil {
			return err
		}
		return putQueue(txn, &r)
	})
	if err == nil {
		err = db.sync()
	}
	return wrap("enqueue", app, path, err)
}

// Hold records app/path as complete but not to be uploaded (a temporary
// name): Held, with Error, Attempts and NotBefore cleared. Renamed to an
// ordinary name and queued with Enqueue, it is uploaded. On disk when Hold
// returns.
func (db *DB) Hold(app, path string) error {
	return db.setState(app, path, Held, "", Stamp{})
}

// MarkFailed records that app/path must not be uploaded until it changes:
// Failed and Permanent, with reason in Error, whatever its state was (or
// a new entry). On disk when MarkFailed returns.
func (db *DB) MarkFailed(app, path, reason string) error {
	return db.setState(app, path, Failed, reason, Stamp{})
}

// setState replaces the entry of app/path by one in state (Held or
// Failed), out of the claim order, and syncs it.
func (db *DB) setState(app, path string, state UploadState, reason string, s Stamp) error {
	if err := checkEntry(app, path); err != nil {
		return err
	}
	now := db.now()
	err := db.update(func(txn *badger.Txn) error {
		r, err := getQueue(txn, app, path)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := unwait(txn, &r); err != nil {
			return err
		}
		if state == Held && !s.Known() {
			s = r.Stamp
		}
		r = queueRecord{Upload: Upload{App: app, Path: path, State: state, Error: reason, Permanent: state == Failed, Updated: now, Stamp: s}}
		return putQueue(txn, &r)
	})
	if err == nil {
		err = db.sync()
	}
	return wrap(string(state), app, path, err)
}

// Invalidate drops the entry of app/path, if any, and syncs the drop: the
// staged file is about to change, and is not complete again until a writer
// closes it. existed reports whether there was an entry.
func (db *DB) Invalidate(app, path string) (existed bool, err error) {
	if err := checkEntry(app, path); err != nil {
		return false, err
	}
	err = db.update(func(txn *badger.Txn) error {
		_, gerr := getQueue(txn, app, path)
		existed = gerr == nil
		return dropEntry(txn, app, path)
	})
	if err == nil && existed {
		err = db.sync()
	}
	return existed, wrap("invalidate", app, path, err)
}

// Claim takes the Waiting entry of app that has been claimable the
// longest (its NotBefore and queueing time both at or before now), marks
// it Uploading and returns it. ok is false when no entry is claimable.
// Concurrent Claims never return the same entry: each claim is one
// transaction, and of two that read the same entry only one commits.
func (db *DB) Claim(app string, now time.Time) (u Upload, ok bool, err error) {
	if err := checkApp(app); err != nil {
		return Upload{}, false, err
	}
	err = db.update(func(txn *badger.Txn) error {
		ok = false
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		o.Prefix = appPrefix(pfxWait, app, false)
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			key := item.KeyCopy(nil)
			if waitKeyTime(key).After(now) {
				return nil
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			app, path := splitAppKey("", v)
			r, err := getQueue(txn, app, path)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err := txn.Delete(key); err != nil {
				return err
			}
			if err != nil || !bytes.Equal(r.Wait, key) { // stale w/ key: drop and go on
				continue
			}
			r.Wait, r.State, r.Updated = nil, Uploading, now
			if err := putQueue(txn, &r); err != nil {
				return err
			}
			u, ok = r.Upload, true
			return nil
		}
		return nil
	})
	if err != nil {
		return Upload{}, false, fmt.Errorf("index: claim: %w", err)
	}
	return u, ok, nil
}

// Wake makes every Waiting entry of app that is not yet claimable (its
// NotBefore in the future: a retry backing off) claimable now, keeping
// their order. Uploaders call it when what made them back off is mended
// (a new token after 401s). It returns how many entries it woke.
func (db *DB) Wake(app string) (int, error) {
	if err := checkApp(app); err != nil {
		return 0, err
	}
	now := db.now()
	type later struct{ app, path string }
	var due []later
	err := db.scan(appPrefix(pfxWait, app, false), func(k, v []byte) error {
		if waitKeyTime(k).After(now) {
			a, p := splitAppKey("", v)
			due = append(due, later{a, p})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("index: wake: %w", err)
	}
	woke := 0
	for start := 0; start < len(due); start += recoverBatch {
		batch := due[start:min(start+recoverBatch, len(due))]
		err := db.update(func(txn *badger.Txn) error {
			woke = start
			for _, e := range batch {
				r, err := getQueue(txn, e.app, e.path)
				if errors.Is(err, ErrNotFound) || (err == nil && r.State != Waiting) {
					continue
				}
				if err != nil {
					return err
				}
				r.NotBefore = time.Time{}
				if err := db.wait(txn, &r, now); err != nil {
					return err
				}
				if err := putQueue(txn, &r); err != nil {
					return err
				}
				woke++
			}
			return nil
		})
		if err != nil {
			return woke, wrap("wake", app, "", err)
		}
	}
	return woke, nil
}

// NextWake returns when the next Waiting entry becomes claimable (a time
// at or before now means one is claimable already); ok is false when
// nothing of app is waiting. Upload workers sleep until then or until an
// Enqueue.
func (db *DB) NextWake(app string) (t time.Time, ok bool) {
	err := db.bdb.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		o.Prefix = appPrefix(pfxWait, app, false)
		it := txn.NewIterator(o)
		defer it.Close()
		if it.Rewind(); it.Valid() {
			t, ok = waitKeyTime(it.Item().Key()), true
		}
		return nil
	})
	if err != nil {
		db.log.Error("index: next wake", "err", err)
		return time.Time{}, false
	}
	return t, ok
}

// Fail reports that the upload of a claimed (Uploading) entry failed, with
// reason kept in Error for display. A permanent failure makes the entry
// Failed until it is queued again; otherwise it becomes Waiting with
// Attempts+1, not claimable before retryAt. A stale report (the entry is no
// longer Uploading) changes nothing. Fail returns ErrNotFound when there is
// no entry.
func (db *DB) Fail(app, path, reason string, permanent bool, retryAt time.Time) error {
	now := db.now()
	err := db.update(func(txn *badger.Txn) error {
		r, err := getQueue(txn, app, path)
		if err != nil {
			return err
		}
		if r.State != Uploading {
			return nil
		}
		r.Attempts++
		r.Error, r.Permanent, r.Updated = reason, permanent, now
		if permanent {
			r.State, r.Place = Failed, nil
			if err := unwait(txn, &r); err != nil {
				return err
			}
		} else {
			r.NotBefore = retryAt
			if err := db.wait(txn, &r, later(retryAt, now)); err != nil {
				return err
			}
		}
		return putQueue(txn, &r)
	})
	return wrap("fail", app, path, err)
}

// Complete records a finished upload in one transaction: f is Put (same
// rules as Put; f.App defaults to app), shown in its conversations'
// folders when it carries the message it was sent with (f.Msg, send/), and the entry, if still Uploading,
// becomes Done with f's UUID, so a crash after Complete never uploads the
// file again. A missing or stale entry is left alone. It is on disk when
// Complete returns; f.Ino and f.LinkName then hold the stored values.
func (db *DB) Complete(app, path string, f *File) error {
	if f.App == "" {
		f.App = app
	}
	if f.App != app && app != SendQueue(f.App) {
		return fmt.Errorf("%w: file of app %q completes an upload of app %q", errInvalid, f.App, app)
	}
	if err := checkEntry(app, path); err != nil {
		return err
	}
	if err := checkFile(f); err != nil {
		return err
	}
	now := db.now()
	var stored File
	err := db.update(func(txn *badger.Txn) error {
		var err error
		if stored, err = db.putFile(txn, *f); err != nil {
			return err
		}
		if err := sentMessage(txn, &stored); err != nil {
			return err
		}
		r, err := getQueue(txn, app, path)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil || r.State != Uploading {
			return err
		}
		r.State, r.UUID, r.Updated = Done, f.UUID, now
		r.Error, r.Permanent, r.NotBefore, r.Place = "", false, time.Time{}, nil
		if err := unwait(txn, &r); err != nil {
			return err
		}
		return putQueue(txn, &r)
	})
	if err == nil {
		err = db.sync()
	}
	if err == nil {
		db.logPut(stored)
		f.Ino, f.LinkName = stored.Ino, stored.LinkName
	}
	return wrap("complete", app, path, err)
}

// sentMessage shows a file sent from send/ (one whose record carries its
// message) in its conversations' folders at once, as the history import
// will, and marks the attachment imported so that the import, which
// finds the same message later, adds nothing twice.
func sentMessage(txn *badger.Txn, f *File) error {
	if f.Msg == nil {
		return nil
	}
	m := Message{MsgFacts: *f.Msg, UUID: f.UUID, Name: f.Name}
	if err := checkMessage(&m); err != nil {
		return err
	}
	if err := txn.Set(appKey(pfxMsg, f.App, m.MsgID+"\x00"+m.UUID), nil); err != nil {
		return err
	}
	for _, fo := range m.Folders() {
		if err := addChatEntry(txn, f.App, fo[0], fo[1], &m); err != nil {
			return err
		}
	}
	return nil
}

// SendQueue is the name of the queue of app's send/ outbox, which the
// queue methods take in place of an app name: its entries are claimed
// apart from upload/'s, and Complete records their files as app's. App
// names are directory names, which never hold '/', so it names no app.
func SendQueue(app string) string { return app + "/send" }

// Uploaded records that the claimed (Uploading) entry of app/path was
// uploaded as f, whose message is still to be sent: the entry keeps f
// through Fail, Requeue, Rename and a crash, so that the file is never
// uploaded again, only sent, until a change queues it anew (Enqueue). It
// is on disk when Uploaded returns. A stale report (the entry no longer
// Uploading) changes nothing and returns ErrNotFound.
func (db *DB) Uploaded(app, path string, f File) error {
	if err := checkEntry(app, path); err != nil {
		return err
	}
	if err := checkFile(&f); err != nil {
		return err
	}
	now := db.now()
	err := db.update(func(txn *badger.Txn) error {
		r, err := getQueue(txn, app, path)
		if err != nil {
			return err
		}
		if r.State != Uploading {
			return ErrNotFound
		}
		r.Uploaded, r.Updated = &f, now
		return putQueue(txn, &r)
	})
	if err == nil {
		err = db.sync()
	}
	return wrap("uploaded", app, path, err)
}

// Requeue puts a claimed (Uploading) entry of app/path back to Waiting in
// the place it was claimed from, keeping all it knows (Attempts, Error,
// Uploaded): its attempt was cut, not failed. Other states are left alone.
func (db *DB) Requeue(app, path string) error {
	now := db.now()
	err := db.update(func(txn *badger.Txn) error {
		r, err := getQueue(txn, app, path)
		if err != nil || r.State != Uploading {
			return err
		}
		r.Updated = now
		if err := db.rewait(txn, &r); err != nil {
			return err
		}
		return putQueue(txn, &r)
	})
	return wrap("requeue", app, path, err)
}

// Remove drops the entry of app/path in whatever state; a missing entry is
// not an error.
func (db *DB) Remove(app, path string) error {
	err := db.update(func(txn *badger.Txn) error {
		return dropEntry(txn, app, path)
	})
	return wrap("remove", app, path, err)
}

// GetUpload returns the entry of app/path, or ErrNotFound.
func (db *DB) GetUpload(app, path string) (Upload, error) {
	var r queueRecord
	err := db.bdb.View(func(txn *badger.Txn) error {
		var err error
		r, err = getQueue(txn, app, path)
		return err
	})
	return r.Upload, err
}

// ListUploads calls fn with every entry of app ("" for all apps) in (app,
// path) byte order, from one read snapshot, stopping at the first error fn
// returns.
func (db *DB) ListUploads(app string, fn func(Upload) error) error {
	if app != "" {
		if err := checkApp(app); err != nil {
			return err
		}
	}
	return db.scan(appPrefix(pfxQueue, app, app == ""), func(_, v []byte) error {
		var r queueRecord
		if err := unmarshal(v, &r); err != nil {
			return err
		}
		return fn(r.Upload)
	})
}

// Counts returns how many entries of app ("" for all apps) are waiting,
// uploading and failed. It reads every entry of app.
func (db *DB) Counts(app string) (waiting, uploading, failed int, err error) {
	err = db.ListUploads(app, func(u Upload) error {
		switch u.State {
		case Waiting:
			waiting++
		case Uploading:
			uploading++
		case Failed:
			failed++
		}
		return nil
	})
	return waiting, uploading, failed, err
}

func wrap(op, app, path string, err error) error {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, errInvalid) {
		return err
	}
	return fmt.Errorf("index: %s %s/%s: %w", op, app, strings.TrimPrefix(path, "/"), err)
}
