package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Messages: the attachments of the chat history, imported an hour at a
// time (ImportHour), make each file known (a File record with its
// MsgFacts) and show it in the folders of its conversations. Keys (after
// the app, "<app>\x00"; <folder> is "<kind>\x00<id>", kind one of
// FolderUsers, FolderGroups, FolderRooms):
//
//	M/<app>\x00<msg id>\x00<uuid>   "" — the attachment was imported
//	C/<app>\x00<folder>\x00<name>   8-byte sent time (unix ns) + uuid:
//	                                an entry of the conversation's folder
//	U/<app>\x00<folder>\x00<uuid>   its name there: one entry per uuid
//	K/<app>\x00<folder>\x00<name>   last collision suffix used for name
//	V/<app>\x00<kind>\x00<id>       8-byte time of its newest entry
//	H/<app>\x00<8-byte hour>        HourState as JSON, by the hour's start
//	                                (unix seconds)
//
// Import is idempotent by (msg id, uuid): an attachment already imported is
// skipped, so an hour looked at again, or an import cut by a crash and run
// again, adds nothing twice.
const (
	pfxMsg      = "M/"
	pfxChat     = "C/"
	pfxChatUUID = "U/"
	pfxChatHint = "K/"
	pfxConv     = "V/"
	pfxHour     = "H/"
)

// Conversation folder kinds.
const (
	FolderUsers  = "users"
	FolderGroups = "groups"
	FolderRooms  = "rooms"
)

// importBatch bounds the attachments applied in one transaction (about
// 8,000 keys, within badger's transaction size at the index's memtable
// size; ImportHour halves it when badger says otherwise).
const importBatch = 1000

// Message is one attachment of one chat message, to import.
type Message struct {
	MsgFacts
	UUID        string
	URL         string // without query
	Name        string
	Size        int64 // -1 when not known
	ShareSecret string
	MIME        string
	HasThumb    bool // an image: the server makes a thumbnail
	ThumbUUID   string
	ThumbSecret string
	Expires     time.Time
}

// Folders are the conversation folders a message shows in: both users of
// a one-to-one chat, else its group or room.
func (m *MsgFacts) Folders() [][2]string {
	switch m.ChatType {
	case "chat":
		if m.From == m.To {
			return [][2]string{{FolderUsers, m.From}}
		}
		return [][2]string{{FolderUsers, m.From}, {FolderUsers, m.To}}
	case "groupchat":
		return [][2]string{{FolderGroups, m.To}}
	case "chatroom":
		return [][2]string{{FolderRooms, m.To}}
	}
	return nil
}

// HourState is how far the import of one hour of history has come. The
// index keeps it; the importer decides what it means.
type HourState struct {
	Hour     time.Time // the hour's start
	State    string    // the importer's word: done, empty, waiting, unavailable, failed
	Final    bool      // never to be looked at again
	Tries    int
	LastTry  time.Time
	Next     time.Time // next attempt; zero when none is planned
	Imported int       // attachments of its export, all in the index (set by ImportHour)
	Error    string    // of the last attempt
}

// ChatEntry is one entry of a conversation's folder.
type ChatEntry struct {
	Name string
	UUID string
	Sent time.Time
}

func folderKey(prefix, app, kind, id, rest string) []byte {
	return appKey(prefix, app, kind+"\x00"+id+"\x00"+rest)
}

func hourKey(app string, hour time.Time) []byte {
	return binary.BigEndian.AppendUint64(appKey(pfxHour, app, ""), uint64(hour.Unix()))
}

func checkMessage(m *Message) error {
	if err := checkPart("uuid", m.UUID); err != nil {
		return err
	}
	if err := checkPart("message id", m.MsgID); err != nil {
		return err
	}
	for _, f := range m.Folders() {
		if err := checkPart("conversation", f[1]); err != nil {
			return err
		}
	}
	if len(m.Folders()) == 0 {
		return fmt.Errorf("%w: chat type %q", errInvalid, m.ChatType)
	}
	return nil
}

// ImportHour imports the attachments of one hour and records st as the
// hour's state, durably. Attachments already imported are skipped. They
// are applied in transactions of up to 1,000 (fewer when badger finds one
// too big), the last of which also writes st, then synced once: a crash
// in between leaves the hour as it was (to be imported again, which skips
// what the first run added) and never marks it done with attachments
// missing. It returns how many attachments were new.
func (db *DB) ImportHour(app string, st HourState, msgs []Message) (int, error) {
	if err := checkApp(app); err != nil {
		return 0, err
	}
	for i := range msgs {
		if err := checkMessage(&msgs[i]); err != nil {
			return 0, fmt.Errorf("index: import %s: %w", app, err)
		}
	}
	added := 0
	var logged []logLine
	batch := importBatch
	for start := 0; ; {
		end := min(start+batch, len(msgs))
		last := end == len(msgs)
		var lines []logLine
		n := 0
		err := db.update(func(txn *badger.Txn) error {
			lines, n = lines[:0], 0
			for i := start; i < end; i++ {
				f, isNew, err := db.importOne(txn, app, &msgs[i])
				if err != nil {
					return err
				}
				if isNew {
					n++
				}
				if f != nil {
					lines = append(lines, putLine(*f, db.now()))
				}
			}
			if !last {
				return nil
			}
			final := st
			final.Imported = len(msgs) // whether new now or before a crash
			b, err := marshal(&final)
			if err != nil {
				return err
			}
			return txn.Set(hourKey(app, st.Hour), b)
		})
		if errors.Is(err, badger.ErrTxnTooBig) && end-start > 1 {
			batch = max((end-start)/2, 1)
			continue
		}
		if err != nil {
			return added, fmt.Errorf("index: import %s %s: %w", app, st.Hour.UTC().Format(time.RFC3339), err)
		}
		added += n
		logged = append(logged, lines...)
		start = end
		if last {
			break
		}
	}
	// Durable before the record log says so (see Put).
	if err := db.sync(); err != nil {
		return added, fmt.Errorf("index: import %s %s: %w", app, st.Hour.UTC().Format(time.RFC3339), err)
	}
	if len(logged) > 0 && db.rec != nil {
		if err := db.rec.append(logged...); err != nil {
			db.log.Error("index: record log: not written; the next start copies it from the index", "app", app, "err", err)
		}
	}
	return added, nil
}

// importOne applies one attachment in txn. It returns the file record when
// it was made or changed (for the record log), and whether the attachment
// was new.
func (db *DB) importOne(txn *badger.Txn, app string, m *Message) (*File, bool, error) {
	mkey := appKey(pfxMsg, app, m.MsgID+"\x00"+m.UUID)
	switch _, err := txn.Get(mkey); {
	case err == nil:
		return nil, false, nil
	case !errors.Is(err, badger.ErrKeyNotFound):
		return nil, false, err
	}
	if err := txn.Set(mkey, nil); err != nil {
		return nil, false, err
	}
	stored, changed, err := db.mergeFile(txn, app, m)
	if err != nil {
		return nil, false, err
	}
	for _, f := range m.Folders() {
		if err := addChatEntry(txn, app, f[0], f[1], m); err != nil {
			return nil, false, err
		}
	}
	if !changed {
		return nil, true, nil
	}
	return &stored, true, nil
}

// mergeFile makes the file record of m's attachment, or fills in what an
// existing one lacks (a name, a size, a secret, the message's facts); what
// it holds already is kept.
func (db *DB) mergeFile(txn *badger.Txn, app string, m *Message) (File, bool, error) {
	var f File
	switch err := getJSON(txn, appKey(pfxFile, app, m.UUID), &f); {
	case errors.Is(err, ErrNotFound):
		facts := m.MsgFacts
		f = File{App: app, UUID: m.UUID, Name: m.Name, ShareSecret: m.ShareSecret, URL: m.URL, Size: m.Size,
			MIME: m.MIME, Uploaded: m.Sent, Expires: m.Expires, HasThumb: m.HasThumb,
			ThumbUUID: m.ThumbUUID, ThumbSecret: m.ThumbSecret, Msg: &facts}
	case err != nil:
		return File{}, false, err
	default:
		old := f
		if f.Name == "" {
			f.Name = m.Name
		}
		if f.Size < 0 && m.Size >= 0 {
			f.Size = m.Size
		}
		if f.ShareSecret == "" {
			f.ShareSecret = m.ShareSecret
		}
		if f.URL == "" {
			f.URL = m.URL
		}
		if f.MIME == "" {
			f.MIME = m.MIME
		}
		if f.ThumbUUID == "" && !f.HasThumb {
			f.HasThumb, f.ThumbUUID, f.ThumbSecret = m.HasThumb, m.ThumbUUID, m.ThumbSecret
		}
		if f.Msg == nil {
			facts := m.MsgFacts
			f.Msg = &facts
		}
		if f.Name == old.Name && f.Size == old.Size && f.ShareSecret == old.ShareSecret && f.URL == old.URL &&
			f.MIME == old.MIME && f.HasThumb == old.HasThumb && f.ThumbUUID == old.ThumbUUID && f.Msg == old.Msg {
			return f, false, nil
		}
	}
	stored, err := db.putFile(txn, f)
	return stored, err == nil, err
}

// addChatEntry shows m's file in one conversation folder, under a name
// unique there, unless the folder shows that uuid already.
func addChatEntry(txn *badger.Txn, app, kind, id string, m *Message) error {
	ukey := folderKey(pfxChatUUID, app, kind, id, m.UUID)
	switch _, err := txn.Get(ukey); {
	case err == nil:
		return nil
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	value := binary.BigEndian.AppendUint64(nil, nanos(m.Sent))
	value = append(value, m.UUID...)
	name, err := assignUnique(txn, m.Name, value,
		func(c string) []byte { return folderKey(pfxChat, app, kind, id, c) },
		func(clean string) []byte { return folderKey(pfxChatHint, app, kind, id, clean) }, nil)
	if err != nil {
		return err
	}
	if err := txn.Set(ukey, []byte(name)); err != nil {
		return err
	}
	ckey := appKey(pfxConv, app, kind+"\x00"+id)
	latest := time.Time{}
	if item, err := txn.Get(ckey); err == nil {
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		latest = time.Unix(0, int64(u64(v)))
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	if m.Sent.After(latest) || latest.IsZero() {
		return txn.Set(ckey, binary.BigEndian.AppendUint64(nil, nanos(m.Sent)))
	}
	return nil
}

// chatEntry decodes a C/ key's name and value.
func chatEntry(name string, v []byte) (ChatEntry, bool) {
	if len(v) < 8 {
		return ChatEntry{}, false
	}
	return ChatEntry{Name: name, UUID: string(v[8:]), Sent: time.Unix(0, int64(u64(v))).UTC()}, true
}

// ListChat calls fn for every entry of a conversation's folder, in name
// order, with the file record it shows (ErrNotFound-free: entries whose
// file was forgotten are left out), from one read snapshot.
func (db *DB) ListChat(app, kind, id string, fn func(ChatEntry, File) error) error {
	if err := checkApp(app); err != nil {
		return err
	}
	prefix := folderKey(pfxChat, app, kind, id, "")
	return db.bdb.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		o.Prefix = prefix
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			e, ok := chatEntry(string(item.Key()[len(prefix):]), v)
			if !ok {
				continue
			}
			var f File
			switch err := getJSON(txn, appKey(pfxFile, app, e.UUID), &f); {
			case errors.Is(err, ErrNotFound):
				continue
			case err != nil:
				return err
			}
			if err := fn(e, f); err != nil {
				return err
			}
		}
		return nil
	})
}

// LookupChat returns the entry called name in a conversation's folder and
// its file record, or ErrNotFound.
func (db *DB) LookupChat(app, kind, id, name string) (ChatEntry, File, error) {
	var e ChatEntry
	var f File
	err := db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(folderKey(pfxChat, app, kind, id, name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		var ok bool
		if e, ok = chatEntry(name, v); !ok {
			return ErrNotFound
		}
		return getJSON(txn, appKey(pfxFile, app, e.UUID), &f)
	})
	return e, f, err
}

// ListConversations calls fn for every conversation of a kind that has an
// entry, in id order, with the time of its newest entry.
func (db *DB) ListConversations(app, kind string, fn func(id string, latest time.Time) error) error {
	if err := checkApp(app); err != nil {
		return err
	}
	prefix := appKey(pfxConv, app, kind+"\x00")
	return db.scan(prefix, func(k, v []byte) error {
		return fn(string(k[len(prefix):]), time.Unix(0, int64(u64(v))).UTC())
	})
}

// Conversation returns the time of the newest entry of a conversation, or
// ErrNotFound when it has none.
func (db *DB) Conversation(app, kind, id string) (time.Time, error) {
	var t time.Time
	err := db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(appKey(pfxConv, app, kind+"\x00"+id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			t = time.Unix(0, int64(u64(v))).UTC()
			return nil
		})
	})
	return t, err
}

// SetHour records the state of an hour (one that imported nothing: no
// messages, not made yet, failed).
func (db *DB) SetHour(app string, st HourState) error {
	if err := checkApp(app); err != nil {
		return err
	}
	b, err := marshal(&st)
	if err != nil {
		return err
	}
	return db.update(func(txn *badger.Txn) error { return txn.Set(hourKey(app, st.Hour), b) })
}

// Hour returns the recorded state of the hour starting at hour, or
// ErrNotFound.
func (db *DB) Hour(app string, hour time.Time) (HourState, error) {
	var st HourState
	err := db.bdb.View(func(txn *badger.Txn) error { return getJSON(txn, hourKey(app, hour), &st) })
	return st, err
}

// Hours calls fn for every recorded hour of app, oldest first.
func (db *DB) Hours(app string, fn func(HourState) error) error {
	if err := checkApp(app); err != nil {
		return err
	}
	return db.scan(appPrefix(pfxHour, app, false), func(_, v []byte) error {
		var st HourState
		if err := unmarshal(v, &st); err != nil {
			return err
		}
		return fn(st)
	})
}

// DropHours forgets the recorded state of app's hours before t (hours out
// of the window), so the hour keys do not grow without bound.
func (db *DB) DropHours(app string, before time.Time) error {
	var keys [][]byte
	err := db.scan(appPrefix(pfxHour, app, false), func(k, _ []byte) error {
		if int64(u64(k[len(k)-8:])) < before.Unix() {
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	return db.update(func(txn *badger.Txn) error {
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
