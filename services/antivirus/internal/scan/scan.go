// Package scan runs every configured engine over every part of a message
// and turns the findings into one verdict: any infection rejects, an engine
// that could not scan applies its fail action, and only a message every
// engine scanned completely is accepted as clean.
package scan

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mxgate/mxgate/services/antivirus/internal/engine"
	"github.com/mxgate/mxgate/services/antivirus/internal/mime"
)

// Engine scans one decoded object. Scan returns an error when it could not
// decide (unreachable, timeout, object too large); it must honour ctx.
type Engine interface {
	Name() string
	Scan(ctx context.Context, data []byte) (engine.Finding, error)
}

// Checker is implemented by engines that can be probed for readiness.
type Checker interface {
	Check(ctx context.Context) error
}

// FailAction is what a message gets when an engine could not scan it, or
// when it exceeds the scan limits.
type FailAction string

// Fail actions.
const (
	// Tempfail answers 451 4.7.1: the sender retries later.
	Tempfail FailAction = "tempfail"
	// Reject answers 554 5.7.1 "unscannable content".
	Reject FailAction = "reject"
	// AcceptTag accepts the message with an X-Mxgate-Antivirus header
	// saying it was not scanned. Choose it only for optional engines.
	AcceptTag FailAction = "accept_tag"
)

// ErrFailAction reports an unknown fail action name.
var ErrFailAction = errors.New("scan: unknown fail action")

// ParseFailAction parses "tempfail", "reject" or "accept_tag".
func ParseFailAction(s string) (FailAction, error) {
	switch a := FailAction(s); a {
	case Tempfail, Reject, AcceptTag:
		return a, nil
	}
	return "", fmt.Errorf("%w %q (want tempfail, reject or accept_tag)", ErrFailAction, s)
}

// severity orders actions: the most severe one decides.
func (a FailAction) severity() int {
	switch a {
	case Reject:
		return 3
	case Tempfail:
		return 2
	case AcceptTag:
		return 1
	}
	return 2 // unknown behaves as tempfail: never accept by accident
}

// EngineSpec is one configured engine.
type EngineSpec struct {
	Engine Engine
	// FailAction applies when the engine cannot scan a part.
	FailAction FailAction
	// Timeout bounds the engine's work on one message (all its parts);
	// zero means no bound beyond the caller's context.
	Timeout time.Duration
}

// Scanner scans messages. It is safe for concurrent use.
type Scanner struct {
	Walker  *mime.Walker
	Engines []EngineSpec
	// LimitAction applies when a message exceeds the walker's limits.
	LimitAction FailAction
}

// Infection is one signature match.
type Infection struct {
	Part, Signature, Engine string
}

// PartResult describes one scanned part.
type PartResult struct {
	Path, ContentType, Filename string
	Size                        int64
	// Engines lists the engines that scanned the part to completion.
	Engines []string
	// Raw is set when the part was scanned undecoded; Note says why.
	Raw  bool
	Note string
}

// Failure is an engine that could not scan a part. After its first
// failure an engine is not run on the rest of the message.
type Failure struct {
	Engine string
	Part   string
	Action FailAction
	Err    error
}

// Report is the outcome of scanning one message.
type Report struct {
	Infections []Infection
	Parts      []PartResult
	Failures   []Failure
	// LimitErr is set when the message exceeded the scan limits; parts up
	// to that point were scanned.
	LimitErr error
}

// Scan walks msg and runs every engine over every part. It returns an error
// only when ctx ends; engine problems are recorded in the Report.
func (s *Scanner) Scan(ctx context.Context, msg []byte) (*Report, error) {
	rep := &Report{}
	ectx := make([]context.Context, len(s.Engines))
	failed := make([]bool, len(s.Engines))
	for i, sp := range s.Engines {
		ectx[i] = ctx
		if sp.Timeout > 0 {
			c, cancel := context.WithTimeout(ctx, sp.Timeout)
			defer cancel()
			ectx[i] = c
		}
	}
	type result struct {
		f   engine.Finding
		err error
		ran bool
	}
	results := make([]result, len(s.Engines))
	err := s.Walker.Walk(msg, func(p *mime.Part) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		clear(results)
		var wg sync.WaitGroup
		for i, sp := range s.Engines {
			if failed[i] {
				continue
			}
			results[i].ran = true
			run := func() { results[i].f, results[i].err = sp.Engine.Scan(ectx[i], p.Data) }
			if len(s.Engines) == 1 {
				run()
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); run() }()
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}
		pr := PartResult{Path: p.Path, ContentType: p.ContentType, Filename: p.Filename, Size: int64(len(p.Data)), Raw: p.Raw, Note: p.Note}
		for i, r := range results {
			if !r.ran {
				continue
			}
			name := s.Engines[i].Engine.Name()
			if r.err != nil {
				failed[i] = true
				rep.Failures = append(rep.Failures, Failure{Engine: name, Part: p.Path, Action: s.Engines[i].FailAction, Err: r.err})
				continue
			}
			pr.Engines = append(pr.Engines, name)
			if r.f.Infected {
				rep.Infections = append(rep.Infections, Infection{Part: p.Path, Signature: r.f.Signature, Engine: name})
			}
		}
		rep.Parts = append(rep.Parts, pr)
		return nil
	})
	switch {
	case err == nil:
	case errors.Is(err, mime.ErrLimitExceeded):
		rep.LimitErr = err
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		return nil, fmt.Errorf("scan: %w", err)
	}
	return rep, nil
}
