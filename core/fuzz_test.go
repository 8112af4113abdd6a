package core_test

import (
	"strings"
	"testing"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/remote"
)

// FuzzParseFileName checks that a name of files/ is accepted only for a
// valid uuid (so no path or request is ever built from anything else), and
// that an accepted name is exactly the uuid or the uuid and ThumbSuffix.
func FuzzParseFileName(f *testing.F) {
	const uuid = "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f"
	for _, s := range []string{
		uuid, uuid + core.ThumbSuffix, uuid + core.ThumbSuffix + core.ThumbSuffix,
		strings.ToUpper(uuid), "../" + uuid, uuid + "/..", core.ThumbSuffix, "",
		".", "..", uuid[:35], uuid + "\x00", "by-name", uuid + ".THUMB",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		uuid, thumb, ok := core.ParseFileName(name)
		if !ok {
			return
		}
		if !remote.ValidUUID(uuid) {
			t.Fatalf("ParseFileName(%q) accepted uuid %q", name, uuid)
		}
		want := uuid
		if thumb {
			want += core.ThumbSuffix
		}
		if name != want {
			t.Fatalf("ParseFileName(%q) = %q, %v: the name is not rebuilt from them", name, uuid, thumb)
		}
	})
}
