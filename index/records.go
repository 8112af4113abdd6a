package index

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The record log: the index is the only copy of the uuids and share-secrets
// of restricted uploads (the service cannot list them), so every file
// record put or forgotten is also appended, as one JSON line, to a log
// beside the index directory (RecordLogPath), fsynced before the call that
// recorded it returns. Badger damage cannot reach it: it is one plain file
// that is only ever appended to, and Rebuild makes a new index from it.
//
// A record is appended after its transaction commits and a forget before
// its transaction runs, so a crash in between leaves the index holding at
// least what the log holds; Open appends what the log lacks (this also
// fills the log of an index made before it existed). A record the log holds
// and the index lacks is thus damage, and Open says so. A torn last line
// (a crash mid-append) is ignored and cut off.
//
// The log keeps what a message needs to carry the file and what by-name/
// shows; inode numbers and link names are the index's own and are assigned
// afresh by a rebuild; the expired mark is learnt again from the server.

// RecordLogPath is the record log of the index kept in dir.
func RecordLogPath(dir string) string { return filepath.Clean(dir) + ".records" }

// logLine is one line of the record log.
type logLine struct {
	Op          string    `json:"op"` // "put" or "forget"
	App         string    `json:"app"`
	UUID        string    `json:"uuid"`
	Name        string    `json:"name,omitempty"`
	Folder      string    `json:"folder,omitempty"`
	Size        int64     `json:"size"`
	URL         string    `json:"url,omitempty"`
	ShareSecret string    `json:"share_secret,omitempty"`
	MIME        string    `json:"mime,omitempty"`
	Uploaded    time.Time `json:"uploaded,omitzero"`
	Expires     time.Time `json:"expires,omitzero"`
	Forever     bool      `json:"forever,omitempty"`
	HasThumb    bool      `json:"has_thumb,omitempty"`
	ThumbUUID   string    `json:"thumb_uuid,omitempty"`
	ThumbSecret string    `json:"thumb_secret,omitempty"`
	Msg         *MsgFacts `json:"msg,omitempty"`
	Logged      time.Time `json:"logged"`
}

const (
	opPut    = "put"
	opForget = "forget"
)

func putLine(f File, now time.Time) logLine {
	return logLine{Op: opPut, App: f.App, UUID: f.UUID, Name: f.Name, Folder: f.Folder, Size: f.Size, URL: f.URL,
		ShareSecret: f.ShareSecret, MIME: f.MIME, Uploaded: f.Uploaded, Expires: f.Expires,
		Forever: f.Forever, HasThumb: f.HasThumb, ThumbUUID: f.ThumbUUID, ThumbSecret: f.ThumbSecret, Msg: f.Msg, Logged: now}
}

func (l logLine) file() File {
	return File{App: l.App, UUID: l.UUID, Name: l.Name, Folder: l.Folder, Size: l.Size, URL: l.URL,
		ShareSecret: l.ShareSecret, MIME: l.MIME, Uploaded: l.Uploaded, Expires: l.Expires,
		Forever: l.Forever, HasThumb: l.HasThumb, ThumbUUID: l.ThumbUUID, ThumbSecret: l.ThumbSecret, Msg: l.Msg}
}

// recordLog appends to the record log. Appends write one at a time and
// share their fsyncs (groupSync): uploads completing together cost about
// two syncs of the log, not one each.
type recordLog struct {
	path  string
	syncs *groupSync
	mu    sync.Mutex // serializes writes
	f     *os.File   // GUARDED_BY(mu)
}

// openRecordLog opens (creating, 0600) the log at path for appending,
// first cutting a torn last line so the next line starts on its own.
func openRecordLog(path string) (*recordLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Size() == 0 {
		err = syncDir(filepath.Dir(path)) // a new log: make its name durable
	}
	if err == nil && st.Size() > 0 {
		err = cutTornTail(f, st.Size())
	}
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		err = f.Chmod(0o600)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekEnd)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &recordLog{path: path, f: f, syncs: newGroupSync()}, nil
}

// cutTornTail truncates f after its last newline.
func cutTornTail(f *os.File, size int64) error {
	const chunk = 4096
	buf := make([]byte, chunk)
	for end := size; end > 0; {
		start := max(0, end-chunk)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			if start+int64(i)+1 == size {
				return nil
			}
			return f.Truncate(start + int64(i) + 1)
		}
		end = start
	}
	return f.Truncate(0)
}

// append writes lines and fsyncs them.
func (r *recordLog) append(lines ...logLine) error {
	var buf bytes.Buffer
	for i := range lines {
		b, err := marshal(&lines[i])
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	r.mu.Lock()
	f := r.f
	if f == nil {
		r.mu.Unlock()
		return errors.New("record log is closed")
	}
	_, err := f.Write(buf.Bytes())
	r.mu.Unlock()
	if err != nil {
		return err
	}
	// A sync that starts after the write covers it; the log is closed
	// only once the index's writers have stopped.
	return r.syncs.do(f.Sync)
}

func (r *recordLog) close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.f.Close()
	r.f = nil
	return err
}

// LogStats describes a read of the record log.
type LogStats struct {
	Lines int // lines read, including bad ones
	Bad   int // lines that were not records (skipped)
	Torn  bool
}

// ReadRecordLog reads the record log at path and returns the records it
// holds (the last put of each app/uuid not forgotten since), in the order
// they were first put. A torn last line is skipped (Torn); any other line
// that is not a record is skipped and counted in Bad. Ino, LinkName and
// Expired are zero. It takes no lock: a mount may be appending meanwhile.
func ReadRecordLog(path string) ([]File, LogStats, error) {
	var st LogStats
	fh, err := os.Open(path)
	if err != nil {
		return nil, st, err
	}
	defer fh.Close()
	type key struct{ app, uuid string }
	live := map[key]int{} // index into files
	var files []File
	var gone []bool
	br := bufio.NewReaderSize(fh, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && err == io.EOF {
			st.Torn = true // no newline: a crash cut it
			break
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, st, err
		}
		st.Lines++
		var l logLine
		if err := unmarshal(line, &l); err != nil || l.App == "" || l.UUID == "" {
			st.Bad++
			continue
		}
		k := key{l.App, l.UUID}
		switch l.Op {
		case opPut:
			if i, ok := live[k]; ok {
				files[i] = l.file()
				continue
			}
			live[k] = len(files)
			files = append(files, l.file())
			gone = append(gone, false)
		case opForget:
			if i, ok := live[k]; ok {
				gone[i] = true
				delete(live, k)
			}
		default:
			st.Bad++
		}
	}
	out := files[:0]
	for i, f := range files {
		if !gone[i] {
			out = append(out, f)
		}
	}
	return out, st, nil
}

// syncDir fsyncs a directory, making the names in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}
