package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Layout of the data directory:
//
//	Dir/token                   the generated token, when Options.Token is empty
//	Dir/tmp/                    temp files, renamed into apps/ when complete
//	Dir/apps/{app dir}/{uuid}        the file's bytes
//	Dir/apps/{app dir}/{uuid}.json   its metadata
//	Dir/apps/{app dir}/{uuid}.thumb  its generated thumbnail, once asked for
//
// {app dir} is the app key escaped by appDirName; {uuid} is always checked
// with remote.ValidUUID (or generated here) before a path is built from it.

// maxAppKey bounds an app key so that its escaped form is a valid file name.
const maxAppKey = 80

// staleTemp is the age after which New removes a leftover temp file.
const staleTemp = time.Hour

// meta is a stored file's JSON sidecar.
type meta struct {
	Name        string    `json:"name"` // the multipart file name
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"` // sniffed from the first bytes
	Restricted  bool      `json:"restricted"`   // share-secret enforced on download
	Secret      string    `json:"share_secret"`
	ThumbWidth  int       `json:"thumbnail_width"`
	ThumbHeight int       `json:"thumbnail_height"`
	Created     time.Time `json:"created"`
	Forever     bool      `json:"forever,omitempty"`  // the lifetime API kept it forever
	Refreshed   time.Time `json:"refreshed,omitzero"` // its retention restarted then
}

// store is the on-disk file store. It holds no mutable state: every method
// is safe for concurrent use, and atomicity comes from rename.
type store struct {
	dir string // the data directory
	tmp string // dir/tmp
}

// openStore creates the directories of dir (0700) and removes stale temp files.
func openStore(dir string) (*store, error) {
	st := &store{dir: dir, tmp: filepath.Join(dir, "tmp")}
	for _, d := range []string{dir, st.tmp, filepath.Join(dir, "apps")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
	}
	entries, err := os.ReadDir(st.tmp)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
			_ = os.Remove(filepath.Join(st.tmp, e.Name()))
		}
	}
	return st, nil
}

// appDirName escapes an app key into one file name: bytes other than ASCII
// letters, digits, '-' and '_' become %XX, so "/" and "." can never form a
// path, and distinct keys give distinct names.
func appDirName(app string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(app); i++ {
		c := app[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func (st *store) appDir(app string) string {
	return filepath.Join(st.dir, "apps", appDirName(app))
}

func (st *store) dataPath(app, uuid string) string { return filepath.Join(st.appDir(app), uuid) }
func (st *store) metaPath(app, uuid string) string {
	return filepath.Join(st.appDir(app), uuid+".json")
}
func (st *store) thumbPath(app, uuid string) string {
	return filepath.Join(st.appDir(app), uuid+".thumb")
}

// tempFile creates an empty temp file (0600) in the temp directory.
func (st *store) tempFile() (*os.File, error) {
	return os.CreateTemp(st.tmp, "upload-*")
}

// commit moves the complete, synced temp file tmpPath into app as uuid and
// then writes its metadata; the file exists for readers once the metadata
// does.
func (st *store) commit(app, uuid, tmpPath string, m meta) error {
	if err := os.MkdirAll(st.appDir(app), 0o700); err != nil {
		return err
	}
	data := st.dataPath(app, uuid)
	if err := os.Rename(tmpPath, data); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err == nil {
		err = st.writeAtomic(st.metaPath(app, uuid), b)
	}
	if err != nil {
		_ = os.Remove(data)
	}
	return err
}

// readMeta loads the metadata of uuid in app. A file that does not exist
// gives an error satisfying errors.Is(err, fs.ErrNotExist).
func (st *store) readMeta(app, uuid string) (meta, error) {
	var m meta
	b, err := os.ReadFile(st.metaPath(app, uuid))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("emulator: metadata of %s: %w", uuid, err)
	}
	return m, nil
}

// writeAtomic writes data to dst through a synced temp file and a rename.
func (st *store) writeAtomic(dst string, data []byte) error {
	f, err := st.tempFile()
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// readOrCreateToken returns the token stored in dir/token, or makes a new
// random one and stores it (0600) when there is none, so that a restarted
// emulator keeps accepting the clients of the previous one.
func (st *store) readOrCreateToken() (string, error) {
	path := filepath.Join(st.dir, "token")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("emulator: %w", err)
	}
	tok := randomString(32)
	if err := st.writeAtomic(path, []byte(tok+"\n")); err != nil {
		return "", fmt.Errorf("emulator: %w", err)
	}
	return tok, nil
}

// newUUID returns a random (version 4) uuid in lowercase canonical form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomString returns n random bytes in URL-safe base64, safe to put in a
// header or a query string as is.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
