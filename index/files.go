package index

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Inode numbers: each file gets a block of four consecutive numbers
// starting at inoBase + 4*n, n from a persisted badger.Sequence, and Ino is
// the block's first. Which node gets which number of the block is core's to
// say (core/inodes.go, which also lays out every other range). The sequence
// leases numbers in blocks, so a crash leaves a gap, never a reuse.
const (
	inoBase = 1 << 40
	inoStep = 4
)

func (db *DB) allocIno() (uint64, error) {
	n, err := db.inoSeq.Next()
	if err != nil {
		return 0, err
	}
	return inoBase + inoStep*n, nil
}

// Put inserts or updates the record of f.App/f.UUID. A new record gets a
// fresh Ino; a record that has no LinkName gets one from Name (see the link
// name rules in names.go). An existing record keeps its Ino and LinkName
// whatever f holds; every other field is replaced by f's. On success f.Ino
// and f.LinkName hold the stored values.
func (db *DB) Put(f *File) error {
	if err := checkFile(f); err != nil {
		return err
	}
	var stored File
	err := db.update(func(txn *badger.Txn) error {
		var err error
		stored, err = db.putFile(txn, *f)
		return err
	})
	if err == nil {
		// Durable before the record log says so: a power cut must not leave
		// the log holding a record the index lost, which Open calls damage.
		err = db.sync()
	}
	if err != nil {
		return fmt.Errorf("index: put %s/%s: %w", f.App, f.UUID, err)
	}
	db.logPut(stored)
	f.Ino, f.LinkName = stored.Ino, stored.LinkName
	return nil
}

func checkFile(f *File) error {
	if err := checkApp(f.App); err != nil {
		return err
	}
	return checkPart("uuid", f.UUID)
}

// putFile is Put inside txn; it returns the record as stored. A new file
// draws an inode number each time putFile runs, so a transaction rerun by
// update skips the number drawn by the lost attempt (a gap, never a reuse).
func (db *DB) putFile(txn *badger.Txn, f File) (File, error) {
	key := appKey(pfxFile, f.App, f.UUID)
	var old File
	switch err := getJSON(txn, key, &old); {
	case err == nil:
		f.Ino, f.LinkName = old.Ino, old.LinkName
	case errors.Is(err, ErrNotFound):
		ino, err := db.allocIno()
		if err != nil {
			return File{}, err
		}
		f.Ino, f.LinkName = ino, ""
	default:
		return File{}, err
	}
	if f.LinkName == "" && f.Name != "" {
		name, err := assignLinkName(txn, f.App, f.Folder, f.Name, f.UUID)
		if err != nil {
			return File{}, err
		}
		f.LinkName = name
	}
	b, err := marshal(&f)
	if err != nil {
		return File{}, err
	}
	return f, txn.Set(key, b)
}

// Get returns the record of app/uuid, or ErrNotFound.
func (db *DB) Get(app, uuid string) (File, error) {
	var f File
	err := db.bdb.View(func(txn *badger.Txn) error {
		return getJSON(txn, appKey(pfxFile, app, uuid), &f)
	})
	return f, err
}

// List calls fn for every record of app in uuid order, stopping at the
// first error fn returns (which List returns). Records are decoded one at a
// time from a read snapshot taken when List starts, so memory does not grow
// with the number of records.
func (db *DB) List(app string, fn func(File) error) error {
	if err := checkApp(app); err != nil {
		return err
	}
	return db.scan(appPrefix(pfxFile, app, false), func(_, v []byte) error {
		var f File
		if err := unmarshal(v, &f); err != nil {
			return err
		}
		return fn(f)
	})
}

// Count returns how many records app has. It reads keys only.
func (db *DB) Count(app string) (int, error) {
	if err := checkApp(app); err != nil {
		return 0, err
	}
	n := 0
	err := db.bdb.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		o.Prefix = appPrefix(pfxFile, app, false)
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// scan calls fn with each key and value under prefix, in key order, inside
// one read snapshot. Key and value are valid only during the call.
func (db *DB) scan(prefix []byte, fn func(k, v []byte) error) error {
	return db.bdb.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		o.Prefix = prefix
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if err := item.Value(func(v []byte) error { return fn(item.Key(), v) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// Forget removes the record of app/uuid and frees its link name. It
// returns ErrNotFound when there is no such record.
func (db *DB) Forget(app, uuid string) error {
	db.logForget(app, uuid) // first: a crash before the delete leaves the record in the index alone, and Open logs it again
	return db.update(func(txn *badger.Txn) error {
		key := appKey(pfxFile, app, uuid)
		var f File
		if err := getJSON(txn, key, &f); err != nil {
			return err
		}
		if err := dropLinkName(txn, app, f.LinkName, uuid); err != nil {
			return err
		}
		return txn.Delete(key)
	})
}

// MarkExpired records that the server answered file_expired for app/uuid
// at time at; an expiry time recorded later than that (the app keeps files
// for less than chatfs was told) is corrected to at.
// It returns ErrNotFound when there is no such record.
func (db *DB) MarkExpired(app, uuid string, at time.Time) error {
	return db.update(func(txn *badger.Txn) error {
		key := appKey(pfxFile, app, uuid)
		var f File
		if err := getJSON(txn, key, &f); err != nil {
			return err
		}
		if f.Expired && (f.Expires.IsZero() || !f.Expires.After(at)) {
			return nil
		}
		f.Expired, f.Forever = true, false // the server's word wins
		if f.Expires.IsZero() || f.Expires.After(at) {
			f.Expires = at
		}
		b, err := marshal(&f)
		if err != nil {
			return err
		}
		return txn.Set(key, b)
	})
}

// LookupName returns the record shown as by-name/<name> in app, or
// ErrNotFound.
func (db *DB) LookupName(app, name string) (File, error) {
	var f File
	err := db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(appKey(pfxName, app, name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		uuid, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		return getJSON(txn, appKey(pfxFile, app, string(uuid)), &f)
	})
	return f, err
}

// ListNames calls fn with every link name of app and the uuid it points to,
// in byte order of the names, from one read snapshot, stopping at the first
// error fn returns.
func (db *DB) ListNames(app string, fn func(name, uuid string) error) error {
	if err := checkApp(app); err != nil {
		return err
	}
	prefix := appPrefix(pfxName, app, false)
	return db.scan(prefix, func(k, v []byte) error {
		return fn(string(k[len(prefix):]), string(v))
	})
}

// ListNamesIn is ListNames for the links under by-name/<folder>/, at any
// depth; names are given whole ("album/x.jpg").
func (db *DB) ListNamesIn(app, folder string, fn func(name, uuid string) error) error {
	if err := checkApp(app); err != nil {
		return err
	}
	base := appPrefix(pfxName, app, false)
	prefix := append(append([]byte(nil), base...), folder+"/"...)
	return db.scan(prefix, func(k, v []byte) error {
		return fn(string(k[len(base):]), string(v))
	})
}

// SetExpiry records a file's new lifetime, as the service's lifetime API
// set it: forever (it never expires), or an expiry time (zero: unknown).
// Only those fields change, in one transaction, so a concurrent Put of
// other fields is not lost; the record log records the result. It returns
// the record as stored, or ErrNotFound when there is no such record.
func (db *DB) SetExpiry(app, uuid string, expires time.Time, forever bool) (File, error) {
	var f File
	err := db.update(func(txn *badger.Txn) error {
		key := appKey(pfxFile, app, uuid)
		if err := getJSON(txn, key, &f); err != nil {
			return err
		}
		f.Expires, f.Forever = expires, forever
		if forever {
			f.Expires = time.Time{}
		}
		b, err := marshal(&f)
		if err != nil {
			return err
		}
		return txn.Set(key, b)
	})
	if err == nil {
		err = db.sync()
	}
	if err != nil {
		return File{}, fmt.Errorf("index: set expiry of %s/%s: %w", app, uuid, err)
	}
	db.logPut(f)
	return f, nil
}
