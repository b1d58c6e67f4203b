# Masterclass Hub: one line per target; `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
PYTEST := $(BIN)/pytest

.PHONY: help install test test-fast tools lint format bench data clean up down
.PHONY: docker images base-image lock wheelhouse image-sizes

# Image tags (override on the command line: make images STUDENT_IMAGE=...).
STUDENT_IMAGE ?= masterclass/student:latest
HUB_IMAGE     ?= masterclass/hub:latest
PROXY_IMAGE   ?= masterclass/proxy:latest
export STUDENT_IMAGE HUB_IMAGE PROXY_IMAGE

help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: masterclass/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c requirements-dev.txt -e 'masterclass[dev]'
	touch $@

install: $(VENV)/.installed ## Create .venv with the package and everything the tests need.

# The organiser CLI alone (no TensorFlow, no test tools), pinned like the hub image.
ORGANISER_VENV ?= $(HOME)/.local/share/masterclass/cli
ORGANISER_BIN  ?= $(HOME)/.local/bin
.PHONY: organiser
organiser: ## Install the light organiser CLI (`masterclass class ...`) into ~/.local/bin.
	$(PYTHON) -m venv $(ORGANISER_VENV)
	$(ORGANISER_VENV)/bin/python -m pip install --quiet -c hub/requirements.txt './masterclass[organiser]'
	mkdir -p $(ORGANISER_BIN)
	ln -sf $(ORGANISER_VENV)/bin/masterclass $(ORGANISER_BIN)/masterclass
	@echo "Installed: $(ORGANISER_BIN)/masterclass ($$($(ORGANISER_BIN)/masterclass --version))"

test: install tools images base-image ## Run the whole suite: lint, unit tier, integration tier, swarm lab.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PYTEST) tests

test-swarm: install images base-image ## Run only the swarm tier (a 3-node Docker-in-Docker lab; part of make test).
	$(PYTEST) -m swarm tests

tools: ## Make sure Chromium and pdftoppm are there (as root, installs Debian's packages).
	.ci/ensure-tools

test-fast: install ## Run only the fast tier (no Docker).
	$(PYTEST) -m "not docker and not slow" tests

lint: install ## Check style with ruff.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Let ruff fix style.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Benchmark the student solution path (5 seeds, fresh process each).
	$(BIN)/python benchmarks/student_flow.py

data: install ## Fetch and prepare the OPAL event store into ./data/ (or MASTERCLASS_DATA_DIR).
	$(BIN)/masterclass data fetch --dest data/raw
	$(BIN)/masterclass data prepare data/raw --out data/store

clean: ## Remove the virtualenv and caches (keeps Docker state).
	rm -rf $(VENV) .pytest_cache .ruff_cache data

docker: ## Make sure a Docker engine answers (as root, installs Debian's engine if missing).
	.ci/ensure-docker

images: docker ## Build the student and hub images; prints their sizes and the build time.
	images/build.sh build

base-image: docker ## Bootstrap the local Debian base image (for machines without a registry).
	images/base/bootstrap.sh

lock: docker ## Re-pin images/student and hub requirements.txt in the images' own Python.
	images/build.sh lock

wheelhouse: ## Download all pinned wheels to build/wheelhouse (then: make images WHEELHOUSE=build/wheelhouse).
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --dest build/wheelhouse \
		--python-version 3.11 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
		--platform linux_x86_64 -r images/student/requirements.txt -r hub/requirements.txt \
		'setuptools>=77'

image-sizes: ## Print each image's size, uncompressed and as a gzip of `docker save`.
	@for image in $(STUDENT_IMAGE) $(HUB_IMAGE) $(PROXY_IMAGE); do \
		printf '%-32s %6s MB uncompressed  %6s MB gzip of docker save\n' "$$image" \
			"$$(( $$(docker image inspect -f '{{.Size}}' $$image) / 1000000 ))" \
			"$$(( $$(docker save $$image | gzip -6 | wc -c) / 1000000 ))"; \
	done

up: ## Start the class hub (images and a demo class if missing); prints URL and logins.
	hub/up.sh

down: ## Stop the class hub; keeps all data (homes, roster, hub state).
	hub/down.sh

.PHONY: worksheets
worksheets: install ## Build the worksheets: notebooks (de/en, nbgrader layout) and sheets as HTML + PDF.
	$(BIN)/python worksheets/build.py

.PHONY: swarm-lab swarm-lab-down test-swarm
swarm-lab: install ## A Docker Swarm (manager + 2 workers in containers) with the class; prints URL and logins.
	ANSIBLE_PLAYBOOK=$(BIN)/ansible-playbook $(BIN)/python hub/swarm_lab.py up

swarm-lab-down: ## Remove the swarm lab: every node container, network and volume.
	$(PYTHON) hub/swarm_lab.py down

.PHONY: bundle
bundle: docker ## One tarball for offline servers (images, compose, config, events): build/masterclass-bundle.tar.
	ansible/bundle.sh build/masterclass-bundle.tar
