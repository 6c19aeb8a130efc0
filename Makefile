# The two commands of the README: `make demo` and `make test`. Run as root on Debian/Ubuntu.
# Everything else here is a step they use, or a tool for developers.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SYSTEM_PACKAGES := openssh-server python3-numpy cloud-init iproute2 git chromium chromium-driver

.PHONY: demo test test-node-pythons test-stress test-unit test-lab bench bench-scale soak lint system-deps venv lab-up provision lab-down clean

# System packages the lab and the nodes need (chromium and its driver: the browser tests). The lab hosts share this machine's /usr, so
# node_app runs on Debian's python3 + python3-numpy, like on an Ubuntu Pi.
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/fab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/fab

lab-up: system-deps venv
	$(BIN)/fab lab-up

# site.yml brings the lab up too (first play), then base, then node_app.
provision: system-deps venv
	$(BIN)/ansible-playbook site.yml

# The baseline against Cao's strategies 2 and 3 at 30 fps, then one page comparing them.
demo: provision
	$(BIN)/fab experiment --strategy=0 --rate=30 --duration=30 --warmup=5
	$(BIN)/fab experiment --strategy=2 --x=200 --rate=30 --duration=30 --warmup=5
	$(BIN)/fab experiment --strategy=3 --rate=30 --duration=30 --warmup=5
	$(BIN)/fab report --runs=$$(ls -td $${TESTBED_RESULTS_DIR:-.}/runs/2*/ | head -3 | xargs -n1 basename | tac | paste -sd,)
	@echo "open reports/index.html; the lab stays up for more runs (fab lab-down removes it)"

# The whole suite in two lanes at once, as the lab tests mostly wait on emulated time: the
# lab lane (one shared lab, its tests in order in one pytest process) prints as it goes; the
# other lane (node_app on the Pis' Pythons, then every test that needs no lab) is logged to
# .test-logs/other.log and printed when both are done. Either lane failing fails the target,
# and so does a lane in which pytest collected no tests (exit 5): that can never pass.
test: system-deps venv
	@mkdir -p .test-logs; \
	( $(MAKE) --no-print-directory test-node-pythons && \
	  $(BIN)/python -m pytest -m "not lab" $(PYTEST_ARGS) ) > .test-logs/other.log 2>&1 & other=$$!; \
	echo "test: lab lane here; the other lane runs meanwhile (pid $$other, .test-logs/other.log)"; \
	$(BIN)/python -m pytest -m lab $(PYTEST_ARGS); lab=$$?; \
	wait $$other; rest=$$?; \
	echo "==== the other lane: node_app on the Pis' Pythons, tests that need no lab ===="; \
	cat .test-logs/other.log; \
	echo "test: lab lane exit $$lab, other lane exit $$rest"; \
	if [ $$lab -eq 5 ] || [ $$rest -eq 5 ]; then echo "pytest collected no tests in a lane: failing"; exit 1; fi; \
	[ $$lab -eq 0 ] && [ $$rest -eq 0 ]

# Not in CI: the whole suite while a busy loop holds one of the two cores, as on a shared
# machine. A test that fails only here waits on the clock instead of on an event.
# The busy loop is bounded (timeout) and killed by its PID when the suite ends.
STRESS_MAX_S ?= 3600
test-stress: system-deps venv
	@timeout $(STRESS_MAX_S) $(PYTHON) -c 'while True: pass' & busy=$$!; \
	echo "test-stress: busy loop (pid $$busy) holds one core"; \
	$(MAKE) --no-print-directory test; rc=$$?; kill $$busy 2>/dev/null; exit $$rc

# node_app's own tests on a Pi's Python and numpy (noxfile.py, docs/testing.md): Ubuntu 22.04 =
# Python 3.10 + numpy 1.21.6, 24.04 = Python 3.12 + numpy 1.26.4. The interpreters are looked
# for in pyenv's versions, then on PATH; NODE_PYTHON_3_10=/path/python3.10 (and _3_12) name
# them. Both sessions run at once (their tests mostly wait on sockets), each logged to
# .nox/<session>.log and printed when both are done; nox keeps its virtualenvs in .nox/.
PYENV_ROOT ?= $(HOME)/.pyenv
node_python = $(firstword $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python$(1)) \
                          $(shell command -v python$(1) 2>/dev/null))
NODE_PYTHON_3_10 ?= $(call node_python,3.10)
NODE_PYTHON_3_12 ?= $(call node_python,3.12)
test-node-pythons: venv
	@missing=""; \
	[ -x "$(NODE_PYTHON_3_10)" ] || missing="$$missing 3.10"; \
	[ -x "$(NODE_PYTHON_3_12)" ] || missing="$$missing 3.12"; \
	if [ -n "$$missing" ]; then \
	  echo "test-node-pythons: Python$$missing not found (looked in $(PYENV_ROOT)/versions/*/bin and PATH)."; \
	  echo "  These are the Pis' Pythons (Ubuntu 22.04: 3.10, 24.04: 3.12). Get them with pyenv"; \
	  echo "  (https://github.com/pyenv/pyenv; pyenv install 3.10 3.12), or name existing ones:"; \
	  echo "  make test-node-pythons NODE_PYTHON_3_10=/path/to/python3.10 NODE_PYTHON_3_12=/path/to/python3.12"; \
	  exit 1; \
	fi
	@mkdir -p .nox; \
	export NODE_PYTHON_3_10="$(NODE_PYTHON_3_10)" NODE_PYTHON_3_12="$(NODE_PYTHON_3_12)"; \
	echo "test-node-pythons: node-3.10 ($$NODE_PYTHON_3_10) and node-3.12 ($$NODE_PYTHON_3_12)"; \
	$(BIN)/nox -s node-3.10 > .nox/node-3.10.log 2>&1 & p10=$$!; \
	$(BIN)/nox -s node-3.12 > .nox/node-3.12.log 2>&1 & p12=$$!; \
	wait $$p10; r10=$$?; wait $$p12; r12=$$?; \
	cat .nox/node-3.10.log .nox/node-3.12.log; \
	echo "test-node-pythons: node-3.10 exit $$r10, node-3.12 exit $$r12"; \
	[ $$r10 -eq 0 ] && [ $$r12 -eq 0 ]

test-unit: venv
	$(BIN)/python -m pytest -m "not lab" $(PYTEST_ARGS)

bench: system-deps venv
	$(BIN)/python -m bench.run

# Only the scale section of `make bench` (bench/scale.py, issue 17): labs of SCALE_PIS emulated
# Pi 3s one after the other, each up, run and down -> the `scale` section of bench/results.json,
# runs and logs under bench/scale-runs/. Needs the box to itself and no lab up.
SCALE_PIS ?= 6,12,24,48
bench-scale: system-deps venv
	$(BIN)/python -m bench.scale --pis=$(SCALE_PIS)

# Not in `make test` or CI: baseline at 80 % of capacity for SOAK_MINUTES (default 30) on the
# provisioned lab, node RSS sampled every 10 s -> bench/soak.json (growth < 10 %, 0 drops).
SOAK_MINUTES ?= 30
soak: venv
	$(BIN)/python -m bench.soak --minutes=$(SOAK_MINUTES)

# CI runs this before `make test` (.ci/run). `venv` installs '.[dev]': ruff, import-linter,
# ansible-lint. --offline: no galaxy installs or release checks; the roles use only
# ansible.builtin modules, which ansible-core brings.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ansible-lint --offline site.yml playbooks/

lab-down: venv
	$(BIN)/fab lab-down

clean: lab-down
	rm -rf runs reports/*.html results.sqlite bench/results.json bench/scale-runs
