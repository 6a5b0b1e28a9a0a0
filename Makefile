PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test test-fast lint bench bench-engine bench-accuracy clean

$(BIN)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(BIN)/.dev: requirements.txt requirements-dev.txt $(BIN)/.runtime
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

run: $(BIN)/.runtime  ## set up and start the dashboard on http://localhost:$(PORT)
	$(BIN)/streamlit run app.py --server.port $(PORT)

test: $(BIN)/.dev  ## set up and run the whole suite (unit, app, browser), in two processes
	$(BIN)/python -m pytest -n 2

test-fast: $(BIN)/.dev  ## unit and app tests only
	$(BIN)/python -m pytest -n 2 -m "not e2e"

lint: $(BIN)/.dev
	$(BIN)/ruff check .

bench: $(BIN)/.dev  ## performance benchmark, and 1 vs 2 Dask workers -> docs/benchmarks.md
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/cluster.py

bench-engine: $(BIN)/.dev  ## embedded job engine: worker vs local Dask cluster; trees on joblib's dask backend
	$(BIN)/python benchmarks/local_engine.py
	$(BIN)/python benchmarks/joblib_dask.py

bench-accuracy: $(BIN)/.dev  ## accuracy benchmark -> docs/benchmarks.md
	$(BIN)/python benchmarks/accuracy.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
