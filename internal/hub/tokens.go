package hub

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// loadOrCreateToken returns given when set; else the token in <dir>/<name>, creating it (random,
// mode 0600) on first start so a restart keeps the same token.
func loadOrCreateToken(given, dir, name, prefix string) (token string, path string, err error) {
	if given != "" {
		return given, "", nil
	}
	path = filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		t := strings.TrimSpace(string(b))
		if len(t) < 16 {
			return "", path, fmt.Errorf("token file %s holds fewer than 16 characters; delete it to have a new one made", path)
		}
		return t, path, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", path, fmt.Errorf("read token file: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", path, fmt.Errorf("create data dir: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", path, fmt.Errorf("make token: %w", err)
	}
	token = prefix + hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", path, fmt.Errorf("write token file: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", path, fmt.Errorf("write token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", path, fmt.Errorf("write token file: %w", err)
	}
	return token, path, nil
}
