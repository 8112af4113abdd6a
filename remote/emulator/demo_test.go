package emulator

import (
	"bytes"
	"encoding/json"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSeedDemo: the demo's attachments download with the sizes and
// dimensions their messages state, and every demo hour's history is
// already available.
func TestSeedDemo(t *testing.T) {
	e := newEnv(t, Options{HistoryRate: -1})
	seeded, err := e.srv.SeedDemo(DemoOptions{URL: e.url})
	require.NoError(t, err)
	require.True(t, seeded)

	recs, err := e.srv.Messages(DemoApp)
	require.NoError(t, err)
	require.Len(t, recs, 7)
	kinds := map[string]int{}
	names := map[string]bool{}
	hours := map[string]bool{}
	for _, r := range recs {
		kinds[r.ChatType]++
		assert.Less(t, r.Timestamp, t0.Add(-time.Hour).UnixMilli(), "in past hours")
		hours[time.UnixMilli(r.Timestamp).UTC().Format(hourLayout)] = true
		var body struct {
			Type       string `json:"type"`
			URL        string `json:"url"`
			Filename   string `json:"filename"`
			Secret     string `json:"secret"`
			FileLength int64  `json:"file_length"`
			Size       *struct{ Width, Height int }
		}
		require.NoError(t, json.Unmarshal(r.Payload.Bodies[0], &body))
		if body.Type == "txt" {
			continue
		}
		names[body.Filename] = true
		prefix := e.url + "/app-id/demo/chatfiles/"
		require.True(t, strings.HasPrefix(body.URL, prefix), body.URL)
		uuid := strings.TrimPrefix(body.URL, prefix)
		hdr := map[string]string{}
		if body.Secret != "" {
			e.requireError(e.get("/app-id/demo", uuid, nil), 403, "forbidden_op", "ForbiddenOpException",
				"share-secret is missing or does not match")
			hdr["share-secret"] = body.Secret
		}
		a := e.get("/app-id/demo", uuid, hdr)
		require.Equal(t, 200, a.status, body.Filename)
		assert.Equal(t, body.FileLength, int64(len(a.body)))
		switch body.Type {
		case "img":
			cfg, format, err := image.DecodeConfig(bytes.NewReader(a.body))
			require.NoError(t, err, body.Filename)
			ext := map[string]string{"jpeg": ".jpg", "png": ".png"}[format]
			assert.Equal(t, filepath.Ext(body.Filename), ext, "%s is a %s", body.Filename, format)
			require.NotNil(t, body.Size)
			assert.Equal(t, body.Size.Width, cfg.Width)
			assert.Equal(t, body.Size.Height, cfg.Height)
			th := e.get("/app-id/demo", uuid, map[string]string{"thumbnail": "true"})
			assert.Equal(t, 200, th.status, "images have thumbnails")
		case "file":
			requireValidPDF(t, a.body)
		default:
			t.Fatalf("unexpected type %q", body.Type)
		}
	}
	assert.Equal(t, map[string]int{"chat": 4, "groupchat": 3}, kinds)
	assert.Len(t, names, 5)
	for h := range hours {
		u := e.exportURL("/app-id/demo", h)
		assert.NotEmpty(t, exportRecords(t, fetch(t, u, nil).body))
	}

	// Once per data directory: not again, not after a restart.
	seeded, err = e.srv.SeedDemo(DemoOptions{URL: e.url})
	require.NoError(t, err)
	assert.False(t, seeded)
	e2 := newEnv(t, Options{Dir: e.dir})
	seeded, err = e2.srv.SeedDemo(DemoOptions{URL: e2.url})
	require.NoError(t, err)
	assert.False(t, seeded)
	recs, err = e2.srv.Messages(DemoApp)
	require.NoError(t, err)
	assert.Len(t, recs, 7)
	fi, err := os.Stat(filepath.Join(e.dir, "demo", appDirName(DemoApp)))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// requireValidPDF checks a PDF's header, trailer and that every xref
// offset points at its object.
func requireValidPDF(t *testing.T, b []byte) {
	t.Helper()
	require.True(t, bytes.HasPrefix(b, []byte("%PDF-1.")))
	require.True(t, bytes.HasSuffix(b, []byte("%%EOF\n")))
	m := regexp.MustCompile(`startxref\n(\d+)\n`).FindSubmatch(b)
	require.NotNil(t, m)
	xref, _ := strconv.Atoi(string(m[1]))
	require.True(t, bytes.HasPrefix(b[xref:], []byte("xref\n0 6\n")))
	entries := regexp.MustCompile(`(\d{10}) 00000 n `).FindAllSubmatch(b[xref:], -1)
	require.Len(t, entries, 5)
	for i, en := range entries {
		off, _ := strconv.Atoi(string(en[1]))
		assert.True(t, bytes.HasPrefix(b[off:], []byte(strconv.Itoa(i+1)+" 0 obj\n")), "object %d", i+1)
	}
	loc := regexp.MustCompile(`<< /Length (\d+) >>\nstream\n`).FindSubmatchIndex(b)
	require.NotNil(t, loc)
	n, _ := strconv.Atoi(string(b[loc[2]:loc[3]]))
	assert.True(t, bytes.HasPrefix(b[loc[1]+n:], []byte("\nendstream")))
}

// TestSeedDemoIfEmpty: with IfEmpty, an app that already has files or
// messages is left alone; an interrupted seeding is finished without
// storing anything twice.
func TestSeedDemoIfEmpty(t *testing.T) {
	e := newEnv(t, Options{})
	e.put("/app-id/demo", []byte("mine"), nil)
	seeded, err := e.srv.SeedDemo(DemoOptions{URL: e.url, IfEmpty: true})
	require.NoError(t, err)
	assert.False(t, seeded)
	recs, _ := e.srv.Messages(DemoApp)
	assert.Empty(t, recs)

	post(t, e.srv, "org/app", t0, "a", "b", "hi")
	seeded, err = e.srv.SeedDemo(DemoOptions{App: "org/app", URL: e.url, IfEmpty: true})
	require.NoError(t, err)
	assert.False(t, seeded)

	// Interrupted: the marker says seeding, part of it is stored.
	f := newEnv(t, Options{})
	seeded, err = f.srv.SeedDemo(DemoOptions{App: "org/demo", URL: f.url, IfEmpty: true})
	require.NoError(t, err)
	require.True(t, seeded)
	mark := filepath.Join(f.dir, "demo", appDirName("org/demo"))
	require.NoError(t, os.WriteFile(mark, []byte("seeding\n"), 0o600))
	recs, err = f.srv.Messages("org/demo")
	require.NoError(t, err)
	last := filepath.Join(f.dir, "messages", appDirName("org/demo"),
		time.UnixMilli(recs[len(recs)-1].Timestamp).UTC().Format(hourLayout)+".jsonl")
	require.NoError(t, os.Remove(last))
	seeded, err = f.srv.SeedDemo(DemoOptions{App: "org/demo", URL: f.url, IfEmpty: true})
	require.NoError(t, err)
	require.True(t, seeded)
	again, err := f.srv.Messages("org/demo")
	require.NoError(t, err)
	require.Len(t, again, 7)
	ids := map[string]bool{}
	for _, r := range again {
		ids[r.MsgID] = true
	}
	assert.Len(t, ids, 7)
	// The files were not stored twice either (same uuids, same secrets).
	assert.Equal(t, recs[4].Payload.Bodies, again[4].Payload.Bodies)

	_, err = f.srv.SeedDemo(DemoOptions{URL: "not a url"})
	assert.Error(t, err)
}
