package servicekit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Run listens on addr (":8091"), registers with the hub once listening, and serves the hub's
// calls until ctx is done; it then stops accepting calls, waits up to Config.ShutdownTimeout
// for those in progress, and returns nil. It returns an error if it cannot listen, if the
// registration fails for good (see Register), or if serving fails.
func (s *Service) Run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("servicekit: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener of the caller's, which it closes.
func (s *Service) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("servicekit: serving", "service", s.cfg.Name, "addr", ln.Addr().String(), "health", s.doc.healthPath)

	regCtx, cancelReg := context.WithCancel(ctx)
	defer cancelReg()
	registered := make(chan error, 1)
	go func() { registered <- s.Register(regCtx) }()

	shutdown := func() error {
		cancelReg()
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		if registered != nil {
			<-registered
		}
		if err != nil {
			return fmt.Errorf("servicekit: shutdown: %w", err)
		}
		return nil
	}
	for {
		select {
		case err := <-served:
			served <- err // for shutdown
			_ = shutdown()
			return fmt.Errorf("servicekit: serving: %w", err)
		case err := <-registered:
			registered = nil
			if err != nil && ctx.Err() == nil {
				_ = shutdown()
				return err
			}
		case <-ctx.Done():
			s.log.Info("servicekit: shutting down", "service", s.cfg.Name)
			return shutdown()
		}
	}
}
