package bus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxReplicas is the most copies JetStream keeps of a stream.
const MaxReplicas = 5

// DefaultMaxReplicas is the most replicas Config.Replicas 0 picks on an outside cluster: three
// copies survive the loss of one node with a quorum left, more cost writes for little.
const DefaultMaxReplicas = 3

// JetStream API error codes the replica probe tells apart.
const (
	errCodeNoPeers          jetstream.ErrorCode = 10005 // no suitable peers for placement
	errCodeNotAvailable     jetstream.ErrorCode = 10008 // no meta leader (yet)
	errCodeInsufficient     jetstream.ErrorCode = 10023 // insufficient resources
	errCodeNotClusteredRepl jetstream.ErrorCode = 10074 // replicas > 1 on a single server
)

// ReplicasError says the replicas asked for are more than the NATS servers can place; its
// message is the reason, for the caller to prefix with its own name of the setting.
type ReplicasError struct {
	Want, Allowed int
	Where         string // the NATS URL or "embedded"
}

func (e *ReplicasError) Error() string {
	if e.Where == "embedded" {
		return "the embedded NATS server is a single node and keeps 1 copy; run a NATS cluster and point --nats-url at it for more"
	}
	return fmt.Sprintf("the NATS servers at %s place at most %d replicas (one per JetStream server of the cluster)", e.Where, e.Allowed)
}

// settleReplicas turns cfg.Replicas into the count streams and buckets are created with: 0
// becomes as many as the servers allow, up to DefaultMaxReplicas; a count they cannot place is
// refused here, before anything is created with it.
func (b *Bus) settleReplicas(ctx context.Context) error {
	want := b.cfg.Replicas
	if want < 0 || want > MaxReplicas {
		return fmt.Errorf("replicas %d: want 1 to %d, or 0 for as many as the NATS cluster allows up to %d", want, MaxReplicas, DefaultMaxReplicas)
	}
	if b.server != nil {
		if want > 1 {
			return &ReplicasError{Want: want, Allowed: 1, Where: "embedded"}
		}
		b.cfg.Replicas = 1
		return nil
	}
	upTo := want
	if upTo == 0 {
		upTo = DefaultMaxReplicas
	}
	allowed := 1
	// A server outside any cluster keeps one copy; only a cluster is asked.
	if b.nc.ConnectedClusterName() != "" {
		var err error
		if allowed, err = placeableReplicas(ctx, b.js, upTo); err != nil {
			return fmt.Errorf("find how many replicas the NATS cluster at %s places: %w", b.describe(), err)
		}
	}
	if want > allowed {
		return &ReplicasError{Want: want, Allowed: allowed, Where: b.describe()}
	}
	b.cfg.Replicas = min(upTo, allowed)
	return nil
}

// placeableReplicas is the largest count up to upTo that JetStream places a stream with: it
// creates a tiny stream with that many replicas, fewer while the meta leader finds no peers for
// them, and deletes it. Placement is the server's own answer: members of the cluster count
// while they are down (they catch up when back), servers excluded by tags do not.
func placeableReplicas(ctx context.Context, js jetstream.JetStream, upTo int) (int, error) {
	dropStaleProbes(ctx, js)
	prefix := "SWITCHBOARD_REPLICAS_" + rand.Text()[:16] + "_"
	var last error
	for n := upTo; n >= 1; n-- {
		// A name per count: a create that timed out yet happened is found again by its retry
		// (the same config), never refused as another stream of that name.
		name := prefix + strconv.Itoa(n)
		cfg := jetstream.StreamConfig{
			Name: name, Description: "Switchboard asking how many replicas the cluster places; deleted at once",
			Subjects: []string{probeSubjects[:len(probeSubjects)-1] + name}, Storage: jetstream.FileStorage,
			Replicas: n, MaxMsgs: 1, MaxBytes: 1 << 10,
		}
		err := retryUnanswered(ctx, func(ctx context.Context) error {
			_, err := js.CreateStream(ctx, cfg)
			return err
		})
		if err == nil {
			derr := retryUnanswered(context.WithoutCancel(ctx), func(ctx context.Context) error {
				err := js.DeleteStream(ctx, name)
				if errors.Is(err, jetstream.ErrStreamNotFound) {
					return nil
				}
				return err
			})
			if derr != nil {
				return 0, fmt.Errorf("delete stream %s: %w", name, derr)
			}
			return n, nil
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) {
			return 0, fmt.Errorf("create stream %s: %w", name, err)
		}
		switch apiErr.ErrorCode {
		case errCodeNoPeers, errCodeInsufficient, errCodeNotClusteredRepl:
			last = err
		default:
			return 0, fmt.Errorf("create stream %s: %w", name, err)
		}
	}
	return 0, fmt.Errorf("not even a stream of 1 replica is placed: %w", last)
}

// probeSubjects holds every probe stream's subject, so that leftovers are listed without
// listing every stream (each solution's keystore is one).
const probeSubjects = "_sb.replicas.>"

// staleProbeAge is how old a probe stream must be to be another instance's leftover (it was
// killed between creating and deleting it) rather than a probe at work.
var staleProbeAge = time.Minute

// dropStaleProbes deletes leftover probe streams, best effort: they hold nothing, and the
// next instance to start tries again.
func dropStaleProbes(ctx context.Context, js jetstream.JetStream) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	list := js.ListStreams(ctx, jetstream.WithStreamListSubject(probeSubjects))
	for info := range list.Info() {
		if strings.HasPrefix(info.Config.Name, "SWITCHBOARD_REPLICAS_") && time.Since(info.Created) >= staleProbeAge {
			js.DeleteStream(ctx, info.Config.Name) //nolint:errcheck // best effort, see above
		}
	}
}

// attemptTimeout bounds one JetStream API request that retryUnanswered makes.
const attemptTimeout = 5 * time.Second

// retryUnanswered runs call with a deadline of its own, and again while JetStream leaves it
// unanswered or says it is unavailable, until ctx ends: a cluster electing its meta leader
// drops the requests it gets meanwhile, and a request waiting for ctx alone would wait it out.
func retryUnanswered(ctx context.Context, call func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := call(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !unanswered(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func unanswered(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeNotAvailable)
}
