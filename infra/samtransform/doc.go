// Package samtransform holds transform.py, which translates template.yaml
// into plain CloudFormation with the SAM translator offline (`make
// validate` runs it and lints the result), and tests of what SAM generates
// from the template: what infra/samtemplate cannot see because SAM, not
// the template, writes it (aliases behind the API's integrations and the
// rules' targets, the machine's version and alias).
package samtransform
