// Package scoring is the edge's thin client of the four scoring services:
// each call gets its own deadline, and every failure (transport error,
// status error, timeout, empty answer) is wrapped in the reply kind that
// decides the SMTP answer, so a dependency failure always gives a 4xx.
package scoring

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mxgate/mxgate/proto/grpcsrv"
	antivirusv1 "github.com/mxgate/mxgate/proto/mxgate/antivirus/v1"
	classifierv1 "github.com/mxgate/mxgate/proto/mxgate/classifier/v1"
	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	reputationv1 "github.com/mxgate/mxgate/proto/mxgate/reputation/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/reply"
)

// ErrEmptyResponse is returned (wrapped) when a service answers without the
// verdict the edge needs.
var ErrEmptyResponse = errors.New("scoring: response without verdict")

// Targets are the gRPC targets and per-call timeouts of the services.
type Targets struct {
	Reputation, Policy, Antivirus, Classifier string
	ReputationTimeout, PolicyTimeout          time.Duration
	AntivirusTimeout, ClassifierTimeout       time.Duration
}

// Clients calls the scoring services.
type Clients struct {
	rep   reputationv1.ReputationServiceClient
	pol   policyv1.PolicyServiceClient
	av    antivirusv1.AntivirusServiceClient
	cls   classifierv1.ClassifierServiceClient
	t     Targets
	conns []*grpc.ClientConn
}

// Dial opens lazy connections to every service (a down service fails its
// calls, not Dial).
func Dial(t Targets) (*Clients, error) {
	c := &Clients{t: t}
	dial := func(target string) (*grpc.ClientConn, error) {
		cc, err := grpcsrv.Dial(target)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("scoring: dial %s: %w", target, err)
		}
		c.conns = append(c.conns, cc)
		return cc, nil
	}
	cc, err := dial(t.Reputation)
	if err != nil {
		return nil, err
	}
	c.rep = reputationv1.NewReputationServiceClient(cc)
	if cc, err = dial(t.Policy); err != nil {
		return nil, err
	}
	c.pol = policyv1.NewPolicyServiceClient(cc)
	if cc, err = dial(t.Antivirus); err != nil {
		return nil, err
	}
	c.av = antivirusv1.NewAntivirusServiceClient(cc)
	if cc, err = dial(t.Classifier); err != nil {
		return nil, err
	}
	c.cls = classifierv1.NewClassifierServiceClient(cc)
	return c, nil
}

// Close closes every connection.
func (c *Clients) Close() error {
	var errs []error
	for _, cc := range c.conns {
		errs = append(errs, cc.Close())
	}
	c.conns = nil
	return errors.Join(errs...)
}

// Lease is a connection's hold in the reputation connection count.
type Lease struct {
	ID  string
	TTL time.Duration
}

// CheckConnection asks whether a client IP may connect. Failures wrap
// reply.ErrReputationUnavailable.
func (c *Clients) CheckConnection(ctx context.Context, ip, edgeID string) (*reputationv1.CheckConnectionResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.t.ReputationTimeout)
	defer cancel()
	resp, err := c.rep.CheckConnection(ctx, &reputationv1.CheckConnectionRequest{ClientIp: ip, EdgeId: edgeID})
	if err != nil {
		return nil, fmt.Errorf("%w: check connection: %w", reply.ErrReputationUnavailable, err)
	}
	if resp.GetVerdict() == nil {
		return nil, fmt.Errorf("%w: check connection: %w", reply.ErrReputationUnavailable, ErrEmptyResponse)
	}
	return resp, nil
}

// LeaseTTL returns the lease TTL of resp, or def when it carries none.
func LeaseTTL(d *durationpb.Duration, def time.Duration) time.Duration {
	if d == nil || d.AsDuration() <= 0 {
		return def
	}
	return d.AsDuration()
}

// RenewLease renews a lease; renewed is false when it had expired and was
// taken again.
func (c *Clients) RenewLease(ctx context.Context, ip, leaseID string) (renewed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.t.ReputationTimeout)
	defer cancel()
	resp, err := c.rep.RenewLease(ctx, &reputationv1.RenewLeaseRequest{ClientIp: ip, LeaseId: leaseID})
	if err != nil {
		return false, fmt.Errorf("%w: renew lease: %w", reply.ErrReputationUnavailable, err)
	}
	return resp.GetRenewed(), nil
}

// ReleaseConnection ends a lease.
func (c *Clients) ReleaseConnection(ctx context.Context, ip, leaseID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.t.ReputationTimeout)
	defer cancel()
	if _, err := c.rep.ReleaseConnection(ctx, &reputationv1.ReleaseConnectionRequest{ClientIp: ip, LeaseId: leaseID}); err != nil {
		return fmt.Errorf("%w: release: %w", reply.ErrReputationUnavailable, err)
	}
	return nil
}

// ReportVerdict records a message's class in the client IP's history.
func (c *Clients) ReportVerdict(ctx context.Context, req *reputationv1.ReportVerdictRequest) (*reputationv1.ReportVerdictResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.t.ReputationTimeout)
	defer cancel()
	resp, err := c.rep.ReportVerdict(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%w: report verdict: %w", reply.ErrReputationUnavailable, err)
	}
	return resp, nil
}

// CheckRecipient asks policy about one RCPT. Failures wrap
// reply.ErrPolicyUnavailable.
func (c *Clients) CheckRecipient(ctx context.Context, req *policyv1.CheckRecipientRequest) (*policyv1.CheckRecipientResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.t.PolicyTimeout)
	defer cancel()
	resp, err := c.pol.CheckRecipient(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%w: check recipient: %w", reply.ErrPolicyUnavailable, err)
	}
	if resp.GetVerdict() == nil {
		return nil, fmt.Errorf("%w: check recipient: %w", reply.ErrPolicyUnavailable, ErrEmptyResponse)
	}
	return resp, nil
}

// Decide asks policy what happens to a classified message. Failures wrap
// reply.ErrPolicyUnavailable.
func (c *Clients) Decide(ctx context.Context, req *policyv1.DecideRequest) (*policyv1.DecideResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.t.PolicyTimeout)
	defer cancel()
	resp, err := c.pol.Decide(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%w: decide: %w", reply.ErrPolicyUnavailable, err)
	}
	if resp.GetVerdict() == nil {
		return nil, fmt.Errorf("%w: decide: %w", reply.ErrPolicyUnavailable, ErrEmptyResponse)
	}
	return resp, nil
}

// Scan scans a message. Failures wrap reply.ErrAntivirusUnavailable.
func (c *Clients) Scan(ctx context.Context, id string, msg []byte) (*antivirusv1.ScanResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.t.AntivirusTimeout)
	defer cancel()
	resp, err := c.av.Scan(ctx, &antivirusv1.ScanRequest{MessageId: id, Message: msg})
	if err != nil {
		return nil, fmt.Errorf("%w: scan: %w", reply.ErrAntivirusUnavailable, err)
	}
	if resp.GetVerdict() == nil {
		return nil, fmt.Errorf("%w: scan: %w", reply.ErrAntivirusUnavailable, ErrEmptyResponse)
	}
	return resp, nil
}

// Classify classifies a message. Failures, and an answer without a class,
// wrap reply.ErrClassifierUnavailable.
func (c *Clients) Classify(ctx context.Context, req *classifierv1.ClassifyRequest) (*classifierv1.ClassifyResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.t.ClassifierTimeout)
	defer cancel()
	resp, err := c.cls.Classify(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%w: classify: %w", reply.ErrClassifierUnavailable, err)
	}
	if resp.GetClass() == verdictv1.Class_CLASS_UNSPECIFIED {
		return nil, fmt.Errorf("%w: classify: %w", reply.ErrClassifierUnavailable, ErrEmptyResponse)
	}
	return resp, nil
}
