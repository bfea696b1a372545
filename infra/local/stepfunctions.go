package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandstep/sandstep/infra/samtemplate"
	"github.com/sandstep/sandstep/internal/sfnlocal"
)

// stateMachineARN is a state machine's local ARN, as the template's
// !Sub of it reads with the local account and region.
func stateMachineARN(region, name string) string {
	return "arn:aws:states:" + region + ":" + AccountID + ":stateMachine:" + name
}

// functionRef reads a function's logical id from a substitution naming its
// ARN (Fn::GetAtt X.Arn) or its published version (Ref X.Version): locally
// a function has one version, its ARN.
func functionRef(v string) (string, bool) {
	inner, ok := strings.CutPrefix(v, "${")
	if !ok {
		return "", false
	}
	for _, suffix := range []string{".Arn}", ".Version}"} {
		if id, ok := strings.CutSuffix(inner, suffix); ok {
			return id, true
		}
	}
	return "", false
}

// stateMachineDefinitions reads the template's state machines with their
// substitutions applied: a function's ARN or version is its local ARN, everything else as the template resolves it.
func stateMachineDefinitions(tpl *samtemplate.Template, fns *functions, templatePath string, overrides map[string]string) (map[string]string, error) {
	defs := map[string]string{}
	for _, sm := range tpl.StateMachines() {
		if sm.Name == "" {
			return nil, fmt.Errorf("state machine %s has no Name; the local stack needs one to give it an ARN", sm.LogicalID)
		}
		path := filepath.Join(filepath.Dir(templatePath), sm.DefinitionURI)
		if o, ok := overrides[sm.LogicalID]; ok {
			path = o
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("state machine %s: %w", sm.LogicalID, err)
		}
		subs := map[string]string{}
		for k, v := range sm.Substitutions {
			if id, ok := functionRef(v); ok {
				f, ok := fns.byLogicalID(id)
				if !ok {
					return nil, fmt.Errorf("state machine %s: substitution %s names %s, which is not a served function", sm.LogicalID, k, id)
				}
				v = f.ARN
			}
			subs[k] = v
		}
		defs[sm.Name] = sfnlocal.Substitute(string(raw), subs)
	}
	return defs, nil
}

// startStepFunctions starts the Step Functions API with the template's
// state machines, calling the functions through the Lambda Invoke API as
// AWS does, and delivering every execution's end to the rules that listen
// for it. The state machines' executions live under the data directory;
// those a previous run left running are aborted, and their ends delivered.
func (s *Stack) startStepFunctions(ctx context.Context, tpl *samtemplate.Template, opts Options, rules *eventRules) error {
	defs, err := stateMachineDefinitions(tpl, s.fns, s.TemplatePath, opts.DefinitionOverrides)
	if err != nil {
		return err
	}
	runner := opts.StepFunctionsRunner
	if runner == "" {
		if runner, err = sfnlocal.FindRunnerDir(filepath.Dir(s.TemplatePath)); err != nil {
			return err
		}
	}
	region := s.fns.region
	srv, err := sfnlocal.New(sfnlocal.Options{
		Dir:                    filepath.Join(s.DataDir, "stepfunctions"),
		Region:                 region,
		AccountID:              AccountID,
		StateMachines:          defs,
		LambdaEndpoint:         s.LambdaURL,
		RunnerDir:              runner,
		Logger:                 s.log.With("component", "stepfunctions"),
		WaitOverrides:          opts.WaitOverrides,
		RetryIntervalOverrides: opts.RetryIntervalOverrides,
		OnStatusChange: func(ctx context.Context, c sfnlocal.StatusChange) {
			rules.deliver(ctx, sfnlocal.Envelope(c, region, AccountID))
		},
	})
	if err != nil {
		return fmt.Errorf("start the Step Functions API: %w", err)
	}
	s.stepFunctions = srv
	s.srvStepFunctions = s.serve(&s.lnStepFunctions, srv)
	for name := range defs {
		s.StateMachineARNs = append(s.StateMachineARNs, stateMachineARN(region, name))
	}
	return nil
}
