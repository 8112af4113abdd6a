package core

import "errors"

// Errors the core returns besides those of remote, index and cache. fs/
// maps all of them to errnos in one place.
var (
	// ErrNotExist: no such file (a name that is not a uuid, a forgotten file,
	// a uuid the server does not know).
	ErrNotExist = errors.New("no such file")
	// ErrTooLarge: a write or truncate past the size limit.
	ErrTooLarge = errors.New("file exceeds the size limit")
	// ErrEmpty: a staged file of 0 bytes, which the service refuses ("file
	// must be provided."); it is refused locally with this clearer reason.
	ErrEmpty = errors.New("the file is empty: the service does not accept empty files")
	// ErrClosed: the App is closing or closed; lookups of unknown uuids
	// in flight are cancelled with it.
	ErrClosed = errors.New("core: app closed")
)
