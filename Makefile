# The two commands of the README. Each creates .venv on a fresh machine (only python3 and make needed).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROFILE ?= cpu

.PHONY: reproduce test bench lab clean-results

# torch's x86_64 wheel is a CUDA build: the environment takes about 6 GB, so check the space before installing
NEED_GB := 8

$(STAMP): pyproject.toml requirements-torch.txt
	@free=$$(df -Pk . | awk 'NR == 2 {print int($$4 / 1048576)}'); \
	if [ "$$free" -lt $(NEED_GB) ]; then \
	  echo "make: the environment needs about $(NEED_GB) GB free in $$(pwd), found $$free GB; free some space and rerun" >&2; \
	  exit 1; fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-torch.txt -e '.[lab,test]'
	$(PY) -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

reproduce: $(STAMP)
	$(PY) -m kdlib reproduce --profile $(PROFILE) $(if $(WORKERS),--workers $(WORKERS))

# the tests run on every core (pytest-xdist); worksteal evens out the few long notebook tests
test: $(STAMP)
	$(PY) -m pytest -n auto --dist worksteal

bench: $(STAMP)
	$(PY) benchmarks/bench_train_loop.py
	$(PY) benchmarks/bench_store.py --workers 4 --runs 200

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-results:
	rm -rf results outputs
