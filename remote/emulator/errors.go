package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// apiError is one error answer of the service: its status and body fields.
type apiError struct {
	status      int
	code        string // "error"
	exception   string // "exception"
	description string // "error_description"
}

// The error answers of the service (DESIGN.md §1), and the emulator's own
// for routes the service does not have.
var (
	errNoFile = apiError{http.StatusBadRequest, "illegal_argument",
		"java.lang.IllegalArgumentException", "file must be provided."}
	errBadToken = apiError{http.StatusUnauthorized, "auth_bad_access_token",
		"EasemobSecurityException", "Unable to authenticate due to corrupt access token"}
	errNotFound = apiError{http.StatusNotFound, "entity_not_found",
		"EntityNotFoundException", "file may not exists"}
	errTooLarge = apiError{http.StatusRequestEntityTooLarge, "file exceeding maximum limit",
		"FileSizeLimitExceededException", "the file size exceeds the maximum limit."}
	errNoRoute = apiError{http.StatusNotFound, "service_resource_not_found",
		"ServiceResourceNotFoundException", "Service resource not found"}
	errClosed = apiError{http.StatusServiceUnavailable, "service_unavailable",
		"ServiceUnavailableException", "the server is closed"}
	errInternal = apiError{http.StatusInternalServerError, "internal_server_error",
		"InternalServerErrorException", "internal server error"}
)

// errForbidden answers a restricted file asked for without its share-secret.
var errForbidden = apiError{http.StatusForbidden, "forbidden_op",
	"ForbiddenOpException", "share-secret is missing or does not match"}

// errExpired answers a file past its lifetime.
func errExpired(uuid string) apiError {
	return apiError{http.StatusNotFound, "file_expired",
		"FileExpiredException", "file " + uuid + " is expired"}
}

// errNoApp answers an app that does not exist (Options.Apps lists others).
func errNoApp(app string) apiError { return errNoAppAt(app, "chatfiles") }

// errNoAppAt answers an app that does not exist, asked for at resource
// ("chatfiles", "messages/users"…).
func errNoAppAt(app, resource string) apiError {
	return apiError{http.StatusNotFound, "organization_application_not_found",
		"OrganizationApplicationNotFoundException",
		"Could not find application for " + app + " from URI: " + app + "/" + resource}
}

// errMethod answers a known route asked with the wrong method.
func errMethod(method string) apiError {
	return apiError{http.StatusMethodNotAllowed, "method_not_allowed",
		"HttpRequestMethodNotSupportedException",
		fmt.Sprintf("Request method '%s' not supported", method)}
}

// writeError writes e as the service's JSON error body, stamped with now.
func (s *Server) writeError(w http.ResponseWriter, e apiError) {
	s.writeJSON(w, e.status, map[string]any{
		"error":             e.code,
		"exception":         e.exception,
		"timestamp":         s.now().UnixMilli(),
		"duration":          0,
		"error_description": e.description,
	})
}

// writeErrorCode writes e with the numeric "error_code" some answers of
// the message layer carry.
func (s *Server) writeErrorCode(w http.ResponseWriter, e apiError, code int) {
	s.writeJSON(w, e.status, map[string]any{
		"error":             e.code,
		"exception":         e.exception,
		"timestamp":         s.now().UnixMilli(),
		"duration":          0,
		"error_code":        code,
		"error_description": e.description,
	})
}

// writeJSON writes v as a JSON answer with status.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain maps and strings are marshalled here
		panic(err)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
