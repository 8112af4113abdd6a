// Package thumbs fills the desktop's thumbnail cache, as the freedesktop
// Thumbnail Managing Standard lays it out, from thumbnails chatfs already
// has, so that a file manager showing a folder of the mount finds each
// image's thumbnail ready instead of reading every file whole to make one.
//
// Model: a Cache owns a small pool of workers, started when items are
// offered and gone when none wait. An Item is a path as a file manager
// lists it, its mtime, and a way to get the server's thumbnail. A worker
// skips an item whose thumbnail is already up to date (same Thumb::URI and
// Thumb::MTime), else fetches, decodes (JPEG, PNG, GIF), scales to fit
// 128×128 (never up), and writes a PNG with the standard's text chunks to
// DIR/normal/<md5 of the URI>.png through a temp file in the same folder
// and a rename. Close cancels the work and waits for it.
package thumbs

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// NormalSize is the largest dimension of a thumbnail in normal/.
const NormalSize = 128

// Dir is the thumbnail cache of the user running chatfs:
// $XDG_CACHE_HOME/thumbnails, ~/.cache/thumbnails when XDG_CACHE_HOME is
// unset or not absolute (as the XDG Base Directory spec asks).
func Dir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "thumbnails"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || !filepath.IsAbs(home) {
		return "", errors.New("thumbs: no home directory for the thumbnail cache")
	}
	return filepath.Join(home, ".cache", "thumbnails"), nil
}

// URI is the file URI of an absolute path as the standard (and GLib's
// g_filename_to_uri, which GNOME, Xfce and MATE file managers use) spells
// it: "file://" and the path with every byte outside A-Z a-z 0-9 and
// !$&'()*+,-./:=@_~ escaped as %XX, upper-case.
func URI(path string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString("file://")
	for i := 0; i < len(path); i++ {
		c := path[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!$&'()*+,-./:=@_~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// Name is the file name of a URI's thumbnail: the MD5 of the URI in
// lower-case hex, and ".png".
func Name(uri string) string {
	sum := md5.Sum([]byte(uri))
	return hex.EncodeToString(sum[:]) + ".png"
}

// Text chunk keys of the standard.
const (
	KeyURI   = "Thumb::URI"
	KeyMTime = "Thumb::MTime"
	KeySize  = "Thumb::Size"
	KeyMime  = "Thumb::Mime"
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// withText returns the PNG p with tEXt chunks for kv (key, value pairs)
// inserted after its IHDR chunk. Keys and values must be Latin-1 without
// NUL; the ones written here are ASCII.
func withText(p []byte, kv ...string) ([]byte, error) {
	const ihdrEnd = 8 + 4 + 4 + 13 + 4
	if len(p) < ihdrEnd || !bytes.Equal(p[:8], pngSignature) || string(p[12:16]) != "IHDR" {
		return nil, errors.New("thumbs: not a PNG")
	}
	var out bytes.Buffer
	out.Write(p[:ihdrEnd])
	for i := 0; i+1 < len(kv); i += 2 {
		data := append(append([]byte(kv[i]), 0), kv[i+1]...)
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)))
		copy(hdr[4:], "tEXt")
		out.Write(hdr[:])
		out.Write(data)
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:])
		crc.Write(data)
		binary.Write(&out, binary.BigEndian, crc.Sum32()) //nolint:errcheck // bytes.Buffer
	}
	out.Write(p[ihdrEnd:])
	return out.Bytes(), nil
}

// maxTextScan bounds the bytes read of an existing thumbnail to find its
// text chunks, which come before the image data.
const maxTextScan = 64 << 10

// ReadText returns the tEXt chunks of the PNG at path that come before its
// image data, as a map.
func ReadText(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := io.ReadAll(io.LimitReader(f, maxTextScan))
	if err != nil {
		return nil, err
	}
	if len(p) < 8 || !bytes.Equal(p[:8], pngSignature) {
		return nil, errors.New("thumbs: not a PNG")
	}
	text := map[string]string{}
	for off := 8; off+8 <= len(p); {
		n := int(binary.BigEndian.Uint32(p[off:]))
		typ := string(p[off+4 : off+8])
		if n < 0 || n > len(p)-off-12 || typ == "IDAT" || typ == "IEND" {
			break
		}
		if typ == "tEXt" {
			if k, v, ok := bytes.Cut(p[off+8:off+8+n], []byte{0}); ok {
				text[string(k)] = string(v)
			}
		}
		off += 12 + n
	}
	return text, nil
}

// upToDate reports whether the thumbnail at path is for uri at mtime.
func upToDate(path, uri string, mtime int64) bool {
	text, err := ReadText(path)
	return err == nil && text[KeyURI] == uri && text[KeyMTime] == strconv.FormatInt(mtime, 10)
}

// mtimeOf is the Thumb::MTime of a modification time: whole seconds, as
// stat's st_mtime gives them.
func mtimeOf(t time.Time) int64 { return t.Unix() }
