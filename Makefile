# Every target sets up .venv on first use; nothing else is needed.
#   make check [KATA=name] [IMPL=solutions|path] [SEED=n]   grade a kata
#   make test                                               run the self-tests
#   make bench                                              run the benchmarks

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KATA_CLI := $(VENV)/bin/kata
STAMP := $(VENV)/.installed

KATA ?=
IMPL ?=
SEED ?=
ARGS ?=
# Self-test workers; 2 matches the two cores CI has.
WORKERS ?= 2

check_args = $(KATA) $(if $(IMPL),--impl $(IMPL)) $(if $(SEED),--seed $(SEED)) $(ARGS)

.PHONY: setup check test bench list lint clean-venv $(CLI_TARGETS)

# Thin wrappers: `make hint KATA=lora` runs `kata hint lora`, and so on.
CLI_TARGETS := hint watch reset solution progress mock drill rag-eval react-demo \
	embedding-demo capstone capstone-rank-sweep

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

check: $(STAMP)
	@$(KATA_CLI) check $(check_args)

list: $(STAMP)
	@$(KATA_CLI) list

# pytest exits 5 when it collects no test; that is a failure here, never a pass.
test: $(STAMP)
	@$(PY) -m pytest tests -n $(WORKERS) -q -p no:cacheprovider $(ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; \
	exit $$status

bench: $(STAMP)
	@$(PY) -m bench $(ARGS)

lint: $(STAMP)
	@$(PY) -m ruff check checker solutions tests bench data/scripts || true

clean-venv:
	rm -rf $(VENV)

$(CLI_TARGETS): $(STAMP)
	@$(KATA_CLI) $@ $(KATA) $(if $(IMPL),--impl $(IMPL)) $(ARGS)
