package core

import "github.com/chatfs/chatfs/index"

// Record is the index record an entry was made from, for tests that check
// what the core recorded.
func (e Entry) Record() index.File { return e.file }
