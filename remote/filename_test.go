package remote

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The part header holds printable ASCII only whenever the name has a
// control character or bytes that are not UTF-8.
func TestFilenameParams(t *testing.T) {
	for name, want := range map[string]string{
		"photo.jpg":             `filename="photo.jpg"`,
		`a "b" \c`:              `filename="a \"b\" \\c"`,
		"отчёт.pdf":             `filename="отчёт.pdf"`,
		"esc\x1b.txt":           `filename="esc_.txt"; filename*=UTF-8''esc%1B.txt`,
		"\xff\xfe.bin":          `filename="__.bin"; filename*=UTF-8''%FF%FE.bin`,
		"l\n\"%'é\r":            `filename="l_\"%'___"; filename*=UTF-8''l%0A%22%25%27%C3%A9%0D`,
		"tab\there (1) ~^`.txt": `filename="tab_here (1) ~^` + "`" + `.txt"; filename*=UTF-8''tab%09here%20%281%29%20~^` + "`" + `.txt`,
	} {
		got := filenameParams(name)
		assert.Equal(t, want, got, "%q", name)
		if name != "отчёт.pdf" {
			for _, c := range []byte(got) {
				assert.True(t, c >= 0x20 && c < 0x7f, "%q: byte %#x in the header", name, c)
			}
		}
	}
}
