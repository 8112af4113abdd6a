package index

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"
)

// Link names: by-name/ shows each file under a name derived from File.Name,
// unique per app.
//
//   - A name is made a valid single path component: '/' and NUL become '_',
//     "." and ".." become "_." and "_..", and it is cut to maxName bytes
//     (the stem is shortened, on a UTF-8 boundary, the extension kept).
//   - A name already taken gets " (N)" before its extension, N counting from
//     2: "photo.jpg" → "photo (2).jpg". The extension is what follows the
//     last dot, so "a.tar.gz" → "a.tar (2).gz"; a name without a dot, or
//     whose only dot leads it (".bashrc"), gets the suffix at its end:
//     "README (2)", ".bashrc (2)"; so does a name ending in a dot
//     ("x." → "x. (2)"). An "extension" longer than maxExt bytes is treated
//     as part of the stem.
//   - A hint (key h/) remembers the last N used for a name, so the thousandth
//     "image.jpg" costs one probe, not a thousand. The plain name is always
//     tried first, so a name freed by Forget is reused; a freed "photo (2).jpg"
//     is not handed out again until the counter would reach it.
const (
	maxName = 255 // NAME_MAX in bytes
	maxExt  = 32
)

// cleanName makes name a valid single path component (before any cut). It
// works on bytes: a name that is not UTF-8 keeps its bytes (strings.Map
// would turn each invalid one into U+FFFD).
func cleanName(name string) string {
	if strings.ContainsAny(name, "/\x00") {
		b := []byte(name)
		for i, c := range b {
			if c == '/' || c == 0 {
				b[i] = '_'
			}
		}
		name = string(b)
	}
	if name == "." || name == ".." {
		name = "_" + name
	}
	return name
}

// splitExt splits a cleaned name into stem and extension as described above.
func splitExt(name string) (stem, ext string) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 || len(name)-i > maxExt {
		return name, ""
	}
	return name[:i], name[i:]
}

// candidate is the n-th name tried for stem+ext (n = 1 is the name itself),
// cut to maxName bytes.
func candidate(stem, ext string, n int) string {
	suffix := ""
	if n > 1 {
		suffix = " (" + strconv.Itoa(n) + ")"
	}
	return truncUTF8(stem, maxName-len(ext)-len(suffix)) + suffix + ext
}

// truncUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence
// (bytes that are not UTF-8 are cut anywhere).
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	start := n // start of the sequence that s[n] belongs to, if any
	for back := 0; back < utf8.UTFMax-1 && start > 0 && !utf8.RuneStart(s[start]); back++ {
		start--
	}
	if start < n {
		if r, size := utf8.DecodeRuneInString(s[start:]); (r != utf8.RuneError || size > 1) && start+size > n {
			return s[:start] // a valid rune straddles the cut
		}
	}
	return s[:n]
}

// assignLinkName picks the first free link name for name in app, records it
// as pointing to uuid, and returns it. Reads of the probed names join the
// transaction's read set, so two transactions taking the same name conflict
// and one reruns.
func assignLinkName(txn *badger.Txn, app, name, uuid string) (string, error) {
	return assignUnique(txn, name, []byte(uuid),
		func(c string) []byte { return appKey(pfxName, app, c) },
		func(clean string) []byte { return appKey(pfxHint, app, clean) })
}

// assignUnique is assignLinkName for any folder of unique names: nameKey
// keys a candidate name (set to value when free), hintKeyOf the hint of a
// cleaned name.
func assignUnique(txn *badger.Txn, name string, value []byte, nameKey, hintKeyOf func(string) []byte) (string, error) {
	clean := cleanName(name)
	stem, ext := splitExt(clean)
	try := func(n int) (string, bool, error) {
		c := candidate(stem, ext, n)
		_, err := txn.Get(nameKey(c))
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return c, true, txn.Set(nameKey(c), value)
		case err != nil:
			return "", false, err
		}
		return "", false, nil
	}
	if c, ok, err := try(1); ok || err != nil {
		return c, err
	}
	hintKey := hintKeyOf(clean)
	n := 2
	if item, err := txn.Get(hintKey); err == nil {
		v, err := item.ValueCopy(nil)
		if err != nil {
			return "", err
		}
		if h, err := strconv.Atoi(string(v)); err == nil && h >= 2 {
			n = h + 1
		}
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return "", err
	}
	for ; ; n++ {
		c, ok, err := try(n)
		if err != nil {
			return "", err
		}
		if ok {
			return c, txn.Set(hintKey, []byte(strconv.Itoa(n)))
		}
	}
}

// dropLinkName removes by-name/<name> of app if it still points to uuid.
func dropLinkName(txn *badger.Txn, app, name, uuid string) error {
	if name == "" {
		return nil
	}
	key := appKey(pfxName, app, name)
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return err
	}
	if string(v) != uuid {
		return nil
	}
	return txn.Delete(key)
}
