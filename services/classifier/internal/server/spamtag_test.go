package server

import (
	"testing"

	"github.com/mxgate/mxgate/services/classifier/internal/config"
	"github.com/mxgate/mxgate/services/classifier/internal/fpdb"
	defaultmodel "github.com/mxgate/mxgate/services/classifier/model"
)

// The service reads a message without the configured spam_tag: a tagged
// copy scores as the message did before it was tagged, and only that tag
// is removed.
func TestSpamTagConfigured(t *testing.T) {
	m, err := defaultmodel.Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.SpamTag = " [SPAM] "
	eng := NewEngine(cfg, fpdb.New(fpdb.DefaultOptions()), m, "test")
	msg := func(subject string) []byte {
		return []byte("From: sam@example.org\r\nTo: dave@example.com\r\nSubject: " + subject +
			"\r\nMessage-Id: <1@example.org>\r\n\r\nShall we meet at noon tomorrow at the usual place? Sam\r\n")
	}
	plain := eng.Classify(msg("lunch"), nil).Score
	if got := eng.Classify(msg("[SPAM] lunch"), nil).Score; got != plain {
		t.Errorf("tagged copy scores %v, the message %v", got, plain)
	}
	if got := eng.Classify(msg("*****SPAM***** lunch"), nil).Score; got == plain {
		t.Errorf("the default tag was removed although spam_tag is %q", cfg.SpamTag)
	}
}
