package mount

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFuseMountedAt(t *testing.T) {
	info := `36 35 98:0 / /mnt1 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
40 35 0:50 / /tmp/a\040b rw,nosuid,nodev shared:9 - fuse.chatfs chatfs rw,user_id=0,group_id=0
41 35 0:51 / /tmp/plain rw - fuse chatfs rw
42 35 0:52 / /tmp/tmpfs rw - tmpfs tmpfs rw
`
	for dir, want := range map[string]bool{
		"/tmp/a b": true, "/tmp/plain": true, "/tmp/tmpfs": false, "/mnt1": false, "/tmp/a": false, "/nowhere": false,
	} {
		assert.Equal(t, want, fuseMountedAt(info, dir), dir)
	}
	assert.Equal(t, `a\b`, unescapeMountinfo(`a\134b`))
	assert.Equal(t, `a\0`, unescapeMountinfo(`a\0`), "a short escape is kept")
}
