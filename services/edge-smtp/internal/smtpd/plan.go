package smtpd

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	policyv1 "github.com/mxgate/mxgate/proto/mxgate/policy/v1"
	verdictv1 "github.com/mxgate/mxgate/proto/mxgate/verdict/v1"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/header"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/relay"
	"github.com/mxgate/mxgate/services/edge-smtp/internal/reply"
)

// group is one downstream transaction: recipients that share a route and a
// message variant.
type group struct {
	route   *policyv1.Route
	edit    header.Edit
	rcpts   []string // downstream addresses (with folder detail)
	origins []string // the RCPT addresses they came from
}

// plan turns policy's deliveries into downstream transactions, in the order
// of the recipients. Dropped recipients are logged and left out.
func (p *pipeline) plan(deliveries []*policyv1.Delivery) ([]*group, error) {
	tx := p.tx
	byRcpt := make(map[string]*policyv1.Delivery, len(deliveries))
	for _, d := range deliveries {
		byRcpt[strings.ToLower(d.GetRecipient())] = d
	}
	var groups []*group
	index := map[string]*group{}
	for _, r := range tx.rcpts {
		d, ok := byRcpt[strings.ToLower(r.addr)]
		if !ok {
			return nil, fmt.Errorf("%w: no delivery for recipient %s", reply.ErrPolicyUnavailable, r.addr)
		}
		if d.GetDrop() {
			tx.log.InfoContext(tx.ctx, "recipient dropped", "rcpt", r.addr, "reason", d.GetReason())
			continue
		}
		route := d.GetRoute()
		if route == nil {
			route = r.route
		}
		if route == nil || len(route.GetHosts()) == 0 {
			return nil, fmt.Errorf("%w: no route for recipient %s", reply.ErrPolicyUnavailable, r.addr)
		}
		rcpt, fromPolicy := r.mailbox, deliverTo(d)
		if fromPolicy != "" {
			rcpt = fromPolicy
		}
		var extra []header.Field
		if folder := d.GetFolder(); folder != "" && !strings.EqualFold(folder, "INBOX") {
			switch {
			case route.GetFolderDelivery() == policyv1.FolderDelivery_FOLDER_DELIVERY_HEADER:
				extra = append(extra, header.Field{Name: "X-Spam-Folder", Value: folder})
			case fromPolicy == "":
				rcpt = withDetail(rcpt, folder)
			}
		}
		for _, h := range d.GetAddHeaders() {
			extra = append(extra, header.Field{Name: h.GetName(), Value: h.GetValue()})
		}
		key := routeKey(route) + "\x01" + d.GetSubjectPrefix() + "\x01" + fieldsKey(extra)
		g := index[key]
		if g == nil {
			g = &group{route: route, edit: p.edit(d.GetSubjectPrefix(), extra)}
			index[key] = g
			groups = append(groups, g)
		}
		if !slices.Contains(g.rcpts, rcpt) {
			g.rcpts = append(g.rcpts, rcpt)
		}
		g.origins = append(g.origins, r.addr)
		tx.log.DebugContext(tx.ctx, "delivery planned", "rcpt", r.addr, "to", rcpt, "folder", d.GetFolder(), "reason", d.GetReason())
	}
	return groups, nil
}

// edit is the header edit of one message variant.
func (p *pipeline) edit(subjectPrefix string, extra []header.Field) header.Edit {
	tx := p.tx
	spam := "no"
	if p.class == verdictv1.Class_CLASS_SPAM {
		spam = "yes"
	}
	fields := []header.Field{
		{Name: "X-Spam-Status", Value: spam},
		{Name: "X-Mxgate-Verdict", Value: fmt.Sprintf("class=%s score=%s id=%s",
			className(p.class), strconv.FormatFloat(p.score, 'f', 2, 64), tx.id)},
	}
	for _, h := range p.added {
		fields = append(fields, header.Field{Name: h.GetName(), Value: h.GetValue()})
	}
	fields = append(fields, extra...)
	return header.Edit{
		Remove:        header.IsRemovable,
		SubjectPrefix: subjectPrefix,
		Prepend:       []header.Field{{Name: "Received", Value: p.received()}},
		Append:        dedupe(fields),
	}
}

// singletons are the fields a message carries once: a later value (from a
// service, which knows more, e.g. a safe sender) replaces an earlier one
// (the edge's default) in place.
var singletons = []string{"X-Spam-Status", "X-Spam-Folder", "X-Mxgate-Verdict"}

// dedupe drops fields with an invalid name and repeated fields (same name
// and value), and keeps the last value of each singleton.
func dedupe(fields []header.Field) []header.Field {
	var out []header.Field
	at := map[string]int{}
	for _, f := range fields {
		if !validFieldName(f.Name) {
			continue
		}
		name := strings.ToLower(f.Name)
		single := slices.ContainsFunc(singletons, func(s string) bool { return strings.EqualFold(s, f.Name) })
		key := name
		if !single {
			key = name + "\x00" + f.Value
		}
		if i, seen := at[key]; seen {
			if single {
				out[i].Value = f.Value
			}
			continue
		}
		at[key] = len(out)
		out = append(out, f)
	}
	return out
}

// deliverTo is the downstream address policy computed for a delivery,
// detail and folder applied, or "" when policy set none.
func deliverTo(d *policyv1.Delivery) string { return d.GetDeliverTo() }

// received is the Received value of RFC 5321 §4.4 (the client has no
// reverse DNS lookup here: the address literal stands alone), the same
// for the classifier and every delivery of the transaction.
func (p *pipeline) received() string {
	if p.trace == "" {
		p.trace = p.traceValue()
	}
	return p.trace
}

func (p *pipeline) traceValue() string {
	s, tx := p.s, p.tx
	proto := "ESMTP"
	if s.tlsOn() {
		proto = "ESMTPS"
	}
	var b strings.Builder
	helo := printable(s.conn.Hostname())
	if helo == "" {
		helo = "unknown"
	}
	fmt.Fprintf(&b, "from %s (%s) by %s with %s id %s", helo, addressLiteral(s.ip), s.b.opts.Hostname, proto, tx.id)
	if len(tx.rcpts) == 1 {
		fmt.Fprintf(&b, " for <%s>", printable(tx.rcpts[0].addr))
	}
	b.WriteString("; ")
	b.WriteString(time.Now().Format(time.RFC1123Z))
	return b.String()
}

// returnPath is the Return-Path value of the envelope sender from ("" for
// the null sender): the address in angle brackets, without the control
// characters and angle brackets a header value cannot carry.
func returnPath(from string) string {
	return "<" + strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '<' || r == '>' {
			return -1
		}
		return r
	}, from) + ">"
}

func addressLiteral(ip string) string {
	if a := net.ParseIP(ip); a != nil && a.To4() == nil {
		return "[IPv6:" + ip + "]"
	}
	return "[" + ip + "]"
}

// printable keeps visible ASCII except the characters that would break a
// Received clause.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && i < 255; i++ {
		c := s[i]
		if c > 32 && c < 127 && c != '(' && c != ')' && c != ';' && c != '<' && c != '>' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func validFieldName(name string) bool {
	if name == "" || len(name) > 76 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= 32 || c >= 127 || c == ':' {
			return false
		}
	}
	return true
}

// withDetail returns local+folder@domain, replacing any detail already in
// the local part.
func withDetail(addr, folder string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at:]
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	return local + "+" + folder + domain
}

func routeKey(r *policyv1.Route) string {
	hosts := make([]string, 0, len(r.GetHosts()))
	for _, h := range r.GetHosts() {
		hosts = append(hosts, h.GetAddress()+"/"+strconv.Itoa(int(h.GetPriority())))
	}
	slices.Sort(hosts)
	return fmt.Sprintf("%d|%d|%d|%s", r.GetProtocol(), r.GetTls(), r.GetFolderDelivery(), strings.Join(hosts, ","))
}

func fieldsKey(fs []header.Field) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Name)
		b.WriteByte(0)
		b.WriteString(f.Value)
		b.WriteByte(0)
	}
	return b.String()
}

// deliver relays every group in turn. The client hears 250 only when every
// group was accepted; once anything was delivered, a later failure answers
// 451 4.4.1 (the client retries and the delivered recipients may get the
// message twice, which beats losing it).
func (p *pipeline) deliver(groups []*group) error {
	tx := p.tx
	var delivered []string
	for _, g := range groups {
		msg := header.Rewrite(p.msg, g.edit)
		res, err := p.s.b.opts.Relay.Deliver(tx.ctx, relay.Transaction{
			Route: g.route, From: tx.from, Recipients: g.rcpts, Message: msg,
		})
		delivered = append(delivered, res.Delivered...)
		if err != nil {
			if len(delivered) > 0 {
				tx.log.ErrorContext(tx.ctx, "partial delivery: some recipients delivered, the client will retry all",
					"delivered", delivered, "host", res.Host, "error", err)
				return p.fail("relay", fmt.Errorf("%w: %v", reply.ErrPartialDelivery, err)) // the failure itself is not the answer
			}
			return p.fail("relay", err, "host", res.Host)
		}
		tx.log.InfoContext(tx.ctx, "relayed", "host", res.Host, "rcpts", g.rcpts, "tls", res.TLS, "size", len(msg))
	}
	p.final = true
	tx.span.SetAttributes(attribute.Int("smtp.reply_code", 250), attribute.Int("mxgate.delivered", len(delivered)))
	tx.log.InfoContext(tx.ctx, "message accepted", "from", tx.from, "rcpts", len(tx.rcpts),
		"delivered", len(delivered), "class", className(p.class), "score", p.score,
		"duration", time.Since(tx.start).String())
	return reply.Delivered(tx.id)
}
