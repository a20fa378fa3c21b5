package hub

import "testing"

func TestLeafURL(t *testing.T) {
	tests := []struct {
		name, public, listen, advertise string
		secure                          bool
		want                            string
	}{
		{"no listener", "http://hub.example.com", "", "", false, ""},
		{"public host, listener port", "http://hub.example.com:8080", "0.0.0.0:7422", "", false, "nats-leaf://hub.example.com:7422"},
		{"no public url", "", "[::]:7422", "", false, "nats-leaf://127.0.0.1:7422"},
		{"tls", "https://hub.example.com", ":7422", "", true, "tls://hub.example.com:7422"},
		{"advertised", "http://hub.example.com", ":7422", "edge.example.com:17422", false, "nats-leaf://edge.example.com:17422"},
		{"advertised with tls", "https://hub.example.com", ":7422", "edge.example.com:17422", true, "tls://edge.example.com:17422"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leafURL(tt.public, tt.listen, tt.advertise, tt.secure); got != tt.want {
				t.Fatalf("leafURL(%q, %q, %q, %v) = %q, want %q", tt.public, tt.listen, tt.advertise, tt.secure, got, tt.want)
			}
		})
	}
}
