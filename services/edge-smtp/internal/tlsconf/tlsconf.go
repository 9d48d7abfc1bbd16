// Package tlsconf builds the TLS configuration of the inbound STARTTLS
// offer.
package tlsconf

import (
	"crypto/tls"
	"fmt"
)

// Server loads the PEM certificate chain and key and returns a server
// configuration that accepts TLS 1.2 and newer. Empty paths give nil: no
// STARTTLS is offered.
func Server(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load %s and %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}, nil
}
