package emulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Message records live in the data directory, one file per app and UTC
// hour, one JSON record per line, exactly as the history export carries
// them:
//
//	Dir/messages/{app dir}/{yyyyMMddHH}.jsonl
//
// Files are only appended to, each append synced before the send is
// answered. A crash can leave a torn last line: readers take only complete
// lines that are valid JSON, and the next append starts on a new line.
// Hours are cut in UTC on disk; UTC+8 hours are whole UTC hours too, so an
// export in either zone is one file.

// hourLayout is the history API's hour format, yyyyMMddHH.
const hourLayout = "2006010215"

// idEpoch is the epoch of message ids, in Unix milliseconds (2014-05-13):
// ids are (ms since it) << 22, as large as the service's 19-digit ids.
const idEpoch = 1_400_000_000_000

// Record is one message as the history export carries it: one record per
// target, with the sender's body (its "type" included) in payload.bodies.
type Record struct {
	MsgID     string  `json:"msg_id"`
	Timestamp int64   `json:"timestamp"` // Unix milliseconds
	Direction string  `json:"direction"` // always "outgoing"
	From      string  `json:"from"`
	To        string  `json:"to"`        // the user, group id or room id
	ChatType  string  `json:"chat_type"` // chat, groupchat or chatroom
	Payload   Payload `json:"payload"`
}

// Payload is a Record's message content.
type Payload struct {
	Bodies []json.RawMessage `json:"bodies"`
	Ext    json.RawMessage   `json:"ext"`
	From   string            `json:"from"`
	To     string            `json:"to"`
}

// msgStore keeps message records on disk.
type msgStore struct {
	dir string // Dir/messages

	mu sync.Mutex
	// GUARDED_BY(mu): the last message id handed out. mu also serializes
	// appends, so that lines of two sends never interleave.
	lastID uint64
}

func openMsgStore(dir string) (*msgStore, error) {
	m := &msgStore{dir: filepath.Join(dir, "messages")}
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	return m, nil
}

// appDir is the directory of an app's records; adir is its app key
// escaped by appDirName, or checked by validAppDir.
func (m *msgStore) appDir(adir string) string { return filepath.Join(m.dir, adir) }

// hourPathDir is the file of the UTC hour holding the instant t.
func (m *msgStore) hourPathDir(adir string, t time.Time) string {
	return filepath.Join(m.appDir(adir), t.UTC().Format(hourLayout)+".jsonl")
}

// newID returns a message id never handed out before by this store, and,
// across restarts, by an earlier one (ids grow with the wall clock).
// LOCKS_REQUIRED(m.mu)
func (m *msgStore) newID() string {
	id := uint64(max(time.Now().UnixMilli()-idEpoch, 0)) << 22
	if id <= m.lastID {
		id = m.lastID + 1
	}
	m.lastID = id
	return strconv.FormatUint(id, 10)
}

// add stores records, giving each one without a MsgID a new id, durably:
// it returns once every line is synced.
func (m *msgStore) add(app string, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	lines := make(map[string]*bytes.Buffer)
	var order []string
	for i := range recs {
		if recs[i].MsgID == "" {
			recs[i].MsgID = m.newID()
		}
		b, err := json.Marshal(recs[i])
		if err != nil {
			return fmt.Errorf("emulator: message record: %w", err)
		}
		p := m.hourPathDir(appDirName(app), time.UnixMilli(recs[i].Timestamp))
		buf := lines[p]
		if buf == nil {
			buf = new(bytes.Buffer)
			lines[p] = buf
			order = append(order, p)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if len(order) > 0 {
		if err := os.MkdirAll(m.appDir(appDirName(app)), 0o700); err != nil {
			return err
		}
	}
	for _, p := range order {
		if err := appendSynced(p, lines[p].Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// appendSynced appends data to the file at path (0600), starting a new
// line first when a crash left the file's last line torn, and syncs it.
func appendSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err = f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			data = append([]byte{'\n'}, data...)
		}
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// hasHour reports whether the UTC hour starting at t holds any record.
func (m *msgStore) hasHour(adir string, t time.Time) (bool, error) {
	fi, err := os.Stat(m.hourPathDir(adir, t))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.Size() > 0, nil
}

// eachLine calls fn with every complete, valid JSON line of the hour
// starting at t (the slice is reused between calls). It returns an error
// satisfying errors.Is(err, fs.ErrNotExist) when the hour has no file.
func (m *msgStore) eachLineDir(adir string, t time.Time, fn func(line []byte) error) error {
	f, err := os.Open(m.hourPathDir(adir, t))
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it whole.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err == io.EOF {
			return nil // a torn last line (no newline) is not a record
		}
		if err != nil {
			return err
		}
		line = line[:len(line)-1]
		if len(line) == 0 || !json.Valid(line) {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
}

// records returns every record of app, oldest hour first, in the order
// they were stored within an hour.
func (m *msgStore) records(app string) ([]Record, error) {
	adir := appDirName(app)
	ents, err := os.ReadDir(m.appDir(adir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var hours []time.Time
	for _, e := range ents {
		h, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if t, err := time.Parse(hourLayout, h); ok && err == nil {
			hours = append(hours, t)
		}
	}
	sort.Slice(hours, func(i, j int) bool { return hours[i].Before(hours[j]) })
	var out []Record
	for _, h := range hours {
		err := m.eachLineDir(adir, h, func(line []byte) error {
			var r Record
			if err := json.Unmarshal(line, &r); err != nil {
				return fmt.Errorf("emulator: message record in %s: %w", h.Format(hourLayout), err)
			}
			out = append(out, r)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// contains reports whether the hour holding t has a record with msgID.
func (m *msgStore) contains(app string, t time.Time, msgID string) (bool, error) {
	found := false
	err := m.eachLineDir(appDirName(app), t, func(line []byte) error {
		var r struct {
			MsgID string `json:"msg_id"`
		}
		if json.Unmarshal(line, &r) == nil && r.MsgID == msgID {
			found = true
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return found, err
}
