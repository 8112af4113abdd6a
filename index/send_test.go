package index

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUploadedSurvives: the upload recorded for a send is kept through a
// retry, a cut attempt, a rename and a crash, and dropped by a change.
func TestUploadedSurvives(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	db := openAt(t, dir, clk)
	q := SendQueue("a")
	require.NoError(t, db.Enqueue(q, "users/bob/x.pdf"))
	u, ok := claim(t, db, clk.Now())
	assert.False(t, ok, "the send queue is claimed apart from the app's")
	u, ok, err := db.Claim(q, clk.Now())
	require.NoError(t, err)
	require.True(t, ok)
	assert.Nil(t, u.Uploaded)
	f := File{App: "a", UUID: "u1", Name: "x.pdf", Size: 3, URL: "https://h/chatfiles/u1"}
	require.NoError(t, db.Uploaded(q, u.Path, f))

	uploaded := func(p string) *File {
		t.Helper()
		u, err := db.GetUpload(q, p)
		require.NoError(t, err)
		return u.Uploaded
	}
	require.NotNil(t, uploaded(u.Path))
	assert.Equal(t, f, *uploaded(u.Path))

	// A failed send keeps it; so does a cut attempt (Requeue).
	require.NoError(t, db.Fail(q, u.Path, "429", false, clk.Now()))
	assert.NotNil(t, uploaded(u.Path))
	_, ok, _ = db.Claim(q, clk.Advance(time.Second))
	require.True(t, ok)
	require.NoError(t, db.Requeue(q, u.Path))
	got, _ := db.GetUpload(q, u.Path)
	assert.Equal(t, Waiting, got.State)
	assert.NotNil(t, got.Uploaded)

	// A rename (to another target) keeps it; a crash too.
	require.NoError(t, db.Rename(q, "users/bob", "users/carol"))
	assert.NotNil(t, uploaded("users/carol/x.pdf"))
	_, ok, _ = db.Claim(q, clk.Advance(time.Second))
	require.True(t, ok)
	require.NoError(t, db.Close())
	db = openAt(t, dir, clk)
	got, err = db.GetUpload(q, "users/carol/x.pdf")
	require.NoError(t, err)
	assert.Equal(t, Waiting, got.State)
	require.NotNil(t, got.Uploaded)

	// Sent: Complete records the file as the app's.
	_, ok, _ = db.Claim(q, clk.Advance(time.Second))
	require.True(t, ok)
	f.Msg = &MsgFacts{MsgID: "1029", From: "admin", To: "carol", ChatType: "chat", Sent: clk.Now()}
	require.NoError(t, db.Complete(q, "users/carol/x.pdf", &f))
	rec, err := db.Get("a", "u1")
	require.NoError(t, err)
	require.NotNil(t, rec.Msg)
	assert.Equal(t, "1029", rec.Msg.MsgID)
	// Shown in both users' folders at once; the history import of the
	// same message later adds nothing.
	for _, user := range []string{"carol", "admin"} {
		e, _, err := db.LookupChat("a", FolderUsers, user, "x.pdf")
		require.NoError(t, err, user)
		assert.Equal(t, "u1", e.UUID)
	}
	n, err := db.ImportHour("a", HourState{Hour: clk.Now().Truncate(time.Hour), State: "done"},
		[]Message{{MsgFacts: *f.Msg, UUID: "u1", Name: "x.pdf", Size: 3}})
	require.NoError(t, err)
	assert.Zero(t, n, "already known")
	got, _ = db.GetUpload(q, "users/carol/x.pdf")
	assert.Equal(t, Done, got.State)

	// A change drops it.
	require.NoError(t, db.Enqueue(q, "users/carol/x.pdf"))
	assert.Nil(t, uploaded("users/carol/x.pdf"))

	// Stale reports change nothing; other apps' files do not complete it.
	assert.ErrorIs(t, db.Uploaded(q, "users/carol/x.pdf", f), ErrNotFound)
	assert.Error(t, db.Complete(SendQueue("b"), "p", &File{App: "a", UUID: "u2"}))
}
