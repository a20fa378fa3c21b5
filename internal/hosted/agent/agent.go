// Package agent is switchboard agent: an edge node of a solution. It signs in to the hub once
// (its provisioning token exchanged for a credential kept in its data folder), runs an
// embedded NATS server that is a leaf node of the hub's with a JetStream domain of its own
// (internal/edge), runs the hosted services the hub assigns it, and sends what they produce
// through its outbox. While the hub cannot be reached it keeps running what it was assigned,
// from its own copy, after a restart too, and keeps what its services send until the hub
// takes it.
package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/edge"
	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/script"
)

// Config is what switchboard agent is given.
type Config struct {
	// Hub is the hub's base URL (http://127.0.0.1:8080), for signing in.
	Hub      string
	Solution string
	Node     string
	// Token is the node's provisioning token; needed for the first start only (and after
	// the node was given a new one).
	Token string
	// DataDir keeps the credential, the node's JetStream (its assignment and outbox) and its
	// instances' files.
	DataDir string
	// HubCA is a PEM file of the certificates the hub's is trusted under (its HTTPS and, with
	// it, its leaf listener's TLS); "" trusts the system's roots.
	HubCA string
	// Python runs python services; "" is python3.
	Python string
	// StopDeadline is how long an instance's Stop may take before it is killed.
	StopDeadline time.Duration
	// StateEvery is how often the node reports what it runs.
	StateEvery time.Duration
	// OutboxMaxMsgs and OutboxMaxBytes bound what the node keeps for the hub.
	OutboxMaxMsgs, OutboxMaxBytes int64
	HTTPClient                    *http.Client
	// Engine runs lua services; nil makes one.
	Engine  *script.Engine
	Logger  *slog.Logger
	Version string
}

// identity is what signing in gave, kept in <data>/agent.json.
type identity struct {
	Solution   string `json:"solution"`
	Node       string `json:"node"`
	Credential string `json:"credential"`
	LeafURL    string `json:"leaf_url"`
	LeafUser   string `json:"leaf_user"`
	Domain     string `json:"domain"`
	// TokenSHA256 is the provisioning token it was had with: another token signs in again.
	TokenSHA256 string `json:"token_sha256"`
}

// Run runs the agent until ctx ends; then it stops its instances (each within StopDeadline).
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StopDeadline <= 0 {
		cfg.StopDeadline = 10 * time.Second
	}
	if cfg.StateEvery <= 0 {
		cfg.StateEvery = 30 * time.Second
	}
	if cfg.Engine == nil {
		cfg.Engine = script.NewEngine(script.Options{Logger: cfg.Logger})
		defer cfg.Engine.Close()
	}
	var trust *tls.Config
	if cfg.HubCA != "" {
		pem, err := os.ReadFile(cfg.HubCA)
		if err != nil {
			return fmt.Errorf("agent: --hub-ca: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("agent: --hub-ca %s: no PEM certificate in it", cfg.HubCA)
		}
		trust = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	if cfg.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = trust
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent: data folder: %w", err)
	}
	id, err := signIn(ctx, cfg)
	if err != nil {
		return err
	}
	if id.LeafURL == "" {
		return errors.New("agent: the hub has no leaf listener for agents: start it with --leaf-listen")
	}
	node, err := edge.StartNode(ctx, edge.NodeConfig{HubURL: id.LeafURL, User: id.LeafUser, Password: id.Credential,
		DataDir: filepath.Join(cfg.DataDir, "node"), Domain: id.Domain, OutboxMaxMsgs: cfg.OutboxMaxMsgs, OutboxMaxBytes: cfg.OutboxMaxBytes, TLS: trust})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer node.Close()
	cfg.Logger.Info("agent started", "solution", id.Solution, "node", id.Node, "leaf", id.LeafURL)
	r := newRunner(node, cfg, id)
	defer r.stopAll()
	w, err := node.WatchAssignment(ctx, hosted.AssignmentKey)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer w.Stop() //nolint:errcheck // the node closes next
	tick := time.NewTicker(cfg.StateEvery)
	defer tick.Stop()
	r.report(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil // stopping: the watch ends with ctx
				}
				return errors.New("agent: the assignment's watch ended")
			}
			if e == nil {
				continue // caught up: nothing assigned yet, or the current one was given
			}
			var a hosted.NodeAssignment
			if err := json.Unmarshal(e.Value(), &a); err != nil {
				cfg.Logger.Error("assignment not readable; kept what runs", "err", err)
				continue
			}
			r.apply(ctx, a)
			r.report(ctx)
		case <-tick.C:
			r.report(ctx)
		}
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// signIn is the node's identity: kept from an earlier start, or had from the hub for the
// provisioning token.
func signIn(ctx context.Context, cfg Config) (identity, error) {
	file := filepath.Join(cfg.DataDir, "agent.json")
	var id identity
	if raw, err := os.ReadFile(file); err == nil {
		if err := json.Unmarshal(raw, &id); err != nil {
			return identity{}, fmt.Errorf("agent: %s: %w", file, err)
		}
		same := (cfg.Solution == "" || cfg.Solution == id.Solution) && (cfg.Node == "" || cfg.Node == id.Node)
		if same && (cfg.Token == "" || sha(cfg.Token) == id.TokenSHA256) {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return identity{}, fmt.Errorf("agent: %w", err)
	}
	if cfg.Token == "" || cfg.Solution == "" || cfg.Node == "" {
		return identity{}, errors.New("agent: not signed in yet: give --token (the node's provisioning token), the solution and --node")
	}
	body, _ := json.Marshal(map[string]string{"solution": cfg.Solution, "node": cfg.Node, "token": cfg.Token})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(cfg.Hub, "/")+"/api/v1/nodes/signin", bytes.NewReader(body))
	if err != nil {
		return identity{}, fmt.Errorf("agent: --hub %q: %w", cfg.Hub, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return identity{}, fmt.Errorf("agent: sign in at %s: %w", cfg.Hub, err)
	}
	defer resp.Body.Close()
	var answer struct {
		Credential string `json:"credential"`
		LeafURL    string `json:"leaf_url"`
		LeafUser   string `json:"leaf_user"`
		Domain     string `json:"domain"`
		Error      string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&answer); err != nil || resp.StatusCode != http.StatusOK {
		if answer.Error == "" {
			answer.Error = resp.Status
		}
		return identity{}, fmt.Errorf("agent: sign in as node %s of solution %s: %s", cfg.Node, cfg.Solution, answer.Error)
	}
	id = identity{Solution: cfg.Solution, Node: cfg.Node, Credential: answer.Credential, LeafURL: answer.LeafURL, LeafUser: answer.LeafUser,
		Domain: answer.Domain, TokenSHA256: sha(cfg.Token)}
	raw, _ := json.MarshalIndent(id, "", "  ")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		return identity{}, fmt.Errorf("agent: keep the credential: %w", err)
	}
	return id, nil
}
