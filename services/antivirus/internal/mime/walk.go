// Package mime decomposes an RFC 5322 message into the leaf parts that
// antivirus engines scan: every leaf body decoded from its transfer encoding,
// message/rfc822 parts opened recursively, and the members that an Expander
// finds inside a part (uuencoded files today; archives and TNEF plug in the
// same way). Broken MIME never stops the walk: bytes that cannot be parsed
// or decoded are handed over raw, never dropped.
//
// Memory is bounded by Limits.MaxBytes: every byte the walker materialises
// (raw copies of nested parts and decoded bodies) is reserved from one
// per-message Budget, and exceeding it ends the walk with ErrLimitExceeded.
package mime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // RFC 2047 / RFC 2231 filenames in any charset
	"github.com/emersion/go-message/textproto"
)

// ErrLimitExceeded reports that a message needs more than the configured
// decoded bytes, parts or nesting to be scanned completely.
var ErrLimitExceeded = errors.New("mime: message exceeds scan limits")

// Default limits, used for zero fields of Limits.
const (
	DefaultMaxBytes       = 100 << 20
	DefaultMaxDepth       = 20
	DefaultMaxParts       = 1000
	DefaultMaxHeaderBytes = 1 << 20
)

// Limits bound the work done for one message. Zero fields take the defaults.
type Limits struct {
	// MaxBytes caps the bytes materialised for one message: raw copies of
	// nested parts plus decoded bodies plus expanded members.
	MaxBytes int64
	// MaxDepth caps multipart / message/rfc822 / expander nesting. An entity
	// deeper than this is not opened further: its bytes are scanned raw.
	MaxDepth int
	// MaxParts caps the number of parts handed to the visitor.
	MaxParts int
	// MaxHeaderBytes caps the top-level header block; a longer header makes
	// the whole message a single raw part.
	MaxHeaderBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = DefaultMaxParts
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return l
}

// Part is one scannable piece of a message.
type Part struct {
	// Path names the part like IMAP body sections: "1", "1.2", "2.1.3";
	// "0" is the whole body of a top-level multipart that could not be
	// split. Members found by an Expander are "<parent>/<label>", for
	// example "1.2/uuencode:tool.exe".
	Path string
	// ContentType is the lower-case media type ("application/pdf").
	ContentType string
	// Filename from Content-Disposition or Content-Type name, decoded.
	Filename string
	// Encoding is the declared Content-Transfer-Encoding, lower case.
	Encoding string
	// Data is the decoded body, or the undecoded bytes when Raw is set.
	// It is only valid during the visit call.
	Data []byte
	// Raw is set when Data could not be decoded or split further; Note
	// says why.
	Raw  bool
	Note string
	// Depth is the nesting level, 0 for the top-level body.
	Depth int
}

// Budget is the per-message allowance of materialised bytes. Expanders
// reserve before they allocate, so that a decompression bomb stops at the
// limit instead of exhausting memory.
type Budget struct {
	left int64
	max  int64
}

// Reserve takes n bytes from the budget or fails with ErrLimitExceeded.
func (b *Budget) Reserve(n int64) error {
	if n > b.left {
		b.left = 0
		return fmt.Errorf("%w: more than %d decoded bytes", ErrLimitExceeded, b.max)
	}
	b.left -= n
	return nil
}

// Remaining returns the bytes still available.
func (b *Budget) Remaining() int64 { return b.left }

// Expander finds members inside a decoded part: uuencoded files in text,
// entries of archives, attachments inside TNEF. Expand must reserve every
// byte it allocates from b and call emit once per member with a Part whose
// Path is a label relative to p ("archive.zip:doc.exe"); the walker scans
// the member and offers it to every expander again, up to Limits.MaxDepth.
// Expand returns nil when p is not its kind.
type Expander interface {
	Expand(p *Part, b *Budget, emit func(member *Part) error) error
}

// Walker walks messages. The zero value uses the default limits and no
// expanders; New adds the built-in expanders.
type Walker struct {
	Limits    Limits
	Expanders []Expander
}

// New returns a Walker with limits l and the built-in expanders (uuencode).
func New(l Limits) *Walker {
	return &Walker{Limits: l, Expanders: []Expander{UUExpander{}}}
}

// Walk calls visit for every leaf part of msg in document order. It returns
// the first error from visit, or an error wrapping ErrLimitExceeded when a
// limit stops the walk (parts visited so far have been visited). Malformed
// input is never an error: it is visited raw.
func (w *Walker) Walk(msg []byte, visit func(*Part) error) error {
	st := &walkState{
		lim:    w.Limits.withDefaults(),
		exp:    w.Expanders,
		visit:  visit,
		budget: &Budget{},
	}
	st.budget.left, st.budget.max = st.lim.MaxBytes, st.lim.MaxBytes
	h, body, err := readHeader(msg, st.lim.MaxHeaderBytes)
	if err != nil {
		return st.leaf(&Part{Path: "1", ContentType: "application/octet-stream", Data: msg, Raw: true, Note: "malformed header"})
	}
	return st.node(h, body, "", "1", 0)
}

type walkState struct {
	lim    Limits
	exp    []Expander
	visit  func(*Part) error
	budget *Budget
	parts  int
}

var errHeaderTooBig = errors.New("mime: header too big")

// readHeader splits data into its parsed header and the body that follows
// it, without copying the body.
func readHeader(data []byte, max int) (textproto.Header, []byte, error) {
	r := bytes.NewReader(data)
	lr := &io.LimitedReader{R: r, N: int64(max)}
	br := bufio.NewReader(lr)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return textproto.Header{}, nil, err
	}
	if lr.N == 0 && r.Len() > 0 {
		return textproto.Header{}, nil, errHeaderTooBig
	}
	consumed := len(data) - r.Len() - br.Buffered()
	if consumed < 0 || consumed > len(data) {
		return textproto.Header{}, nil, io.ErrUnexpectedEOF
	}
	return h, data[consumed:], nil
}

type partInfo struct {
	mediaType string
	params    map[string]string
	filename  string
	encoding  string
}

func info(th textproto.Header, defaultType string) partInfo {
	h := message.Header{Header: th}
	pi := partInfo{mediaType: defaultType, encoding: strings.ToLower(strings.TrimSpace(th.Get("Content-Transfer-Encoding")))}
	if raw := th.Get("Content-Type"); strings.TrimSpace(raw) != "" {
		mt, params, err := h.ContentType()
		if err != nil || mt == "" {
			// Keep what can be read of a broken header: the media type
			// before the first ';' and any boundary the stdlib can find.
			mt = strings.ToLower(strings.TrimSpace(strings.SplitN(raw, ";", 2)[0]))
			params = looseParams(raw)
		}
		if mt != "" {
			pi.mediaType, pi.params = mt, params
		}
	}
	if _, dp, err := h.ContentDisposition(); err == nil && dp["filename"] != "" {
		pi.filename = dp["filename"]
	} else if pi.params["name"] != "" {
		pi.filename = pi.params["name"]
		if dec, err := new(mime.WordDecoder).DecodeHeader(pi.filename); err == nil {
			pi.filename = dec
		}
	}
	return pi
}

// looseParams recovers key=value pairs from a Content-Type the strict
// parser refused (duplicate parameters, stray characters).
func looseParams(raw string) map[string]string {
	params := map[string]string{}
	for _, kv := range strings.Split(raw, ";")[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if _, dup := params[k]; !dup && k != "" {
			params[k] = v
		}
	}
	return params
}

func join(prefix string, n int) string {
	if prefix == "" {
		return strconv.Itoa(n)
	}
	return prefix + "." + strconv.Itoa(n)
}

// node handles one entity. leafPath is its path when it is a leaf; prefix
// is the path its children extend.
func (st *walkState) node(h textproto.Header, body []byte, prefix, leafPath string, depth int) error {
	return st.nodeWithDefault(h, body, prefix, leafPath, depth, "text/plain")
}

func (st *walkState) nodeWithDefault(h textproto.Header, body []byte, prefix, leafPath string, depth int, defaultType string) error {
	pi := info(h, defaultType)
	tooDeep := depth >= st.lim.MaxDepth
	switch {
	case strings.HasPrefix(pi.mediaType, "multipart/") && pi.params["boundary"] != "" && !tooDeep:
		return st.multipart(pi, body, prefix, depth)
	case isMessage(pi.mediaType) && !tooDeep:
		data, raw, note, err := st.decode(pi.encoding, body)
		if err != nil {
			return err
		}
		if raw {
			return st.leaf(&Part{Path: leafPath, ContentType: pi.mediaType, Filename: pi.filename, Encoding: pi.encoding, Data: data, Raw: true, Note: note, Depth: depth})
		}
		inner, innerBody, herr := readHeader(data, st.lim.MaxHeaderBytes)
		if herr != nil {
			return st.leaf(&Part{Path: leafPath, ContentType: pi.mediaType, Filename: pi.filename, Data: data, Raw: true, Note: "malformed embedded message header", Depth: depth})
		}
		// RFC 3501: the body of an embedded message is numbered below the
		// message part itself: "2.1" (single part) or "2.1", "2.2", ...
		return st.node(inner, innerBody, leafPath, join(leafPath, 1), depth+1)
	}
	p := &Part{Path: leafPath, ContentType: pi.mediaType, Filename: pi.filename, Encoding: pi.encoding, Depth: depth}
	if tooDeep && (strings.HasPrefix(pi.mediaType, "multipart/") || isMessage(pi.mediaType)) {
		p.Data, p.Raw, p.Note = body, true, "nesting too deep"
		return st.leaf(p)
	}
	if strings.HasPrefix(pi.mediaType, "multipart/") {
		p.Data, p.Raw, p.Note = body, true, "multipart without boundary"
		return st.leaf(p)
	}
	data, raw, note, err := st.decode(pi.encoding, body)
	if err != nil {
		return err
	}
	p.Data, p.Raw, p.Note = data, raw, note
	return st.leaf(p)
}

func isMessage(mt string) bool {
	return mt == "message/rfc822" || mt == "message/global"
}

// multipart splits body on boundary. Children that parse are walked; when
// the structure is broken (no boundary found, part truncated, bad part
// header) the whole body is also scanned raw so that nothing the parser
// could not attribute escapes the engines.
func (st *walkState) multipart(pi partInfo, body []byte, prefix string, depth int) error {
	childDefault := "text/plain"
	if pi.mediaType == "multipart/digest" {
		childDefault = "message/rfc822"
	}
	mr := textproto.NewMultipartReader(bytes.NewReader(body), pi.params["boundary"])
	n := 0
	broken := ""
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			broken = "malformed multipart: " + err.Error()
			break
		}
		n++
		raw, rerr := io.ReadAll(io.LimitReader(p, st.budget.Remaining()+1))
		if int64(len(raw)) > st.budget.Remaining() {
			return st.budget.Reserve(int64(len(raw)))
		}
		if err := st.budget.Reserve(int64(len(raw))); err != nil {
			return err
		}
		path := join(prefix, n)
		if err := st.nodeWithDefault(p.Header, raw, path, path, depth+1, childDefault); err != nil {
			return err
		}
		if rerr != nil {
			broken = "malformed multipart: " + rerr.Error()
			break
		}
	}
	if n == 0 && broken == "" {
		broken = "multipart without parts"
	}
	if broken != "" {
		path := prefix
		if path == "" {
			path = "0"
		}
		return st.leaf(&Part{Path: path, ContentType: pi.mediaType, Data: body, Raw: true, Note: broken, Depth: depth})
	}
	return nil
}

// decode returns body decoded from enc. Base64 and quoted-printable are
// decoded leniently (as mail clients do), so they never fail; an unknown
// encoding returns the body itself with raw set.
func (st *walkState) decode(enc string, body []byte) (data []byte, raw bool, note string, err error) {
	switch enc {
	case "", "7bit", "8bit", "binary", "x-uuencode", "x-uue", "uuencode":
		return body, false, "", nil
	case "base64":
		if err := st.budget.Reserve(int64(len(body)) * 3 / 4); err != nil {
			return nil, false, "", err
		}
		return DecodeBase64(body), false, "", nil
	case "quoted-printable":
		if err := st.budget.Reserve(int64(len(body))); err != nil {
			return nil, false, "", err
		}
		return DecodeQuotedPrintable(body), false, "", nil
	default:
		return body, true, "unknown transfer encoding " + strconv.Quote(enc), nil
	}
}

// leaf hands p to the visitor and then to the expanders. The bytes of p
// were reserved when they were copied or decoded; the input message itself
// is not counted.
func (st *walkState) leaf(p *Part) error {
	st.parts++
	if st.parts > st.lim.MaxParts {
		return fmt.Errorf("%w: more than %d parts", ErrLimitExceeded, st.lim.MaxParts)
	}
	if err := st.visit(p); err != nil {
		return err
	}
	if p.Depth >= st.lim.MaxDepth {
		return nil
	}
	for _, e := range st.exp {
		err := e.Expand(p, st.budget, func(m *Part) error {
			m.Path = p.Path + "/" + m.Path
			m.Depth = p.Depth + 1
			return st.leaf(m)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
