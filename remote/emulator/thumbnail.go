package emulator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"

	"golang.org/x/image/draw"
)

// errNoThumbnail reports a file that has no thumbnail. The service makes
// thumbnails for images only and documents no answer for other files; the
// emulator answers 404 entity_not_found, the answer for "no such thing",
// which chatfs maps to ENOENT for <uuid>.thumb.
var errNoThumbnail = errors.New("no thumbnail")

// thumbWorkers bounds how many thumbnails are made at once: decoding a
// large image takes hundreds of MB.
const thumbWorkers = 2

// maxThumbPixels bounds the images the emulator will decode for a thumbnail
// (a small file can declare a huge image); larger ones have no thumbnail.
const maxThumbPixels = 64 << 20

// thumbnail returns the path of the thumbnail of uuid, making and caching
// it on first use. An image (PNG, JPEG or GIF, as decoding the stored bytes
// says, whatever the upload called it) of at most 10 KB, or one that
// already fits the box, is its own thumbnail. A larger one is scaled to fit
// the box given at upload (170×170 by default), keeping its aspect ratio
// and never enlarging, and re-encoded in its own format; for a GIF, the
// first frame. At most thumbWorkers thumbnails are made at once, and a
// request that waited for its turn first looks again for a cached one.
func (s *Server) thumbnail(app, uuid string, m meta) (string, error) {
	data := s.st.dataPath(app, uuid)
	f, err := os.Open(data)
	if err != nil {
		return "", err
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(bufio.NewReader(f))
	if err != nil || (format != "png" && format != "jpeg" && format != "gif") {
		return "", errNoThumbnail
	}
	if m.Size <= ownThumbMax {
		return data, nil
	}
	bw, bh := m.ThumbWidth, m.ThumbHeight
	if bw <= 0 {
		bw = defaultThumbBox
	}
	if bh <= 0 {
		bh = defaultThumbBox
	}
	tw, th := fitBox(cfg.Width, cfg.Height, bw, bh)
	if tw == cfg.Width && th == cfg.Height {
		return data, nil
	}
	cached := s.st.thumbPath(app, uuid)
	if _, err := os.Stat(cached); err == nil {
		return cached, nil
	}
	s.thumbSem <- struct{}{}
	defer func() { <-s.thumbSem }()
	if _, err := os.Stat(cached); err == nil { // made while this one waited
		return cached, nil
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxThumbPixels {
		return "", errNoThumbnail
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	src, _, err := image.Decode(bufio.NewReader(f))
	if err != nil { // the header was fine but the pixels are not: no thumbnail
		return "", errNoThumbnail
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	var buf bytes.Buffer
	switch format {
	case "png":
		err = png.Encode(&buf, dst)
	case "jpeg":
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85})
	case "gif":
		err = gif.Encode(&buf, dst, nil)
	}
	if err != nil {
		return "", fmt.Errorf("encoding %s thumbnail: %w", format, err)
	}
	if err := s.st.writeAtomic(cached, buf.Bytes()); err != nil {
		return "", err
	}
	return cached, nil
}

// fitBox returns the size of a w×h image scaled to fit within bw×bh,
// keeping its aspect ratio (rounded to the nearest pixel, at least 1) and
// never enlarging it.
func fitBox(w, h, bw, bh int) (int, int) {
	if w <= bw && h <= bh {
		return w, h
	}
	W, H, BW, BH := int64(w), int64(h), int64(bw), int64(bh)
	if W*BH >= H*BW { // width is the tighter constraint
		return bw, int(max(1, (2*H*BW+W)/(2*W)))
	}
	return int(max(1, (2*W*BH+H)/(2*H))), bh
}
