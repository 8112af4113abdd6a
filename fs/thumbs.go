package fs

import (
	"path"

	"github.com/chatfs/chatfs/core"
)

// offerFiles offers a listing of files/ at dir to the desktop's thumbnail
// cache (core.App.OfferThumbnails): only the entries with a server
// thumbnail, so a folder of other files costs the listing nothing.
func offerFiles(app *core.App, dir string, list []core.Entry) {
	if !app.DesktopThumbnails() {
		return
	}
	var items []core.Shown
	for _, e := range list {
		if e.HasThumbnail() {
			items = append(items, core.Shown{Path: dir + "/" + e.Name(), Entry: e})
		}
	}
	app.OfferThumbnails(items)
}

// offerLinks offers a listing of by-name/ (or a folder in it; its folders
// are skipped) at dir: a file manager shows each link under its own path.
func offerLinks(app *core.App, dir string, list []byNameItem) {
	if !app.DesktopThumbnails() {
		return
	}
	var items []core.Shown
	for _, it := range list {
		if it.dir != "" {
			continue
		}
		if e := it.file.Entry(); e.HasThumbnail() {
			items = append(items, core.Shown{Path: dir + "/" + path.Base(it.file.LinkName()), Entry: e})
		}
	}
	app.OfferThumbnails(items)
}

// offerChats offers a listing of a chats/ conversation folder at dir.
func offerChats(app *core.App, dir string, list []core.ChatEntry) {
	if !app.DesktopThumbnails() {
		return
	}
	var items []core.Shown
	for _, c := range list {
		if e := c.Entry(); e.HasThumbnail() {
			items = append(items, core.Shown{Path: dir + "/" + c.Name(), Entry: e})
		}
	}
	app.OfferThumbnails(items)
}
