package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/index"
)

// exported is one line of chatfs export.
type exported struct {
	App         string    `json:"app"`
	UUID        string    `json:"uuid"`
	Name        string    `json:"name"`
	NameBase64  string    `json:"name_base64,omitempty"` // the exact bytes, when the name is not UTF-8
	Folder      string    `json:"folder,omitempty"`      // the folder in upload/ it came from, its folder in by-name/
	FolderB64   string    `json:"folder_base64,omitempty"`
	Size        int64     `json:"size"`
	URL         string    `json:"url"`
	ShareSecret string    `json:"share_secret,omitempty"`
	MIME        string    `json:"mime,omitempty"`
	Uploaded    time.Time `json:"uploaded,omitzero"`
	Expires     time.Time `json:"expires,omitzero"`
	ThumbUUID   string    `json:"thumb_uuid,omitempty"`
	ThumbSecret string    `json:"thumb_secret,omitempty"`
}

// runExport writes every file record the state holds as JSON lines, for
// safekeeping: the index is the only copy of restricted files' uuids and
// share-secrets. It reads the record log the index keeps beside itself.
// With no mount running it first opens the index, which brings the log up
// to date; a running mount keeps the log current itself; a damaged index
// is reported and its log exported all the same.
func runExport(args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("export", "[--state DIR]", `
Writes every file record of the state (uuid, name, size, url, share-secret,
times) to stdout as JSON lines, for safekeeping; mounted or not.`, stderr)
	state := fl.String("state", "", "directory for all state, as given to chatfs mount (default: $XDG_DATA_HOME/chatfs)")
	if err := fl.Parse(args); err != nil {
		return usageErr(err)
	}
	if fl.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chatfs export [--state DIR]")
		return errUsage
	}
	dir, err := indexDir(*state)
	if err != nil {
		return err
	}
	logPath := index.RecordLogPath(dir)
	if !exists(dir) && !exists(logPath) {
		return fmt.Errorf("no chatfs index in %s", filepath.Dir(dir))
	}
	db, err := index.Open(dir, index.Options{Logger: warnLogger(stderr)})
	switch {
	case err == nil:
		if err := db.Close(); err != nil {
			return err
		}
	case errors.Is(err, index.ErrLocked):
		fmt.Fprintf(stderr, "chatfs export: a mount is using %s; exporting its record log, which the mount keeps current\n", filepath.Dir(dir))
	case errors.Is(err, index.ErrDamaged):
		fmt.Fprintf(stderr, "chatfs export: %v\nchatfs export: exporting the record log; %s rebuilds the index from it\n", err, repairCommand(*state))
	default:
		fmt.Fprintf(stderr, "chatfs export: %v\nchatfs export: exporting the record log\n", err)
	}
	files, st, err := index.ReadRecordLog(logPath)
	if err != nil {
		return fmt.Errorf("record log: %w", err)
	}
	if st.Bad > 0 {
		fmt.Fprintf(stderr, "chatfs export: %d unreadable lines of %s skipped\n", st.Bad, logPath)
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for _, f := range files {
		e := exported{App: f.App, UUID: f.UUID, Name: f.Name, Folder: f.Folder, Size: f.Size, URL: f.URL, ShareSecret: f.ShareSecret,
			MIME: f.MIME, Uploaded: f.Uploaded, Expires: f.Expires, ThumbUUID: f.ThumbUUID, ThumbSecret: f.ThumbSecret}
		if !utf8.ValidString(f.Name) {
			e.NameBase64 = base64.StdEncoding.EncodeToString([]byte(f.Name))
		}
		if !utf8.ValidString(f.Folder) {
			e.FolderB64 = base64.StdEncoding.EncodeToString([]byte(f.Folder))
		}
		if err := enc.Encode(&e); err != nil {
			return err
		}
	}
	return nil
}

// indexDir is where chatfs mount keeps the index for --state state.
func indexDir(state string) (string, error) {
	dirs, err := config.StateDirs(state)
	if err != nil {
		return "", err
	}
	return filepath.Join(dirs.Data, "index"), nil
}

// repairCommand is the command that rebuilds the index of --state state.
func repairCommand(state string) string {
	if state == "" {
		return "chatfs repair"
	}
	return "chatfs repair --state " + state
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

// warnLogger logs warnings and errors to w (badger's complaints about a
// damaged index, for one).
func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
