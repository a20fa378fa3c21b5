package connector

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// mqttDial connects to an MQTT broker's URL through d: TCP, TLS or a WebSocket (the MQTT
// subprotocol, binary messages), never through a proxy of the environment.
func mqttDial(ctx context.Context, d *net.Dialer, u *url.URL) (net.Conn, error) {
	switch strings.ToLower(u.Scheme) {
	case "mqtt", "tcp":
		return d.DialContext(ctx, "tcp", u.Host)
	case "mqtts", "ssl", "tls":
		return dialTLS(ctx, d, u.Host, nil)
	case "ws", "wss":
		wd := websocket.Dialer{
			NetDialContext:   d.DialContext,
			HandshakeTimeout: d.Timeout,
			Subprotocols:     []string{"mqtt"},
			TLSClientConfig:  &tls.Config{MinVersion: tls.VersionTLS12},
		}
		target := *u
		target.User = nil
		ws, resp, err := wd.DialContext(ctx, target.String(), nil)
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("websocket: %w", err)
		}
		return &wsConn{Conn: ws}, nil
	}
	return nil, fmt.Errorf("scheme %q: want mqtt, mqtts, ws or wss", u.Scheme)
}

// wsConn is a WebSocket as the byte stream MQTT is: each write one binary message, reads
// running on across message boundaries.
type wsConn struct {
	*websocket.Conn
	rmu sync.Mutex
	r   io.Reader
	wmu sync.Mutex
}

func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}
