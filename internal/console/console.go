// Package console serves the web console: a single-page app, embedded in the binary, that
// manages Switchboard through the public management API only (nothing the CLI cannot do).
package console

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is where the console is served.
const Prefix = "/console/"

// CSP is the console's Content-Security-Policy: its own scripts and styles only, no inline
// code, no frames, and requests to its own origin alone (the management API).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// pageCSP is the CSP of the app's page: CSP, with style elements that carry the page's nonce
// allowed besides. CodeMirror writes its theme into a <style> element (given the nonce by
// EditorView.cspNonce); no inline style attribute and no inline script is allowed.
func pageCSP(nonce string) string {
	return strings.Replace(CSP, "style-src 'self'", "style-src 'self' 'nonce-"+nonce+"'", 1)
}

// noncePlaceholder is replaced in index.html by each answer's nonce.
const noncePlaceholder = "{{nonce}}"

//go:embed assets
var embedded embed.FS

// asset is one embedded file, read once.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the console under Prefix: its files, and the app's page for any other path
// that names no file (the app routes by the URL's fragment).
type Handler struct {
	files map[string]asset // by path under assets/, "index.html"
}

// New reads the embedded assets.
func New() *Handler {
	h := &Handler{files: map[string]asset{}}
	err := fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(p))
		if path.Ext(p) == ".js" {
			ctype = "text/javascript; charset=utf-8" // whatever the system's mime table says
		}
		if ctype == "" {
			ctype = "text/plain; charset=utf-8"
		}
		h.files[strings.TrimPrefix(p, "assets/")] = asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("console: embedded assets unreadable: " + err.Error()) // a broken build, not input
	}
	return h
}

// appExts are the extensions of files the app loads: a path with one that names no file is a
// 404, not the app's page (a missing module served as HTML would fail far from its cause).
var appExts = map[string]bool{".js": true, ".css": true, ".png": true, ".svg": true, ".txt": true, ".map": true, ".json": true}

// ServeHTTP answers GET and HEAD under Prefix, and redirects the bare /console to it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "the console is read with GET", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	rel, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+rel), "/")
	a, found := h.files[name]
	if !found && appExts[path.Ext(name)] {
		http.NotFound(w, r)
		return
	}
	if !found || name == "index.html" {
		// The page: a new nonce each time, so never cached.
		nonce := rand.Text()
		hd.Set("Content-Security-Policy", pageCSP(nonce))
		hd.Set("Cache-Control", "no-store")
		hd.Set("Content-Type", "text/html; charset=utf-8")
		page := h.files["index.html"].body
		w.Write(bytes.ReplaceAll(page, []byte(noncePlaceholder), []byte(nonce))) //nolint:errcheck // client gone
		return
	}
	// Revalidated on every load, so a new binary's console is never mixed with an old one's.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
