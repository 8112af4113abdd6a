package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/chatfs/chatfs/internal/backoff"
)

// SchemaVersion is the layout of keys and records this package writes. Open
// refuses a directory whose stored version is newer.
const SchemaVersion = 1

// maxRetries bounds how often a transaction is rerun after badger.ErrConflict.
const maxRetries = 200

// conflictBackoff spreads the reruns of conflicting transactions after the
// third: a few microseconds at first, never more than 2ms.
var conflictBackoff = backoff.Policy{Initial: 20 * time.Microsecond, Max: 2 * time.Millisecond, Jitter: backoff.Full}

// Options configure Open. The zero value is usable.
type Options struct {
	// Logger receives badger's warnings and errors and the index's own
	// messages. Nil means slog.Default().
	Logger *slog.Logger
	// InMemory keeps everything in memory (tests); dir is then ignored and
	// nothing survives Close.
	InMemory bool
	// Now is the clock used for Upload.Updated and queue ordering. Nil means
	// time.Now.
	Now func() time.Time
	// MinFree is the space the index keeps free on its disk: writes (and
	// Open) fail with ErrNoSpace below it. Zero means DefaultMinFree; a
	// negative value turns the check off.
	MinFree int64

	rebuilding bool // Open by Rebuild: the index is expected to lack the log's records
}

// DB is the index: file records, by-name links and the upload queue.
//
// Every method is safe for concurrent use. There is no Go-level lock around
// the data: each method runs in one badger transaction (read-only methods in
// a snapshot), and write transactions that lose a race to a concurrent one
// (badger.ErrConflict) are rerun from scratch, so every method is atomic.
// Callbacks of the List* methods run inside a read snapshot: they see the
// data as it was when the listing began and may call write methods.
type DB struct {
	// read only after Open
	bdb     *badger.DB
	dir     string // "" when in memory
	log     *slog.Logger
	now     func() time.Time
	lock    *dirLock         // nil when in memory
	inoSeq  *badger.Sequence // allocates inode numbers, see allocIno
	qSeq    *badger.Sequence // orders queue entries that become claimable at the same instant
	minFree int64            // see Options.MinFree
	syncs   *groupSync       // shares syncs between concurrent writers
	rec     *recordLog       // nil when in memory; see records.go

	changes atomic.Uint64 // write transactions committed, see Changes

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the index kept in dir.
//
// dir is created with mode 0700, and files badger left readable by others
// are made 0600 (here and again on Close: badger creates its files 0666 less
// the umask; the 0700 directory keeps them private in between). Only one DB
// may use dir at a time: a second Open, from this process or another, fails
// with an error satisfying errors.Is(err, ErrLocked). Open refuses an index
// written by a newer schema. Entries left Uploading by a crash go back to
// Waiting.
func Open(dir string, o Options) (*DB, error) {
	db := &DB{log: o.Logger, now: o.Now, minFree: o.MinFree, syncs: newGroupSync()}
	if db.minFree == 0 {
		db.minFree = DefaultMinFree
	}
	if db.log == nil {
		db.log = slog.Default()
	}
	if db.now == nil {
		db.now = time.Now
	}
	bo := badger.DefaultOptions("")
	if o.InMemory {
		bo = bo.WithInMemory(true)
	} else {
		if dir == "" {
			return nil, errors.New("index: no directory given")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		if err := tighten(dir, 0o700); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		lock, err := lockDir(dir)
		if err != nil {
			return nil, err
		}
		db.dir, db.lock = dir, lock
		if err := checkSpace(dir, db.minFree); err != nil {
			db.lock.release()
			return nil, fmt.Errorf("index: cannot open %s: %w", dir, err)
		}
		bo = bo.WithDir(dir).WithValueDir(dir)
	}
	bo = tune(bo).WithLogger(badgerLogger{db.log})
	if db.dir != "" {
		if err := checkFiles(dir, bo); err != nil {
			db.lock.release()
			return nil, err
		}
	}
	bdb, err := openBadger(dir, bo)
	if err != nil {
		db.lock.release()
		if errors.Is(err, ErrDamaged) || errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("index: open %s: %w", dir, err)
		}
		return nil, fmt.Errorf("%w: %s: badger cannot open it: %w", ErrDamaged, dir, err)
	}
	db.bdb = bdb
	if err := db.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if db.dir != "" {
		if err := db.openRecords(o.rebuilding); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return db, nil
}

// tune sizes badger for a small desktop daemon holding tens of thousands of
// small records: little memory, few background goroutines, no compression
// (records are small JSON; mmap'd uncompressed tables need no block cache
// to be read).
func tune(bo badger.Options) badger.Options {
	return bo.
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(8 << 20).
		WithValueLogFileSize(32 << 20).
		WithBlockCacheSize(1 << 20).
		WithIndexCacheSize(1 << 20).
		WithCompression(options.None).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithMetricsEnabled(false).
		WithDetectConflicts(true).
		WithLoggingLevel(badger.WARNING)
}

// init checks the schema, starts the sequences and recovers the queue.
func (db *DB) init() error {
	if err := db.checkSchema(); err != nil {
		return err
	}
	var err error
	if db.inoSeq, err = db.bdb.GetSequence([]byte(keyInoSeq), 64); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if db.qSeq, err = db.bdb.GetSequence([]byte(keyQueueSeq), 256); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if err := db.recoverQueue(); err != nil {
		return err
	}
	return db.fixPerms()
}

// checkSchema stamps a new index with SchemaVersion and refuses a newer one.
func (db *DB) checkSchema() error {
	return db.update(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(keySchema))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set([]byte(keySchema), []byte(strconv.Itoa(SchemaVersion)))
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("index: %s: unreadable schema version %q", db.where(), v)
		}
		if n > SchemaVersion {
			return fmt.Errorf("index: %s was written by a newer chatfs (schema %d; this chatfs reads up to %d)",
				db.where(), n, SchemaVersion)
		}
		return nil
	})
}

func (db *DB) where() string {
	if db.dir == "" {
		return "in-memory index"
	}
	return db.dir
}

// Close releases the sequences, closes badger, makes its files 0600 and
// releases the directory lock. Calling Close again returns the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		for _, s := range []*badger.Sequence{db.inoSeq, db.qSeq} {
			if s != nil {
				errs = append(errs, s.Release())
			}
		}
		errs = append(errs, db.bdb.Close(), db.rec.close())
		if db.dir != "" {
			errs = append(errs, db.fixPerms())
		}
		db.lock.release()
		db.closeErr = errors.Join(errs...)
		if db.closeErr != nil {
			db.closeErr = fmt.Errorf("index: close %s: %w", db.where(), db.closeErr)
		}
	})
	return db.closeErr
}

// fixPerms makes every file under dir 0600 (badger creates them 0666 less
// the umask).
func (db *DB) fixPerms() error {
	if db.dir == "" {
		return nil
	}
	return filepath.WalkDir(db.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed by compaction meanwhile
				return nil
			}
			return err
		}
		if d.IsDir() {
			return tighten(p, 0o700)
		}
		if err := tighten(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

// tighten removes from p's mode any permission bit not in max.
func tighten(p string, max fs.FileMode) error {
	st, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if st.Mode()&fs.ModeSymlink != 0 || st.Mode().Perm()&^max == 0 {
		return nil
	}
	return os.Chmod(p, st.Mode().Perm()&max)
}

// update runs fn in a read-write transaction, rerunning it when the commit
// conflicts with a concurrent transaction. fn must not keep effects outside
// the transaction: it may run several times. The one exception is drawing
// sequence numbers (wait, putFile): a rerun draws new ones and leaves the
// old ones unused, which the inode and queue orders allow.
//
// It fails with ErrNoSpace, writing nothing, when the disk is nearly full
// (see DefaultMinFree).
func (db *DB) update(fn func(txn *badger.Txn) error) error {
	if err := checkSpace(db.dir, db.minFree); err != nil {
		return err
	}
	for i := 0; ; i++ {
		err := db.bdb.Update(fn)
		if err == nil {
			db.changes.Add(1)
		}
		if !errors.Is(err, badger.ErrConflict) || i >= maxRetries {
			return err
		}
		if i > 2 {
			_ = backoff.Sleep(context.Background(), conflictBackoff.Delay(i-2))
		}
	}
}

// Changes counts the write transactions committed since Open: records,
// names and queue entries alike. It grows after each commit is visible to
// readers, so a reader that sees the same count before and after it read
// something saw no write in between; one that read after seeing count n
// read everything the first n writes wrote. Listings use it to tell
// whether a copy they keep may be stale.
func (db *DB) Changes() uint64 { return db.changes.Load() }

// sync makes committed writes durable on disk; used after the writes the
// design promises survive a power cut (a queued upload, a finished one).
func (db *DB) sync() error {
	if db.dir == "" {
		return nil
	}
	return db.syncs.do(db.bdb.Sync)
}

// getJSON reads key into v; badger.ErrKeyNotFound becomes ErrNotFound.
func getJSON(txn *badger.Txn, key []byte, v any) error {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error { return unmarshal(b, v) })
}

func u64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// badgerLogger routes badger's log to slog. Badger is told to log warnings
// and errors only; the rest is dropped here too.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) { b.out(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) {
	b.out(slog.LevelWarn, f, a)
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

func (b badgerLogger) out(level slog.Level, f string, a []any) {
	b.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
