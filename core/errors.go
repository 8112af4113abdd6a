package core

import (
	"errors"
	"fmt"

	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// Errors the core returns besides those of remote, index and cache. fs/
// maps all of them to errnos in one place, asking only the predicates
// below, so that it needs no package of ours but core.
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
	// ErrInvalid: a value the operation does not take (a lifetime other
	// than forever, refresh or default).
	ErrInvalid = errors.New("invalid argument")
	// ErrNotSupported: the service does not offer the operation for the
	// app (the lifetime API answering 403 forbidden_op).
	ErrNotSupported = errors.New("operation not supported by the service")
	// ErrLifetimeFailed: the lifetime API answered "failed" for the file.
	ErrLifetimeFailed = errors.New("the service failed to set the file's lifetime")
	// ErrBadTarget: a name in send/users/, send/groups/ or send/rooms/
	// that is not a well-formed user name, group id or room id.
	ErrBadTarget = fmt.Errorf("%w: not a well-formed user name, group id or room id (letters, digits, _ - ., at most 64)", ErrInvalid)
)

// IsNotExist reports whether err says the file does not exist: ErrNotExist,
// a record the index does not have, or a 404 of the service for the file
// (not for the app: see IsRefused).
func IsNotExist(err error) bool {
	return errors.Is(err, ErrNotExist) || errors.Is(err, index.ErrNotFound) || remote.IsNotExist(err)
}

// IsTooLarge reports whether err says a file exceeds the size limit: ours
// (ErrTooLarge) or the service's (413).
func IsTooLarge(err error) bool {
	return errors.Is(err, ErrTooLarge) || remote.IsTooLarge(err)
}

// IsRefused reports whether the service refused access: the token (401),
// the file (403, a restricted file without its share-secret), or the app
// (404 organization_application_not_found, a configuration error).
func IsRefused(err error) bool {
	return remote.IsForbidden(err) || remote.IsUnauthorized(err) || remote.IsAppNotFound(err)
}

// IsQuotaExceeded reports whether the app's quota at the service is used
// up (429 resource_limited); retrying soon does not help.
func IsQuotaExceeded(err error) bool { return remote.IsQuotaExceeded(err) }

// IsInvalid reports whether a request was refused as malformed: by the
// core (ErrInvalid) or the service (400).
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) || remote.IsInvalid(err) }

// IsNotSupported reports whether the service does not offer the operation
// for the app (ErrNotSupported).
func IsNotSupported(err error) bool { return errors.Is(err, ErrNotSupported) }
