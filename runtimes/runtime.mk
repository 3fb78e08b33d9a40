# Build, deploy and test a runtime image and its examples; included by
# runtimes/<language>/Makefile, which sets RUNTIME (ruby, php, node) and SUFFIX.
ENGINE ?= podman
REGISTRY ?= registry.example
IMAGE ?= $(REGISTRY)/runtime-proxy-$(RUNTIME):0.1.0
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

.PHONY: build push deploy test get-$(RUNTIME)-verify post-$(RUNTIME)-verify get-$(RUNTIME)-deps-verify

# The proxy image first (from the top-level Dockerfile), then this runtime on it.
build:
	$(ENGINE) build -t runtime-proxy $(ROOT)
	$(ENGINE) build -t $(IMAGE) --build-arg PROXY_IMAGE=runtime-proxy .

push:
	$(ENGINE) push $(IMAGE)

# Deploys the three examples with the kubeless CLI (needs a cluster).
deploy:
	kubeless function deploy get-$(RUNTIME) --runtime $(RUNTIME) --from-file examples/helloget$(SUFFIX) --handler helloget.foo
	kubeless function deploy post-$(RUNTIME) --runtime $(RUNTIME) --from-file examples/hellopost$(SUFFIX) --handler hellopost.handler
	kubeless function deploy get-$(RUNTIME)-deps --runtime $(RUNTIME) --from-file examples/deps$(SUFFIX) --handler deps.handler

get-$(RUNTIME)-verify:
	kubeless function call get-$(RUNTIME) | grep -q 'hello world'

post-$(RUNTIME)-verify:
	kubeless function call post-$(RUNTIME) --data '{"it-s": "alive"}' | grep -q 'alive'

get-$(RUNTIME)-deps-verify:
	kubeless function call get-$(RUNTIME)-deps | grep -q 'deps:'

# Here, without a cluster: builds the images with podman and checks GET, POST,
# deps, a timeout and /metrics through a running container.
test:
	$(ROOT)/scripts/test-images $(RUNTIME)
