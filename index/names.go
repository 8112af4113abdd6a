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

// assignLinkName picks the first free link name for name in folder of app
// (see cleanFolder), records it as pointing to uuid, and returns its path
// in by-name/. Reads of the probed names join the transaction's read set,
// so two transactions taking the same name conflict and one reruns.
//
// The collision rule applies per folder: "a/x.jpg" and "b/x.jpg" are both
// free. A file never takes the name of a folder beside it, and a folder
// component that is a file's link beside it gets the " (N)" suffix too
// ("album" taken by a file → "album (2)/x.jpg").
func assignLinkName(txn *badger.Txn, app, folder, name, uuid string) (string, error) {
	dir, err := placeFolder(txn, app, cleanFolder(folder))
	if err != nil {
		return "", err
	}
	c, err := assignUnique(txn, name, []byte(uuid),
		func(c string) []byte { return appKey(pfxName, app, dir+c) },
		func(clean string) []byte { return appKey(pfxHint, app, dir+clean) },
		func(c string) (bool, error) {
			// Reading the folder's mark makes this transaction conflict
			// with one placing a folder c (the prefix scan alone would not
			// when the folder is new).
			if _, err := txn.Get(folderMark(app, dir+c)); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
				return false, err
			}
			return hasPrefix(txn, appKey(pfxName, app, dir+c+"/"))
		})
	return dir + c, err
}

// cleanFolder makes folder a '/'-separated path of valid components:
// empty and "." components are dropped, every other one is cleaned and cut
// as a name is ("..", "." can then never be one), so a link path never
// leaves by-name/.
func cleanFolder(folder string) string {
	var parts []string
	for _, c := range strings.Split(folder, "/") {
		if c == "" || c == "." {
			continue
		}
		parts = append(parts, truncUTF8(cleanName(c), maxName))
	}
	return strings.Join(parts, "/")
}

// placeFolder returns the by-name/ path prefix ("" or "a/b/") for a clean
// folder, each component renamed " (N)" while a file's link holds it.
func placeFolder(txn *badger.Txn, app, folder string) (string, error) {
	if folder == "" {
		return "", nil
	}
	dir := ""
	for _, c := range strings.Split(folder, "/") {
		for n := 1; ; n++ {
			cand := candidate(c, "", n)
			_, err := txn.Get(appKey(pfxName, app, dir+cand))
			if errors.Is(err, badger.ErrKeyNotFound) {
				if err := txn.Set(folderMark(app, dir+cand), nil); err != nil {
					return "", err
				}
				dir += cand + "/"
				break
			}
			if err != nil {
				return "", err
			}
		}
	}
	return dir, nil
}

// folderMark keys the mark a folder of by-name/ leaves among the hints
// (a hint's name never ends in '/'). Placing a folder writes it and a file
// taking a name reads it, so the two conflict and one reruns; the folder
// itself exists while links are in it, whatever the mark.
func folderMark(app, folder string) []byte { return appKey(pfxHint, app, folder+"/") }

// hasPrefix reports whether any key starts with prefix.
func hasPrefix(txn *badger.Txn, prefix []byte) (bool, error) {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	it.Seek(prefix)
	return it.ValidForPrefix(prefix), nil
}

// assignUnique is assignLinkName for any folder of unique names: nameKey
// keys a candidate name (set to value when free), hintKeyOf the hint of a
// cleaned name; busy, when not nil, reports a candidate taken otherwise
// (a folder of that name).
func assignUnique(txn *badger.Txn, name string, value []byte, nameKey, hintKeyOf func(string) []byte, busy func(string) (bool, error)) (string, error) {
	clean := cleanName(name)
	stem, ext := splitExt(clean)
	try := func(n int) (string, bool, error) {
		c := candidate(stem, ext, n)
		if busy != nil {
			if b, err := busy(c); b || err != nil {
				return "", false, err
			}
		}
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
