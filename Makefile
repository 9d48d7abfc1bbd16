# mxgate: inbound mail filtering gateway. `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

MODULES  := proto services/reputation services/policy services/antivirus services/classifier services/edge-smtp tools
SERVICES := reputation policy antivirus classifier edge-smtp
BIN      := $(CURDIR)/bin

# Pinned generator and tool versions. buf.gen.yaml pins the protoc plugins.
BUF  := go run github.com/bufbuild/buf/cmd/buf@v1.75.0
HELM_VERSION := v3.19.0
HELM := go run helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

TEST_FLAGS ?= -count=1
BENCH ?= .

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## build every binary into bin/
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do (cd services/$$s && go build -o $(BIN)/$$s ./cmd/$$s); done
	@cd tools && go build -o $(BIN)/ ./cmd/...

.PHONY: run
run: build ## start the whole cluster on loopback (SMTP on 127.0.0.1:2525); Ctrl-C stops it
	$(BIN)/mxgate-local -root $(CURDIR)

.PHONY: proto
proto: ## regenerate the Go code from proto/
	cd proto && $(BUF) lint && $(BUF) generate

.PHONY: proto-check
proto-check: ## fail when the committed generated code is stale
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	cp -r proto $$tmp/; \
	find $$tmp/proto -name '*.pb.go' -delete; \
	(cd $$tmp/proto && $(BUF) lint && $(BUF) generate); \
	diff -r proto $$tmp/proto >/dev/null || { echo "generated code in proto/ is stale: run 'make proto'"; exit 1; }; \
	echo "proto: generated code is up to date"

.PHONY: tidy
tidy: ## go mod tidy in every module
	@for m in $(MODULES); do (cd $$m && GOWORK=off go mod tidy); done

.PHONY: vet
vet: ## gofmt, go mod tidy and go vet every module, each built on its own (GOWORK=off)
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt needed"; exit 1; }
	@for m in $(MODULES); do (cd $$m && { GOWORK=off go mod tidy -diff >/dev/null || { echo "$$m: go.mod/go.sum not tidy: run 'make tidy'"; exit 1; }; } && GOWORK=off go build ./... && GOWORK=off go vet ./...) || exit 1; done

.PHONY: test
test: proto-check vet ## unit and end-to-end tests of every module, and the Helm chart check
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && GOWORK=off go test $(TEST_FLAGS) ./...) || exit 1; done
	@$(MAKE) --no-print-directory helm-check

.PHONY: helm-check
helm-check: ## helm lint --strict and helm template of deploy/k8s, with the default and the production values
	@if [ -f deploy/k8s/mxgate/Chart.yaml ]; then \
		for f in "" "-f deploy/k8s/values-production.yaml"; do \
			$(HELM) lint --strict --quiet deploy/k8s/mxgate $$f && \
			$(HELM) template mxgate deploy/k8s/mxgate $$f >/dev/null || exit 1; \
		done; echo "helm: chart ok"; \
	else echo "helm: no chart yet"; fi

CORPUS ?= ../shared/corpus/spamassassin

.PHONY: model
model: ## retrain the committed default classifier model from the corpus (byte for byte reproducible)
	go run ./services/classifier/cmd/classifier train --ham $(CORPUS)/ham --spam $(CORPUS)/spam -o services/classifier/model/default.model

SEEDS ?= 1

.PHONY: eval
eval: ## 10-fold cross-validation of the classifier on the corpus (SEEDS=1-8: eight fold assignments and the means)
	go run ./services/classifier/cmd/classifier eval --ham $(CORPUS)/ham --spam $(CORPUS)/spam --seeds $(SEEDS)

.PHONY: bench
bench: ## run the benchmarks of every module
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && GOWORK=off go test -run '^$$' -bench '$(BENCH)' -benchmem ./...) || exit 1; done

.PHONY: clean
clean: ## remove build outputs and local state (bin/, var/)
	rm -rf $(BIN) var
