// Package githubapp is sandstep's client of the GitHub REST API acting as a
// GitHub App: it signs the App's JWT, mints installation tokens scoped to
// one repository with exactly the permissions a step needs (and reuses an
// unexpired one of the same scope), and makes the few calls the issue flow
// needs: the App's installation on a repository, a collaborator's
// permission, the default branch, one issue comment edited as a task
// progresses, and the pull request. GitHub's types and calls are
// google/go-github's; errors are *sandstep.Error, classified once here, and
// never contain a token, the JWT or the key. No call is repeated: the
// callers (a state machine's Retry, the webhook's redelivery) decide, using
// the RetryAfter of ETRANSIENT.
package githubapp
