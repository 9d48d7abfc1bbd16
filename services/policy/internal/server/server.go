// Package server implements the mxgate.policy.v1.PolicyService gRPC API on
// top of the current Directory: recipient checks at RCPT time and
// per-recipient delivery decisions after content classification.
//
// Policy rejections are answers, not errors: CheckRecipient and Decide
// return a Verdict with the SMTP reply. gRPC errors mean the request could
// not be decided (InvalidArgument for a malformed request, Unavailable when
// routing fails) and the edge answers 4xx.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"
	"github.com/mxgate/mxgate/services/policy/internal/directory"
	"github.com/mxgate/mxgate/services/policy/internal/rules"
)

// Store gives the current Directory. The YAML file store is one
// implementation; any live source (NATS KV, admin API) can be another.
type Store interface {
	Directory() *directory.Directory
}

// Router picks the route of a resolved mailbox. directory.StaticRouter uses
// the domain's configured route; directory-backed (LDAP) or DNS MX routers
// implement the same method. An error makes the request fail with
// Unavailable.
type Router interface {
	Route(ctx context.Context, m *directory.Mailbox) (*policyv1.Route, error)
}

// SMTP replies of the policy service.
var (
	replyBadSyntax   = &verdictv1.SMTPReply{Code: 501, EnhancedCode: "5.1.3", Text: "Bad recipient address syntax"}
	replyRelayDenied = &verdictv1.SMTPReply{Code: 550, EnhancedCode: "5.7.1", Text: "Relay access denied"}
	replyUnknown     = &verdictv1.SMTPReply{Code: 550, EnhancedCode: "5.1.1", Text: "Mailbox unavailable"}
	replyBlocked     = &verdictv1.SMTPReply{Code: 550, EnhancedCode: "5.7.1", Text: "Sender refused by recipient"}
	replySpam        = &verdictv1.SMTPReply{Code: 550, EnhancedCode: "5.7.1", Text: "Message refused as spam"}
)

// Server is the PolicyService implementation.
type Server struct {
	policyv1.UnimplementedPolicyServiceServer
	store  Store
	router Router
	log    *slog.Logger
}

var _ policyv1.PolicyServiceServer = (*Server)(nil)

// New returns a Server reading the Directory from store and routing with
// router.
func New(store Store, router Router, log *slog.Logger) *Server {
	return &Server{store: store, router: router, log: log}
}

// CheckRecipient implements PolicyService.CheckRecipient.
func (s *Server) CheckRecipient(ctx context.Context, req *policyv1.CheckRecipientRequest) (*policyv1.CheckRecipientResponse, error) {
	dir := s.store.Directory()
	rcpt, err := dir.Resolve(req.GetRecipient())
	if err != nil {
		v := rejection(err)
		s.log.InfoContext(ctx, "recipient rejected", "message_id", req.GetMessageId(), "recipient", req.GetRecipient(),
			"mail_from", req.GetMailFrom(), "client_ip", req.GetClientIp(), "code", v.GetReply().GetCode(), "reason", v.GetReason())
		return &policyv1.CheckRecipientResponse{Verdict: v}, nil
	}
	mb := rcpt.Mailbox
	list := mb.SenderList(directory.ParseSender(req.GetMailFrom()))
	resp := &policyv1.CheckRecipientResponse{
		Mailbox:    mb.Address(),
		SenderList: senderListPB(list),
		SpamAction: spamActionPB(mb.Settings.SpamAction),
	}
	if list == rules.SenderBlocked {
		resp.Verdict = &verdictv1.Verdict{Action: verdictv1.Action_ACTION_REJECT, Reply: replyBlocked, Reason: "sender on blocked list"}
		s.log.InfoContext(ctx, "recipient rejected", "message_id", req.GetMessageId(), "recipient", req.GetRecipient(),
			"mailbox", resp.Mailbox, "mail_from", req.GetMailFrom(), "client_ip", req.GetClientIp(), "code", 550, "reason", resp.Verdict.Reason)
		return resp, nil
	}
	route, err := s.router.Route(ctx, mb)
	if err != nil {
		s.log.WarnContext(ctx, "routing failed", "message_id", req.GetMessageId(), "mailbox", resp.Mailbox, "error", err)
		return nil, status.Error(codes.Unavailable, "policy: no route for recipient")
	}
	resp.Route = route
	resp.Group = Group(route, list, mb.Settings)
	resp.Verdict = &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT, Reason: "mailbox " + resp.Mailbox}
	s.log.DebugContext(ctx, "recipient accepted", "message_id", req.GetMessageId(), "recipient", req.GetRecipient(),
		"mailbox", resp.Mailbox, "sender_list", list.String(), "group", resp.Group)
	return resp, nil
}

// Decide implements PolicyService.Decide.
func (s *Server) Decide(ctx context.Context, req *policyv1.DecideRequest) (*policyv1.DecideResponse, error) {
	if len(req.GetRecipients()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "policy: no recipients")
	}
	class := req.GetClass()
	if _, known := verdictv1.Class_name[int32(class)]; !known || class == verdictv1.Class_CLASS_UNSPECIFIED {
		return nil, status.Error(codes.InvalidArgument, "policy: message class is required")
	}
	dir := s.store.Directory()
	sender := directory.ParseSender(req.GetMailFrom())
	resp := &policyv1.DecideResponse{Deliveries: make([]*policyv1.Delivery, 0, len(req.GetRecipients()))}
	var reject *verdictv1.SMTPReply
	var rejectReason string
	for _, raw := range req.GetRecipients() {
		rcpt, err := dir.Resolve(raw)
		if err != nil {
			// Accepted at RCPT but not any more (configuration changed, or a
			// recipient that never passed CheckRecipient): the client retries
			// and CheckRecipient answers it properly.
			return nil, status.Errorf(codes.InvalidArgument, "policy: recipient %q is not accepted: %s", raw, rejection(err).GetReason())
		}
		mb := rcpt.Mailbox
		route, err := s.router.Route(ctx, mb)
		if err != nil {
			s.log.WarnContext(ctx, "routing failed", "message_id", req.GetMessageId(), "mailbox", mb.Address(), "error", err)
			return nil, status.Error(codes.Unavailable, "policy: no route for recipient")
		}
		list := mb.SenderList(sender)
		out := rules.Decide(class, list, mb.Settings)
		d := &policyv1.Delivery{
			Recipient:     raw,
			Mailbox:       mb.Address(),
			Drop:          out.Drop,
			Folder:        out.Folder,
			SubjectPrefix: out.SubjectPrefix,
			Route:         route,
			Reason:        out.Reason,
			DeliverTo:     rcpt.DeliverTo(out.Folder, route),
		}
		for _, h := range out.Headers {
			d.AddHeaders = append(d.AddHeaders, &verdictv1.Header{Name: h.Name, Value: h.Value})
		}
		if out.Folder != "" && route.GetFolderDelivery() != policyv1.FolderDelivery_FOLDER_DELIVERY_DETAIL {
			d.AddHeaders = append(d.AddHeaders, &verdictv1.Header{Name: FolderHeader, Value: out.Folder})
		}
		if out.Reject && reject == nil {
			reject, rejectReason = replySpam, mb.Address()+": "+out.Reason
			if list == rules.SenderBlocked {
				reject = replyBlocked
			}
		}
		resp.Deliveries = append(resp.Deliveries, d)
	}
	if reject != nil {
		resp.Verdict = &verdictv1.Verdict{Action: verdictv1.Action_ACTION_REJECT, Reply: reject, Reason: rejectReason}
	} else {
		resp.Verdict = &verdictv1.Verdict{Action: verdictv1.Action_ACTION_ACCEPT, Reason: "class " + className(class)}
	}
	s.log.InfoContext(ctx, "decided", "message_id", req.GetMessageId(), "class", className(class),
		"action", resp.Verdict.Action.String(), "recipients", len(resp.Deliveries), "reason", summary(resp))
	return resp, nil
}

// FolderHeader tells a mailbox server the target folder on routes with
// folder_delivery header.
const FolderHeader = "X-Spam-Folder"

// rejection turns a Resolve error into the RCPT verdict.
func rejection(err error) *verdictv1.Verdict {
	v := &verdictv1.Verdict{Action: verdictv1.Action_ACTION_REJECT, Reason: err.Error()}
	switch {
	case errors.Is(err, directory.ErrRelay):
		v.Reply = replyRelayDenied
	case errors.Is(err, directory.ErrUnknownMailbox):
		v.Reply = replyUnknown
	default:
		v.Reply = replyBadSyntax
	}
	return v
}

// Group is the transaction group of a recipient: equal for recipients whose
// messages are handled identically for every class (same route, same
// outcome for LEGIT, SPAM, SUSPECTED and MARKETING given the sender), so
// that one copy of the message, modified once, serves them all.
func Group(route *policyv1.Route, list rules.SenderList, s rules.Settings) string {
	h := sha256.New()
	var b strings.Builder
	b.WriteString(route.GetProtocol().String())
	b.WriteByte('|')
	b.WriteString(route.GetTls().String())
	b.WriteByte('|')
	b.WriteString(route.GetFolderDelivery().String())
	for _, host := range route.GetHosts() {
		b.WriteByte('|')
		b.WriteString(host.GetAddress())
		b.WriteByte('/')
		b.WriteString(strconv.FormatUint(uint64(host.GetPriority()), 10))
	}
	for _, c := range groupClasses {
		o := rules.Decide(c, list, s)
		b.WriteString("\x00")
		b.WriteString(strconv.FormatBool(o.Reject))
		b.WriteString(strconv.FormatBool(o.Drop))
		b.WriteByte('|')
		b.WriteString(o.Folder)
		b.WriteByte('|')
		b.WriteString(o.SubjectPrefix)
		for _, f := range o.Headers {
			b.WriteByte('|')
			b.WriteString(f.Name)
			b.WriteByte(':')
			b.WriteString(f.Value)
		}
	}
	h.Write([]byte(b.String()))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

var groupClasses = []verdictv1.Class{
	verdictv1.Class_CLASS_LEGIT, verdictv1.Class_CLASS_SPAM, verdictv1.Class_CLASS_SUSPECTED, verdictv1.Class_CLASS_MARKETING,
}

func senderListPB(l rules.SenderList) policyv1.SenderList {
	switch l {
	case rules.SenderSafe:
		return policyv1.SenderList_SENDER_LIST_SAFE
	case rules.SenderBlocked:
		return policyv1.SenderList_SENDER_LIST_BLOCKED
	default:
		return policyv1.SenderList_SENDER_LIST_NONE
	}
}

func spamActionPB(a rules.SpamAction) policyv1.SpamAction {
	switch a {
	case rules.SpamFolder:
		return policyv1.SpamAction_SPAM_ACTION_FOLDER
	case rules.SpamReject:
		return policyv1.SpamAction_SPAM_ACTION_REJECT
	default:
		return policyv1.SpamAction_SPAM_ACTION_TAG
	}
}

func className(c verdictv1.Class) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CLASS_"))
}

func summary(r *policyv1.DecideResponse) string {
	var b strings.Builder
	for i, d := range r.Deliveries {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.Mailbox)
		b.WriteString(": ")
		b.WriteString(d.Reason)
	}
	return b.String()
}
