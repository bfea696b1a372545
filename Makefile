# sandstep - see README.md. `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
PKGS := ./...

.PHONY: test
test:
	$(GO) test -count=1 $(PKGS)
