package edge_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxgate/mxgate/services/edge-smtp/internal/config"
)

func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mx.test"},
		DNSNames: []string{"mx.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestInboundSTARTTLS(t *testing.T) {
	certFile, keyFile := writeCert(t)
	h := newHarness(t, func(c *config.Config, _ *harness) { c.TLSCert, c.TLSKey = certFile, keyFile })
	d := h.dial()
	d.read(220, "")
	if ehlo := d.cmd("EHLO client.example.net", 250, ""); !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("STARTTLS not offered:\n%s", ehlo)
	}
	d.cmd("STARTTLS", 220, "")
	tc := tls.Client(d.conn, &tls.Config{ServerName: "mx.test", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}) //nolint:gosec // test
	if err := tc.Handshake(); err == nil {
		t.Fatal("TLS 1.1 handshake accepted")
	}
	d.conn.Close()
	eventually(t, "lease release of the failed connection", func() bool { return h.rep.activeLeases() == 0 })

	d = h.dial()
	d.read(220, "")
	d.cmd("EHLO client.example.net", 250, "")
	d.cmd("STARTTLS", 220, "")
	tc = tls.Client(d.conn, &tls.Config{ServerName: "mx.test", InsecureSkipVerify: true}) //nolint:gosec // test
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d.conn, d.tp = tc, textproto.NewConn(tc)
	if ehlo := d.cmd("EHLO client.example.net", 250, ""); strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered again inside TLS")
	}
	if n := h.rep.activeLeases(); n != 1 {
		t.Errorf("active leases after STARTTLS = %d, want 1 (the connection keeps its lease)", n)
	}
	d.cmd("MAIL FROM:<sender@remote.example>", 250, "")
	d.cmd("RCPT TO:<alice@example.com>", 250, "")
	d.data(message("tls", "secret\r\n"), 250, "2.0.0")
	d.cmd("QUIT", 221, "")
	msgs := h.lmtp.messages()
	if len(msgs) != 1 || !strings.Contains(headerBlock(msgs[0].Data), " with ESMTPS id ") {
		t.Fatalf("Received does not say ESMTPS: %+v", msgs)
	}
	eventually(t, "lease release", func() bool { return h.rep.activeLeases() == 0 })
}
