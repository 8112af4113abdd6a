package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/chatfs/chatfs/index"
)

// runRepair rebuilds a damaged index from its record log. The damaged
// directory is kept aside, renamed, for inspection. An index that opens
// and agrees with its log is left alone unless --force.
func runRepair(args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("repair", "[--state DIR] [--force]", `
Rebuilds a damaged index from the record log kept beside it, and keeps the
damaged one aside, renamed. An index that opens and agrees with its log is left
alone unless --force. Run it with the state unmounted.`, stderr)
	state := fl.String("state", "", "directory for all state, as given to chatfs mount (default: $XDG_DATA_HOME/chatfs)")
	force := fl.Bool("force", false, "rebuild even an index that is not damaged")
	if err := fl.Parse(args); err != nil {
		return usageErr(err)
	}
	if fl.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chatfs repair [--state DIR] [--force]")
		return errUsage
	}
	dir, err := indexDir(*state)
	if err != nil {
		return err
	}
	if !exists(index.RecordLogPath(dir)) {
		return fmt.Errorf("no record log at %s: nothing to rebuild from", index.RecordLogPath(dir))
	}
	db, err := index.Open(dir, index.Options{Logger: warnLogger(stderr)})
	switch {
	case err == nil:
		if err := db.Close(); err != nil {
			return err
		}
		if !*force {
			fmt.Fprintf(stdout, "The index in %s is not damaged: nothing to repair (--force rebuilds it anyway).\n", dir)
			return nil
		}
	case errors.Is(err, index.ErrLocked):
		return fmt.Errorf("a mount is using %s: unmount it first", filepath.Dir(dir))
	case errors.Is(err, index.ErrDamaged):
		fmt.Fprintf(stdout, "%v\n", err)
	default:
		return err
	}
	res, err := index.Rebuild(dir, index.Options{Logger: warnLogger(stderr)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Rebuilt the index in %s: %d records from its record log (%d lines", dir, res.Records, res.Log.Lines)
	if res.Log.Bad > 0 {
		fmt.Fprintf(stdout, ", %d unreadable and skipped", res.Log.Bad)
	}
	fmt.Fprintln(stdout, ").")
	if res.Aside != "" {
		fmt.Fprintf(stdout, "The old index is kept in %s; remove it when you no longer need it.\n", res.Aside)
	}
	fmt.Fprintln(stdout, "Files still in upload/ are queued again when chatfs next mounts; by-name/ links and inode numbers are assigned afresh.")
	return nil
}
