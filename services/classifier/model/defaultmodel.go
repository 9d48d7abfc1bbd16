// Package defaultmodel embeds the default classifier model, trained on the
// SpamAssassin public corpus (see docs/MODEL.md for how to rebuild it).
package defaultmodel

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/mxgate/mxgate/services/classifier/internal/model"
)

// FileName is the name of the embedded model file in this directory.
const FileName = "default.model"

//go:embed default.model
var data []byte

// Bytes returns the embedded model file (gzip'd model format of package model).
func Bytes() []byte { return data }

// Load returns a new copy of the default model, so that online learning on it
// never changes another user's copy.
func Load() (*model.Model, error) {
	m, err := model.Load(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("defaultmodel: %w", err)
	}
	return m, nil
}
