# imckit: the two commands a user needs are `make book` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.imckit-installed
PROFILE ?= default

.PHONY: help env data run book smoke-book exercises publish test bench readme-bench clean

help:
	@echo "make book       create $(VENV), get the data, execute every notebook (PROFILE=$(PROFILE)), build _build/html"
	@echo "make exercises  the student and instructor notebooks of every chapter's exercises (otter-grader) in"
	@echo "                _build/exercises; CHECK=1 also grades both (solutions pass, unsolved questions fail)"
	@echo "make publish    make book + exercises, then commit _build/html (with the student notebooks) to the local"
	@echo "                gh-pages branch with ghp-import; PUSH=1 also pushes it"
	@echo "make test       run the test suite (executes every notebook under the smoke profile, builds the book)"
	@echo "make bench      run the benchmarks in benchmarks/ (alone on the machine), write benchmarks/out/results.json"
	@echo "                and rewrite the README's speed section from it"
	@echo "make readme-bench  only rewrite the README's speed section from benchmarks/out/results.json"
	@echo "make env        only create the virtual environment"
	@echo "make clean      remove executed notebooks, results and the built book (keeps caches and $(VENV))"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

env: $(STAMP)

# Fashion-MNIST from Debian's package when it is missing and we may install it; otherwise imckit's own
# error says where it looked and how to get the data.
data: env
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -z "$$IMCKIT_DATA" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && apt-get install -y -q dataset-fashion-mnist; fi
	$(BIN)/python -c "from imckit.core.data import load_dataset; d = load_dataset('fashion-mnist'); print('Fashion-MNIST:', d.source)"

run: data
	$(BIN)/python -m imckit.book run --profile $(PROFILE)

book: data
	$(BIN)/python -m imckit.book all --profile $(PROFILE)
	@echo "open _build/html/index.html"

smoke-book:
	$(MAKE) book PROFILE=smoke

exercises: $(if $(CHECK),data,env)  # grading runs the chapters: it needs the data
	$(BIN)/python -m imckit.book exercises $(if $(CHECK),--check)

publish: book exercises
	$(BIN)/python -m imckit.book publish $(if $(PUSH),--push)

test: data
	$(BIN)/python -m pytest -q -ra

# Timings need the machine to themselves: run `make bench` with nothing else running. After `make book`
# (default profile) the README's speed section also shows that run's chapter times.
bench: env
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/python benchmarks/update_readme.py

readme-bench: env
	$(BIN)/python benchmarks/update_readme.py

clean:
	rm -rf _build book/chapters results
