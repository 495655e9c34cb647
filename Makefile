# Thin wrappers around dev.py, which needs nothing but Python 3.11+.

# Set up and start the dashboard on the bundled sample.
demo:
	python3 dev.py demo

# Set up (with test tools and Chromium), lint, format-check and run every test.
test:
	python3 dev.py test

# ruff check and ruff format --check.
lint:
	python3 dev.py lint

# Apply ruff fixes and formatting.
fmt:
	python3 dev.py fmt

# Regenerate data/sample/ from the generator (the committed sample must equal this).
sample:
	.venv/bin/signalboard generate --out data/sample --applications 3000 --seed 7

.PHONY: demo test lint fmt sample
