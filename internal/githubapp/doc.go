// Package githubapp is sandstep's client of the GitHub REST API acting as a
// GitHub App: it signs the App's JWT, mints installation tokens scoped to
// one repository with exactly the permissions a step needs (and reuses an
// unexpired one of the same scope), and makes the few calls the issue flow
// needs: the App's installation on a repository, a collaborator's
// permission, the default branch, one issue comment edited as a task
// progresses, and the pull request. It speaks the REST API itself (nine
// calls; a generated client's tables would cost every function's cold
// start); errors are *sandstep.Error, classified once here, and
// never contain a token, the JWT or the key. No call is repeated: the
// callers (a state machine's Retry, the webhook's redelivery) decide, using
// the RetryAfter of ETRANSIENT.
package githubapp
