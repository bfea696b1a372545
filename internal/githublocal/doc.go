// Package githublocal is a local stand-in for the part of GitHub sandstep
// uses: a GitHub App's installation tokens, a few REST endpoints
// (repositories, collaborator permission, issue comments, pull requests,
// branches) and the repositories themselves over git's smart HTTP, served
// by `git http-backend` over bare repositories on disk. It stands in for
// GitHub in tests (through httptest) and in `make local` (127.0.0.1:3005).
//
// It checks what GitHub checks for these calls: the App's RS256 JWT on
// the App endpoints (issuer, signature, iat and exp within GitHub's
// limits), and on every other request the installation token's expiry,
// repositories and permissions, answering GitHub's statuses and error
// bodies. Responses use the REST API's field names, so GitHub's clients
// (google/go-github, sandstep's internal/githubapp) work against it
// unchanged.
//
// Everything it holds (Apps, installations, repositories and their git
// data, issues, comments, pulls, tokens) lives under one directory and
// survives a restart. It is a development stand-in bound to loopback: no
// rate limits, no GraphQL, no web pages, no webhooks of its own (see
// SendWebhook to send one).
package githublocal
