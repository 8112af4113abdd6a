package core_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
)

func TestChatFoldersShowImportedAttachments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, newFakeRemote(), nil)
	sent := time.Date(2026, 11, 28, 7, 30, 0, 0, time.UTC)
	msgs := []index.Message{
		{MsgFacts: index.MsgFacts{MsgID: "1", From: "alice", To: "bob", ChatType: "chat", Sent: sent},
			UUID: uuidA, Name: "a.png", Size: 3, ShareSecret: "sec"},
		{MsgFacts: index.MsgFacts{MsgID: "2", From: "alice", To: "g1", ChatType: "groupchat", Sent: sent.Add(time.Minute)},
			UUID: uuidB, Name: "b.txt", Size: 4},
	}
	_, err := e.idx.ImportHour(testApp, index.HourState{Hour: sent.Truncate(time.Hour)}, msgs)
	require.NoError(t, err)

	list := func(kind, id string) map[string]core.ChatEntry {
		got := map[string]core.ChatEntry{}
		require.NoError(t, e.app.ListChat(kind, id, func(c core.ChatEntry) error { got[c.Name()] = c; return nil }))
		return got
	}
	bob := list("users", "bob")
	require.Contains(t, bob, "a.png")
	assert.Equal(t, "../../../files/"+uuidA, bob["a.png"].Target())
	assert.Equal(t, sent, bob["a.png"].Sent())
	assert.Equal(t, list("users", "alice"), bob, "both users of a one-to-one chat")
	assert.Contains(t, list("groups", "g1"), "b.txt")
	assert.Empty(t, list("users", "nobody"))
	assert.ErrorIs(t, e.app.ListChat("users", "../x", func(core.ChatEntry) error { return nil }), core.ErrNotExist)
	assert.ErrorIs(t, e.app.ListChat("files", "x", func(core.ChatEntry) error { return nil }), core.ErrNotExist)

	c, err := e.app.LookupChat("users", "alice", "a.png")
	require.NoError(t, err)
	f, err := e.idx.Get(testApp, uuidA)
	require.NoError(t, err)
	assert.Equal(t, f.Ino+3, c.Ino())
	_, err = e.app.LookupChat("users", "alice", "b.txt")
	assert.ErrorIs(t, err, core.ErrNotExist)

	conv, err := e.app.LookupConversation("users", "nobody")
	require.NoError(t, err, "a well-formed id is a folder, empty")
	assert.True(t, conv.Latest.IsZero())
	other, err := e.app.LookupConversation("groups", "nobody")
	require.NoError(t, err)
	assert.NotEqual(t, conv.Ino(), other.Ino())
	assert.GreaterOrEqual(t, conv.Ino(), uint64(1<<60))
	_, err = e.app.LookupConversation("users", "a/b")
	assert.ErrorIs(t, err, core.ErrNotExist)
	var users []string
	require.NoError(t, e.app.ListConversations("users", func(c core.Conversation) error { users = append(users, c.ID); return nil }))
	assert.Equal(t, []string{"alice", "bob"}, users)

	// The file's xattrs carry the message's facts.
	en, err := e.app.Lookup(t.Context(), uuidA)
	require.NoError(t, err)
	xs := map[string]string{}
	for _, x := range core.FileXattrs(en) {
		xs[x.Name] = x.Value
	}
	assert.Equal(t, map[string]string{"user.chatfs.from": "alice", "user.chatfs.to": "bob", "user.chatfs.chat_type": "chat",
		"user.chatfs.msg_id": "1", "user.chatfs.sent": "2026-11-28T07:30:00Z", "user.chatfs.name": "a.png", "user.chatfs.share_secret": "sec",
		"user.chatfs.uuid": uuidA}, xs)

	// An expired file leaves chats/ as it leaves files/.
	require.NoError(t, e.idx.MarkExpired(testApp, uuidA, sent))
	assert.Empty(t, list("users", "bob"))
	_, err = e.app.LookupChat("users", "bob", "a.png")
	assert.ErrorIs(t, err, core.ErrNotExist)
}
