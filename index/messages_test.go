package index

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var hour0 = time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)

func msg(id string, i int, chatType, from, to, uuid, name string) Message {
	return Message{
		MsgFacts: MsgFacts{MsgID: id, From: from, To: to, ChatType: chatType, Sent: hour0.Add(time.Duration(i) * time.Second)},
		UUID:     uuid, URL: "https://h/chatfiles/" + uuid, Name: name, Size: int64(100 + i),
	}
}

// chat lists a conversation's folder as name -> uuid.
func chat(t *testing.T, db *DB, kind, id string) map[string]string {
	t.Helper()
	got := map[string]string{}
	require.NoError(t, db.ListChat("app", kind, id, func(e ChatEntry, f File) error {
		assert.Equal(t, e.UUID, f.UUID)
		got[e.Name] = e.UUID
		return nil
	}))
	return got
}

func TestImportHourShowsMessagesInTheirFolders(t *testing.T) {
	db, _ := openTemp(t)
	msgs := []Message{
		msg("1", 1, "chat", "alice", "bob", uuidN(1), "cat.jpg"),
		msg("2", 2, "chat", "bob", "alice", uuidN(2), "cat.jpg"),       // same name, other file: a suffix
		msg("3", 3, "chat", "alice", "bob", uuidN(1), "cat again.jpg"), // same file again: one entry
		msg("4", 4, "groupchat", "alice", "1234", uuidN(3), "report.pdf"),
		msg("5", 5, "chatroom", "carol", "room1", uuidN(4), "a/b"),
	}
	msgs[0].ShareSecret = "sec"
	msgs[0].HasThumb = true
	n, err := db.ImportHour("app", HourState{Hour: hour0, State: "done", Final: true}, msgs)
	require.NoError(t, err)
	assert.Equal(t, 5, n)

	want := map[string]string{"cat.jpg": uuidN(1), "cat (2).jpg": uuidN(2)}
	assert.Equal(t, want, chat(t, db, FolderUsers, "alice"))
	assert.Equal(t, want, chat(t, db, FolderUsers, "bob"))
	assert.Equal(t, map[string]string{"report.pdf": uuidN(3)}, chat(t, db, FolderGroups, "1234"))
	assert.Equal(t, map[string]string{"a_b": uuidN(4)}, chat(t, db, FolderRooms, "room1"))
	assert.Empty(t, chat(t, db, FolderUsers, "nobody"))
	assert.Empty(t, chat(t, db, FolderGroups, "alice"), "kinds do not mix")

	f, err := db.Get("app", uuidN(1))
	require.NoError(t, err)
	assert.Equal(t, "cat.jpg", f.Name)
	assert.Equal(t, "cat.jpg", f.LinkName, "a message's file shows in by-name/ too")
	assert.Equal(t, int64(101), f.Size)
	assert.Equal(t, "sec", f.ShareSecret)
	assert.True(t, f.HasThumb)
	assert.Equal(t, &MsgFacts{MsgID: "1", From: "alice", To: "bob", ChatType: "chat", Sent: hour0.Add(time.Second)}, f.Msg,
		"the first message's facts")
	assert.Equal(t, hour0.Add(time.Second), f.Uploaded)

	e, lf, err := db.LookupChat("app", FolderUsers, "bob", "cat (2).jpg")
	require.NoError(t, err)
	assert.Equal(t, uuidN(2), e.UUID)
	assert.Equal(t, hour0.Add(2*time.Second), e.Sent)
	assert.Equal(t, uuidN(2), lf.UUID)
	_, _, err = db.LookupChat("app", FolderUsers, "bob", "nope")
	assert.ErrorIs(t, err, ErrNotFound)

	var users []string
	require.NoError(t, db.ListConversations("app", FolderUsers, func(id string, latest time.Time) error {
		users = append(users, id)
		assert.Equal(t, hour0.Add(2*time.Second), latest, "the newest entry (message 3 added none)")
		return nil
	}))
	assert.Equal(t, []string{"alice", "bob"}, users)
	latest, err := db.Conversation("app", FolderGroups, "1234")
	require.NoError(t, err)
	assert.Equal(t, hour0.Add(4*time.Second), latest)

	st, err := db.Hour("app", hour0)
	require.NoError(t, err)
	assert.Equal(t, 5, st.Imported)
	assert.True(t, st.Final)
}

func TestImportHourIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	db := openAt(t, dir, clk)
	var msgs []Message
	for i := range 1000 { // several transactions' worth
		msgs = append(msgs, msg(fmt.Sprint(i), i, "groupchat", "u", "g1", uuidN(i), fmt.Sprintf("f%d.txt", i%7)))
	}
	// An import cut short: its first 300 attachments landed, the hour is
	// not done.
	n, err := db.ImportHour("app", HourState{Hour: hour0, State: "waiting"}, msgs[:300])
	require.NoError(t, err)
	require.Equal(t, 300, n)
	require.NoError(t, db.Close())

	db = openAt(t, dir, clk) // durable across a reopen
	n, err = db.ImportHour("app", HourState{Hour: hour0, State: "done"}, msgs)
	require.NoError(t, err)
	assert.Equal(t, 700, n, "only what the first run lacked")
	n, err = db.ImportHour("app", HourState{Hour: hour0, State: "done"}, msgs)
	require.NoError(t, err)
	assert.Zero(t, n)
	got := chat(t, db, FolderGroups, "g1")
	assert.Len(t, got, 1000, "one entry per uuid, no duplicates")
	assert.Contains(t, got, "f3 (143).txt")
	count, err := db.Count("app")
	require.NoError(t, err)
	assert.Equal(t, 1000, count)
	st, err := db.Hour("app", hour0)
	require.NoError(t, err)
	assert.Equal(t, "done", st.State)

	// The record log holds the message's files with their facts.
	require.NoError(t, db.Close())
	logged, _, err := ReadRecordLog(RecordLogPath(dir))
	require.NoError(t, err)
	require.Len(t, logged, 1000)
	assert.Equal(t, "g1", logged[0].Msg.To)
}

func TestImportHourKeepsWhatAnUploadKnows(t *testing.T) {
	db, _ := openTemp(t)
	up := File{App: "app", UUID: uuidN(1), Name: "mine.jpg", ShareSecret: "mine", Size: 5, Uploaded: hour0.Add(-time.Hour)}
	require.NoError(t, db.Put(&up))
	looked := File{App: "app", UUID: uuidN(2), Size: -1} // looked up by uuid: nothing known
	require.NoError(t, db.Put(&looked))
	m1 := msg("1", 1, "chat", "a", "b", uuidN(1), "theirs.jpg")
	m1.ShareSecret = "theirs"
	m2 := msg("2", 2, "chat", "a", "b", uuidN(2), "named.bin")
	m2.ShareSecret = "s2"
	_, err := db.ImportHour("app", HourState{Hour: hour0}, []Message{m1, m2})
	require.NoError(t, err)
	f, err := db.Get("app", uuidN(1))
	require.NoError(t, err)
	assert.Equal(t, []any{"mine.jpg", "mine", int64(5), hour0.Add(-time.Hour)}, []any{f.Name, f.ShareSecret, f.Size, f.Uploaded})
	assert.Equal(t, "1", f.Msg.MsgID)
	f, err = db.Get("app", uuidN(2))
	require.NoError(t, err)
	assert.Equal(t, []any{"named.bin", "named.bin", "s2", int64(102)}, []any{f.Name, f.LinkName, f.ShareSecret, f.Size})
	assert.Equal(t, looked.Ino, f.Ino)
}

func TestImportHourRefusesBadInput(t *testing.T) {
	db, _ := openTemp(t)
	for _, m := range []Message{
		msg("", 1, "chat", "a", "b", uuidN(1), "x"),
		msg("1", 1, "chat", "a", "b", "", "x"),
		msg("1", 1, "telepathy", "a", "b", uuidN(1), "x"),
		msg("1", 1, "chat", "a\x00", "b", uuidN(1), "x"),
	} {
		_, err := db.ImportHour("app", HourState{Hour: hour0}, []Message{msg("ok", 0, "chat", "a", "b", uuidN(9), "ok"), m})
		assert.Error(t, err)
	}
	n, err := db.Count("app")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing of a refused import")
}

func TestHourStates(t *testing.T) {
	db, _ := openTemp(t)
	for i := range 5 {
		require.NoError(t, db.SetHour("app", HourState{Hour: hour0.Add(time.Duration(i) * time.Hour), State: "empty", Tries: i}))
	}
	require.NoError(t, db.DropHours("app", hour0.Add(2*time.Hour)))
	var tries []int
	require.NoError(t, db.Hours("app", func(st HourState) error {
		tries = append(tries, st.Tries)
		return nil
	}))
	assert.Equal(t, []int{2, 3, 4}, tries)
	_, err := db.Hour("app", hour0)
	assert.ErrorIs(t, err, ErrNotFound)
}
