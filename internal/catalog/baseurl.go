package catalog

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// baseURL is where the service is reached: from host, schemes and basePath of a Swagger 2.0
// document, from the first absolute http(s) server of an OpenAPI 3 one. With a namespace the
// host is replaced by {name}.{namespace}:{port}.
func baseURL(name string, l *loaded, namespace string) (*url.URL, error) {
	var u *url.URL
	if l.v2 != nil {
		scheme := l.v2.Schemes[0]
		if scheme != "http" && scheme != "https" {
			return nil, invalid(FieldSwagger, fmt.Sprintf("scheme %q is not http or https", scheme))
		}
		u = &url.URL{Scheme: scheme, Host: l.v2.Host, Path: l.v2.BasePath}
		if _, err := url.Parse(u.String()); err != nil || strings.ContainsAny(l.v2.Host, "/?#@") {
			return nil, invalid(FieldSwagger, fmt.Sprintf("host %q is not a host name with an optional port", l.v2.Host))
		}
	} else {
		for _, s := range l.doc.Servers {
			if v := serverURL(s); v != nil {
				u = v
				break
			}
		}
		if u == nil {
			return nil, invalid(FieldSwagger, "servers must hold at least one absolute http or https URL")
		}
	}
	u.Path = cleanPath(u.Path)
	u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", nil
	if namespace != "" {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		u.Host = net.JoinHostPort(name+"."+namespace, port)
	}
	return u, nil
}

// serverURL is the server's URL with its variables at their defaults, nil unless absolute
// http or https.
func serverURL(s *openapi3.Server) *url.URL {
	if s == nil {
		return nil
	}
	raw := s.URL
	for name, v := range s.Variables {
		if v != nil {
			raw = strings.ReplaceAll(raw, "{"+name+"}", v.Default)
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil
	}
	return u
}

// cleanPath is p without a trailing slash, "" for the root.
func cleanPath(p string) string {
	if p == "" {
		return ""
	}
	p = path.Clean("/" + p)
	if p == "/" {
		return ""
	}
	return p
}
