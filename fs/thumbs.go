package fs

import "github.com/chatfs/chatfs/core"

// offerFiles offers a listing of files/ at dir to the desktop's thumbnail
// cache (core.App.OfferThumbnails).
func offerFiles(app *core.App, dir string, list []core.Entry) {
	if !app.DesktopThumbnails() {
		return
	}
	items := make([]core.Shown, len(list))
	for i, e := range list {
		items[i] = core.Shown{Path: dir + "/" + e.Name(), Entry: e}
	}
	app.OfferThumbnails(items)
}

// offerLinks offers a listing of by-name/ (or any folder of links to
// files/) at dir: a file manager shows each link under its own path.
func offerLinks(app *core.App, dir string, list []core.File) {
	if !app.DesktopThumbnails() {
		return
	}
	items := make([]core.Shown, len(list))
	for i, f := range list {
		items[i] = core.Shown{Path: dir + "/" + f.LinkName(), Entry: f.Entry()}
	}
	app.OfferThumbnails(items)
}
