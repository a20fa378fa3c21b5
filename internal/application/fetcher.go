package application

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HTTPFetcher fetches specs over HTTP with a fetch request's auth: HTTP Basic, or an OAuth2
// client-credentials token got from the credential's URL first.
type HTTPFetcher struct {
	// Client makes every request; the hub's dials through its network guard.
	Client *http.Client
	// Timeout bounds one fetch, token included (30s when 0).
	Timeout time.Duration
}

// Fetch implements Fetcher.
func (f HTTPFetcher) Fetch(ctx context.Context, fr FetchRequest, max int) ([]byte, error) {
	timeout := f.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, err := url.Parse(fr.URL)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if a := fr.Auth; a != nil {
		q := u.Query()
		for k, vs := range a.AdditionalQueryParams {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		req.URL.RawQuery = q.Encode()
		for k, vs := range a.AdditionalHeaders {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		switch {
		case a.Basic != nil:
			req.SetBasicAuth(a.Basic.Username, a.Basic.Password)
		case a.OAuth != nil:
			token, err := f.token(ctx, *a.OAuth)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+token)
		}
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(body) > max {
		return nil, fmt.Errorf("the document is larger than %d bytes", max)
	}
	return body, nil
}

// token is an access token of the client credentials grant.
func (f HTTPFetcher) token(ctx context.Context, o OAuth) (string, error) {
	if err := checkURL(o.URL, "http", "https"); err != nil {
		return "", fmt.Errorf("token URL: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(o.ClientID), url.QueryEscape(o.ClientSecret))
	resp, err := f.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token request: status %s", resp.Status)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token response: no access_token")
	}
	return tok.AccessToken, nil
}
