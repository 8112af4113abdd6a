package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
)

// ErrDamaged is returned (wrapped, saying what is wrong) by Open when the
// index directory is damaged: badger would open it empty or partial, fail,
// or crash. The records are not lost while the record log holds them: see
// Rebuild.
var ErrDamaged = errors.New("index: damaged")

// damaged wraps ErrDamaged with where and what.
func damaged(dir, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrDamaged, dir, fmt.Sprintf(format, a...))
}

// checkFiles looks at dir before badger does, since badger meets damage in
// ways chatfs must not accept: with its MANIFEST gone it starts an empty
// index beside the old tables (and deletes them); a table that fails its
// checksum is skipped with a log line; a truncated one panics in a
// goroutine badger starts, which no recover in this one can catch. So every
// table is read and checksummed here first.
func checkFiles(dir string, bo badger.Options) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	manifest, data := false, ""
	var tables []string
	for _, e := range ents {
		switch name := e.Name(); {
		case name == "MANIFEST":
			manifest = true
		case strings.HasSuffix(name, ".sst"):
			tables = append(tables, name)
			data = name
		case strings.HasSuffix(name, ".vlog"), strings.HasSuffix(name, ".mem"):
			data = name
		}
	}
	if !manifest && data != "" {
		return damaged(dir, "its MANIFEST is missing, but data files (%s) are there", data)
	}
	if manifest {
		// Only the tables the MANIFEST lists hold the index: a crash can
		// leave a table half written that was never added to it (a flush
		// or compaction cut short), which badger removes when it opens.
		listed, err := manifestTables(dir, bo)
		if err != nil {
			return damaged(dir, "its MANIFEST cannot be read: %v", err)
		}
		tables = slices.DeleteFunc(tables, func(name string) bool {
			id, ok := table.ParseFileID(name)
			return ok && !listed[id]
		})
	}
	for _, name := range tables {
		if err := checkTable(filepath.Join(dir, name)); err != nil {
			return damaged(dir, "table %s: %v", name, err)
		}
	}
	return nil
}

// manifestTables returns the ids of the tables the MANIFEST in dir lists.
func manifestTables(dir string, bo badger.Options) (map[uint64]bool, error) {
	f, err := os.Open(filepath.Join(dir, "MANIFEST"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, _, err := badger.ReplayManifestFile(f, bo.ExternalMagicVersion, bo)
	if err != nil {
		return nil, err
	}
	ids := make(map[uint64]bool, len(m.Tables))
	for id := range m.Tables {
		ids[id] = true
	}
	return ids, nil
}

// checkTable reads the table at p whole and verifies its checksums,
// turning a panic of badger's table code into an error.
func checkTable(p string) (err error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	id, ok := table.ParseFileID(filepath.Base(p))
	if !ok {
		return errors.New("not a table file name")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable (%s)", firstLine(r))
		}
	}()
	t, err := table.OpenInMemoryTable(data, id, &table.Options{ChkMode: options.NoVerification, Compression: options.None})
	if err != nil {
		return err
	}
	return t.VerifyChecksum()
}

// openBadger is badger.Open with a panic in this goroutine made an error.
func openBadger(dir string, bo badger.Options) (bdb *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			bdb, err = nil, damaged(dir, "badger crashed opening it: %s", firstLine(r))
		}
	}()
	return badger.Open(bo)
}

// firstLine is the first non-empty line of a panic value.
func firstLine(r any) string {
	for _, l := range strings.Split(fmt.Sprint(r), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "==") {
			return l
		}
	}
	return fmt.Sprint(r)
}
