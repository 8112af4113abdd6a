package index

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Rename moves the entry of app/oldPath to newPath and, when oldPath is a
// directory, every entry under oldPath+"/" to the same place under
// newPath+"/", in one transaction. Entries at newPath and under
// newPath+"/" are dropped first, even when oldPath has none: rename(2)
// replaced what stood there, and an entry must not vouch for a file it
// does not describe. Moved entries keep their state, except that an Uploading one
// becomes Waiting: the name being uploaded is stale (its in-flight
// Complete or Fail will find no entry and change nothing). Renaming a
// directory into itself or onto its ancestor is refused. It is on disk when Rename returns.
//
// The whole move is one transaction, so a directory of more entries than
// badger's transaction limit (tens of thousands) fails with
// badger.ErrTxnTooBig and moves nothing.
func (db *DB) Rename(app, oldPath, newPath string) error {
	if err := checkEntry(app, oldPath); err != nil {
		return err
	}
	if err := checkPart("path", newPath); err != nil {
		return err
	}
	if oldPath == newPath {
		return nil
	}
	if strings.HasPrefix(newPath, oldPath+"/") || strings.HasPrefix(oldPath, newPath+"/") {
		// Into itself, or onto an ancestor (never empty, so rename(2)
		// refuses it too); either would move entries onto one another.
		return fmt.Errorf("%w: rename %q to %q", errInvalid, oldPath, newPath)
	}
	now := db.now()
	err := db.update(func(txn *badger.Txn) error {
		froms, err := entriesAt(txn, app, oldPath)
		if err != nil {
			return err
		}
		// Whatever stood at the destination is replaced, even by a file
		// with no entry (one not complete): its entry must not vouch for it.
		tos, err := entriesAt(txn, app, newPath)
		if err != nil {
			return err
		}
		for _, to := range tos {
			if err := dropEntry(txn, app, to); err != nil {
				return err
			}
		}
		for _, from := range froms {
			to := newPath + from[len(oldPath):]
			r, err := getQueue(txn, app, from)
			if err != nil {
				return err
			}
			if err := dropEntry(txn, app, to); err != nil {
				return err
			}
			if err := txn.Delete(appKey(pfxQueue, app, from)); err != nil {
				return err
			}
			r.Path = to
			switch {
			case r.State == Uploading:
				r.Updated = now
				if err := db.rewait(txn, &r); err != nil {
					return err
				}
			case r.Wait != nil: // same w/ key, new target
				if err := txn.Set(r.Wait, appKey("", app, to)); err != nil {
					return err
				}
			}
			if err := putQueue(txn, &r); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = db.sync()
	}
	return wrap("rename", app, oldPath, err)
}

// entriesAt lists the paths of the entry at p and of those under p+"/".
func entriesAt(txn *badger.Txn, app, p string) ([]string, error) {
	var paths []string
	if _, err := txn.Get(appKey(pfxQueue, app, p)); err == nil {
		paths = append(paths, p)
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return nil, err
	}
	o := badger.DefaultIteratorOptions
	o.PrefetchValues = false
	o.Prefix = appKey(pfxQueue, app, p+"/")
	it := txn.NewIterator(o)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		_, rest := splitAppKey(pfxQueue, it.Item().Key())
		paths = append(paths, rest)
	}
	return paths, nil
}

// dropEntry deletes the entry at app/path, if any, with its w/ key.
func dropEntry(txn *badger.Txn, app, path string) error {
	r, err := getQueue(txn, app, path)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := unwait(txn, &r); err != nil {
		return err
	}
	return txn.Delete(appKey(pfxQueue, app, path))
}

// recoverBatch bounds the entries recoverQueue rewrites per transaction.
const recoverBatch = 512

// recoverQueue puts back to Waiting, in its old place, every entry a crash
// left Uploading. Done entries stay Done.
func (db *DB) recoverQueue() error {
	type key struct{ app, path string }
	var stuck []key
	err := db.scan([]byte(pfxQueue), func(_, v []byte) error {
		var r queueRecord
		if err := unmarshal(v, &r); err != nil {
			return err
		}
		if r.State == Uploading {
			stuck = append(stuck, key{r.App, r.Path})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: recover queue: %w", err)
	}
	now := db.now()
	for len(stuck) > 0 {
		batch := stuck[:min(len(stuck), recoverBatch)]
		stuck = stuck[len(batch):]
		err := db.update(func(txn *badger.Txn) error {
			for _, k := range batch {
				r, err := getQueue(txn, k.app, k.path)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if r.State != Uploading {
					continue
				}
				if err := db.rewait(txn, &r); err != nil {
					return err
				}
				r.Updated = now
				if err := putQueue(txn, &r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("index: recover queue: %w", err)
		}
		db.log.Info("index: uploads cut by a restart are queued again", "count", len(batch))
	}
	return nil
}
