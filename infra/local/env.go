package local

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sandstep/sandstep/infra/samtemplate"
)

// LocalDaytonaKey is the API key the stack gives the local Daytona server
// and the functions when no real Daytona is configured. It is a dummy,
// not a secret.
const LocalDaytonaKey = "local-dev-key"

// LocalWebhookSecret is the GitHub webhook's secret in the local stack
// (GITHUB_WEBHOOK_SECRET); events/github-api.json is signed with it.
const LocalWebhookSecret = "local-webhook-secret"

// LocalGitHubAppKeyParameter is where the stack keeps the demo App's
// private key in its local SSM (GITHUB_APP_KEY_REF), outside the prefixes
// callers may name.
const LocalGitHubAppKeyParameter = "/sandstep-local/github-app-key"

// environment is the functions' environment, in layers: owned (the stack's
// endpoints) wins over user, which wins over base (the template's
// environment with the local settings on top).
type environment struct {
	base  map[string]string
	owned map[string]string
	user  func(string) string
	// notes are warnings about the user's environment, for the log.
	notes []string
}

// withoutGitHubApp unsets GITHUB_APP_ID and GITHUB_APP_KEY_REF, the
// user's too: the stack has no App's key for the functions (the demo App
// could not be made), and they run as a deployment without an App does.
func (e *environment) withoutGitHubApp() {
	e.owned["GITHUB_APP_ID"] = ""
	e.owned["GITHUB_APP_KEY_REF"] = ""
}

// Getenv returns the value the functions see for name.
func (e *environment) Getenv(name string) string {
	if v, ok := e.owned[name]; ok {
		return v
	}
	if v := e.user(name); v != "" {
		return v
	}
	return e.base[name]
}

// usesRealDaytona reports whether the user's environment names a real
// Daytona: a key, or a reference to one.
func usesRealDaytona(user func(string) string) bool {
	return user("DAYTONA_API_KEY") != "" || user("DAYTONA_API_KEY_REF") != ""
}

// endpoints are the URLs the stack serves, as the functions reach them.
type endpoints struct {
	dynamoDB string // http://127.0.0.1:8000
	aws      string // http://127.0.0.1:4566: SSM, Secrets Manager, S3
	daytona  string // http://127.0.0.1:3003/api; "" for a real Daytona
	// stepFunctions is http://127.0.0.1:8083, api the API's base URL.
	stepFunctions, api string
	// github is the GitHub stand-in, http://127.0.0.1:3005.
	github string
}

// newEnvironment builds the functions' environment as `sam local` builds
// it, later layers winning: the template's function environment (Globals
// merged, parameters at their defaults); the local settings
// (SANDSTEP_ENV=local, LOG_FORMAT=text, a dummy DAYTONA_API_KEY instead of
// DAYTONA_API_KEY_REF, dummy AWS credentials and region,
// AWS_EC2_METADATA_DISABLED=true); the user's environment, by the same
// names as in AWS. The endpoints belong to the stack: SANDSTEP_ENV is
// always local, DYNAMODB_ENDPOINT the embedded DynamoDB, the SDK's
// AWS_ENDPOINT_URL_SSM, _SECRETS_MANAGER and _S3 the local edge,
// GITHUB_API_URL the GitHub stand-in and, with the local Daytona server,
// DAYTONA_API_URL and DAYTONA_API_KEY the stack's. A
// DAYTONA_API_KEY (or _REF) of the user's selects a real Daytona instead.
func newEnvironment(tpl *samtemplate.Template, user func(string) string, ep endpoints) *environment {
	e := &environment{base: map[string]string{}, owned: map[string]string{}, user: user}

	// 1. The template's environment. One process serves every function,
	// so their variables are merged; the first function (by logical id)
	// wins a disagreement.
	from := map[string]string{}
	for _, f := range tpl.Functions() {
		for _, k := range slices.Sorted(maps.Keys(f.Environment)) {
			v := f.Environment[k]
			if prev, ok := e.base[k]; ok {
				if prev != v {
					e.notes = append(e.notes, fmt.Sprintf("%s differs between %s (%q, used) and %s (%q)", k, from[k], prev, f.LogicalID, v))
				}
				continue
			}
			e.base[k], from[k] = v, f.LogicalID
		}
	}
	// The template points at the key in SSM; locally the key is either the
	// user's (DAYTONA_API_KEY or DAYTONA_API_KEY_REF) or the local server's.
	delete(e.base, "DAYTONA_API_KEY_REF")
	// The webhook's secret and the repositories' document are in SSM in
	// AWS; locally the secret is the stack's own, and without a document
	// every repository is allowed. The user may name either.
	delete(e.base, "GITHUB_WEBHOOK_SECRET_REF")
	delete(e.base, "GITHUB_CONFIG_REF")
	if user("GITHUB_WEBHOOK_SECRET_REF") == "" {
		e.base["GITHUB_WEBHOOK_SECRET"] = LocalWebhookSecret
	}

	// 2. Local settings the user may override.
	maps.Copy(e.base, map[string]string{
		"LOG_FORMAT":                "text",
		"AWS_REGION":                DefaultRegion,
		"AWS_DEFAULT_REGION":        DefaultRegion,
		"AWS_ACCESS_KEY_ID":         "local",
		"AWS_SECRET_ACCESS_KEY":     "local",
		"AWS_EC2_METADATA_DISABLED": "true",
	})
	if e.base["TABLE_NAME"] == "" {
		e.base["TABLE_NAME"] = "SandboxTable"
	}
	// A Ref to the bucket reads as its logical id, which S3 would refuse.
	if b := e.base["TASK_BUCKET"]; b != "" {
		e.base["TASK_BUCKET"] = strings.ToLower(b)
	}

	// 3. What belongs to the stack.
	e.owned["SANDSTEP_ENV"] = "local"
	e.owned["DYNAMODB_ENDPOINT"] = ep.dynamoDB
	for _, v := range []string{"AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_S3"} {
		e.owned[v] = ep.aws
	}
	if ep.stepFunctions != "" {
		e.owned["AWS_ENDPOINT_URL_SFN"] = ep.stepFunctions
	}
	// A task's command nudges the local API: the sandboxes are processes
	// of this machine.
	if ep.api != "" {
		e.owned["API_URL"] = ep.api
	}
	// The task state machine as the local Step Functions API names it, in
	// the region the functions run in.
	if sms := tpl.StateMachines(); len(sms) == 1 && e.base["STATE_MACHINE_ARN"] != "" {
		e.owned["STATE_MACHINE_ARN"] = stateMachineARN(e.Getenv("AWS_REGION"), sms[0].Name)
	}
	// GitHub is always the local stand-in: the App it knows is the
	// stack's, and its repositories live in the data directory.
	if ep.github != "" {
		e.owned["GITHUB_API_URL"] = ep.github
		e.owned["GITHUB_APP_ID"] = strconv.Itoa(DemoGitHubAppID)
		e.owned["GITHUB_APP_KEY_REF"] = "ssm:" + LocalGitHubAppKeyParameter
		if v := user("GITHUB_API_URL"); v != "" && v != ep.github {
			e.notes = append(e.notes, fmt.Sprintf("GITHUB_API_URL=%q is ignored: the functions use the local GitHub stand-in at %s", v, ep.github))
		}
	}
	if v := user("SANDSTEP_ENV"); v != "" && v != "local" {
		e.notes = append(e.notes, fmt.Sprintf("SANDSTEP_ENV=%q is ignored: the local stack always runs with SANDSTEP_ENV=local", v))
	}
	if v := user("DYNAMODB_ENDPOINT"); v != "" && v != ep.dynamoDB {
		e.notes = append(e.notes, fmt.Sprintf("DYNAMODB_ENDPOINT=%q is ignored: the functions use the local stack's DynamoDB at %s", v, ep.dynamoDB))
	}
	if ep.daytona != "" {
		e.owned["DAYTONA_API_URL"] = ep.daytona
		e.owned["DAYTONA_API_KEY"] = LocalDaytonaKey
		e.owned["DAYTONA_API_KEY_REF"] = ""
		if v := user("DAYTONA_API_URL"); v != "" && v != ep.daytona {
			e.notes = append(e.notes, fmt.Sprintf("DAYTONA_API_URL=%q is ignored without DAYTONA_API_KEY: the local Daytona server at %s is used", v, ep.daytona))
		}
	}
	return e
}
