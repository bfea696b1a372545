package api

import (
	"context"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// FunctionReaper is the scheduled function that finds and ends what
// failures left behind (service.Reap).
const FunctionReaper = "reaper"

// ActionReap is the reaper's one action.
const ActionReap = "reap"

// Reaper is what the edge calls for the reaper.
type Reaper interface {
	Reap(ctx context.Context, opts service.ReapOptions) (*service.ReapReport, error)
}

// ReapInput is the reaper's input: the schedule sends {"action": "reap"};
// an operator may ask for a dry run, or a smaller budget.
type ReapInput struct {
	Step
	// DryRun reports what would be done, and does nothing.
	DryRun bool `json:"dryRun,omitempty"`
	// MaxActions bounds the changes of this run (default
	// service.DefaultReapActions); at least 1: a pointer, so that a 0
	// given is refused rather than taken for the default.
	MaxActions *int `json:"maxActions,omitempty"`
}

func (a *API) reaperActions() []action {
	return []action{
		step(FunctionReaper, ActionReap, func(ctx context.Context, in ReapInput) (*service.ReapReport, error) {
			opts := service.ReapOptions{DryRun: in.DryRun}
			if in.MaxActions != nil {
				if *in.MaxActions < 1 {
					return nil, sandstep.Invalid("maxActions", "must be at least 1, got %d (leave it out for %d; dryRun changes nothing)",
						*in.MaxActions, service.DefaultReapActions)
				}
				opts.MaxActions = *in.MaxActions
			}
			return a.svc.Reap(ctx, opts)
		}),
	}
}
