// Package e2e holds the whole-cluster end-to-end tests of mxgate: the five
// service binaries are built once, started as child processes on loopback
// ports against real Redis and NATS, with the local mailbox server
// downstream, and driven over SMTP like an MX client would.
package e2e
